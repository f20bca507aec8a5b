// Tokenizer: encoding against reference ids produced by the Python sentencepiece/transformers tokenizer,
// decoding, byte pieces, UTF-8 validation and load errors.
#include "core/formats/error.h"
#include "core/formats/tokenizer.h"
#include "test_util.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using umt5::Tokenizer;

namespace {

std::vector<int> to_vector(const QList<int>& list) { return {list.begin(), list.end()}; }

QString ids_text(const std::vector<int>& ids) {
    QStringList parts;
    for (int id : ids) parts << QString::number(id);
    return parts.join(' ');
}

// The message of the umt5::Error that `action` throws; fails the test when it throws nothing.
template <typename Action>
std::string error_of(Action action) {
    try {
        action();
    } catch (const umt5::Error& error) {
        return error.what();
    }
    return "<no error thrown>";
}

}  // namespace

class TestTokenizer : public QObject {
    Q_OBJECT

private:
    Tokenizer tiny_;
    Tokenizer demo_;
    const Tokenizer& by_name(const QString& name) const { return name == "demo" ? demo_ : tiny_; }

private slots:
    void initTestCase() {
        tiny_ = Tokenizer::load(umt5test::tiny_a_dir() / "spiece.model");
        demo_ = Tokenizer::load(umt5test::demo_model_dir() / "spiece.model");
    }

    void vocabulary_data() {
        QTest::addColumn<QString>("model");
        QTest::addColumn<int>("pieces");
        QTest::newRow("tiny-a") << "tiny" << 3000;
        QTest::newRow("demo") << "demo" << 16000;
    }
    void vocabulary() {
        QFETCH(QString, model);
        QFETCH(int, pieces);
        const Tokenizer& tokenizer = by_name(model);
        QCOMPARE(tokenizer.piece_count(), pieces);
        QCOMPARE(tokenizer.eos_id(), 1);
        QCOMPARE(tokenizer.id_to_piece(0), std::string("<pad>"));
        QCOMPARE(tokenizer.id_to_piece(1), std::string("</s>"));
        QCOMPARE(tokenizer.id_to_piece(2), std::string("<unk>"));
        QCOMPARE(tokenizer.id_to_piece(pieces), std::string());
        QCOMPARE(tokenizer.id_to_piece(-1), std::string());
        // Byte fallback: ids 3..258 are <0x00>..<0xFF>.
        for (int byte = 0; byte < 256; ++byte) {
            QVERIFY(tokenizer.is_byte_piece(3 + byte));
            QCOMPARE(tokenizer.byte_value(3 + byte), byte);
        }
        QCOMPARE(tokenizer.id_to_piece(3 + 0xE3), std::string("<0xE3>"));
        for (int id : {0, 1, 2, 259, pieces - 1, pieces, -5}) {
            QVERIFY2(!tokenizer.is_byte_piece(id), qPrintable(QString::number(id)));
            QCOMPARE(tokenizer.byte_value(id), -1);
        }
        for (int id : {0, 1, -1, pieces, pieces + 100}) QVERIFY(tokenizer.is_silent(id));
        for (int id : {2, 3, 259, pieces - 1}) QVERIFY(!tokenizer.is_silent(id));
    }

    void referenceIds_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QList<int>>("expected");
        QFile file(QString::fromStdString((umt5test::tiny_a_dir() / "reference.json").string()));
        QVERIFY2(file.open(QIODevice::ReadOnly), qPrintable(file.fileName()));
        const QJsonObject root = QJsonDocument::fromJson(file.readAll()).object();
        const QJsonArray texts = root["texts"].toArray();
        const QJsonArray ids = root["input_ids"].toArray();
        QVERIFY(!texts.isEmpty());
        QCOMPARE(texts.size(), ids.size());
        for (qsizetype i = 0; i < texts.size(); ++i) {
            QList<int> expected;
            for (const QJsonValue& id : ids[i].toArray()) expected << id.toInt();
            QTest::newRow(qPrintable(QString("text %1").arg(i))) << texts[i].toString() << expected;
        }
    }
    void referenceIds() {
        QFETCH(QString, text);
        QFETCH(QList<int>, expected);
        std::vector<int> ids = tiny_.encode(text.toStdString());
        ids.push_back(tiny_.eos_id());
        QCOMPARE(ids_text(ids), ids_text(to_vector(expected)));
        // The ids with their eos decode back to the text.
        QCOMPARE(QString::fromStdString(tiny_.decode(ids)), text);
    }

    // Ids from the Python sentencepiece 0.1.97 binding on the demo model.
    void demoIds_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QList<int>>("expected");
        QTest::newRow("english") << "translate English to German: Open the file"
                                 << QList<int>{262, 261, 260, 285, 259, 3690, 270, 308};
        QTest::newRow("russian") << "Привет, мир!" << QList<int>{4605, 3782, 267, 263, 1319, 528, 589};
        QTest::newRow("emoji bytes") << "ファイルを開けません 🙂"
                                     << QList<int>{263, 6391, 15916, 6947, 3941, 263, 243, 162, 156, 133};
    }
    void demoIds() {
        QFETCH(QString, text);
        QFETCH(QList<int>, expected);
        QCOMPARE(ids_text(demo_.encode(text.toStdString())), ids_text(to_vector(expected)));
    }

    void roundTrip_data() {
        QTest::addColumn<QString>("model");
        QTest::addColumn<QString>("text");
        const char* texts[][2] = {
            {"english", "Open the file, please."},
            {"russian", "Привет, мир! Как дела?"},
            {"japanese+emoji", "ファイルを開けません 🙂"},
            {"arabic", "مرحبا بالعالم"},
            {"hindi", "नमस्ते दुनिया"},
            {"cjk+skin tone emoji", "日本語のテキスト🙂👍🏽 mixed"},
            {"single letter", "x"},
            {"empty", ""},
        };
        for (const char* model : {"tiny", "demo"})
            for (const auto& row : texts)
                QTest::newRow(qPrintable(QString("%1 %2").arg(model, row[0]))) << model << QString::fromUtf8(row[1]);
    }
    void roundTrip() {
        QFETCH(QString, model);
        QFETCH(QString, text);
        const Tokenizer& tokenizer = by_name(model);
        const std::vector<int> ids = tokenizer.encode(text.toStdString());
        QCOMPARE(ids.empty(), text.isEmpty());
        for (int id : ids) QVERIFY(id >= 0 && id < tokenizer.piece_count() && id != tokenizer.eos_id());
        QCOMPARE(QString::fromStdString(tokenizer.decode(ids)), text);
    }

    void normalization() {
        // Sentencepiece's normaliser turns tabs and newlines into single spaces; decode shows that.
        const std::vector<int> ids = tiny_.encode("Tab\tand newline\nhere");
        QCOMPARE(tiny_.decode(ids), std::string("Tab and newline here"));
    }

    void decodeSkipsSilentIds_data() {
        QTest::addColumn<QString>("model");
        QTest::newRow("tiny") << "tiny";
        QTest::newRow("demo") << "demo";
    }
    void decodeSkipsSilentIds() {
        QFETCH(QString, model);
        const Tokenizer& tokenizer = by_name(model);
        const int count = tokenizer.piece_count();
        const std::vector<int> ids = tokenizer.encode("Open the file 🙂");
        QCOMPARE(tokenizer.decode(ids), std::string("Open the file 🙂"));

        // umT5 pads its output vocabulary past the tokenizer; those ids, pad, eos and negatives say nothing.
        QCOMPARE(tokenizer.decode({count}), std::string());
        QCOMPARE(tokenizer.decode({count, count + 1, 256383, 0, 1, -1}), std::string());
        std::vector<int> noisy;
        for (int id : ids) {
            noisy.push_back(id);
            noisy.push_back(count + 7);
            noisy.push_back(0);
        }
        noisy.push_back(1);
        QCOMPARE(tokenizer.decode(noisy), std::string("Open the file 🙂"));
        // Unknown decodes as sentencepiece spells it.
        QCOMPARE(tokenizer.decode({2}), std::string(" \xE2\x81\x87 "));
    }

    void byteFallback() {
        // F0 9F 99 82 is U+1F642; the four byte pieces together decode to it, alone they are replacement characters.
        const std::vector<int> smile{3 + 0xF0, 3 + 0x9F, 3 + 0x99, 3 + 0x82};
        QCOMPARE(tiny_.decode(smile), std::string("\xF0\x9F\x99\x82"));
        QCOMPARE(tiny_.decode({3 + 0xF0, 3 + 0x9F}), std::string("\xEF\xBF\xBD\xEF\xBF\xBD"));
        // A silent id between the bytes does not split the character.
        QCOMPARE(tiny_.decode({3 + 0xF0, 3000, 3 + 0x9F, 0, 3 + 0x99, 3 + 0x82}), std::string("\xF0\x9F\x99\x82"));
    }

    void validUtf8_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<int>("error_offset");  // -1 when valid
        QTest::newRow("empty") << QByteArray() << -1;
        QTest::newRow("ascii") << QByteArray("hello") << -1;
        QTest::newRow("nul") << QByteArray("a\0b", 3) << -1;
        QTest::newRow("2-byte") << QByteArray("\xC3\xA9") << -1;
        QTest::newRow("3-byte") << QByteArray("\xE2\x82\xAC") << -1;
        QTest::newRow("4-byte") << QByteArray("\xF0\x9F\x99\x82") << -1;
        QTest::newRow("U+D7FF") << QByteArray("\xED\x9F\xBF") << -1;
        QTest::newRow("U+E000") << QByteArray("\xEE\x80\x80") << -1;
        QTest::newRow("U+10FFFF") << QByteArray("\xF4\x8F\xBF\xBF") << -1;
        QTest::newRow("lone continuation") << QByteArray("a\x80") << 1;
        QTest::newRow("0xFF") << QByteArray("ab\xFF") << 2;
        QTest::newRow("truncated 2-byte") << QByteArray("\xC3") << 0;
        QTest::newRow("truncated 4-byte") << QByteArray("ok\xF0\x9F\x99") << 2;
        QTest::newRow("bad continuation") << QByteArray("\xE2\x28\xA1") << 0;
        QTest::newRow("overlong C0") << QByteArray("\xC0\xAF") << 0;
        QTest::newRow("overlong C1") << QByteArray("\xC1\xBF") << 0;
        QTest::newRow("overlong 3-byte") << QByteArray("x\xE0\x80\xAF") << 1;
        QTest::newRow("overlong 4-byte") << QByteArray("\xF0\x8F\xBF\xBF") << 0;
        QTest::newRow("surrogate D800") << QByteArray("\xED\xA0\x80") << 0;
        QTest::newRow("surrogate DFFF") << QByteArray("\xED\xBF\xBF") << 0;
        QTest::newRow("past U+10FFFF") << QByteArray("\xF4\x90\x80\x80") << 0;
        QTest::newRow("F5 lead") << QByteArray("\xF5\x80\x80\x80") << 0;
        QTest::newRow("valid then invalid") << QByteArray("\xC3\xA9\xE2\x82") << 2;
    }
    void validUtf8() {
        QFETCH(QByteArray, bytes);
        QFETCH(int, error_offset);
        const std::string text = bytes.toStdString();
        QCOMPARE(umt5::is_valid_utf8(text), error_offset < 0);
        const size_t offset = umt5::utf8_error_offset(text);
        QCOMPARE(offset == std::string::npos ? -1 : int(offset), error_offset);
        // Qt's own validator agrees.
        QCOMPARE(QUtf8StringView(bytes).isValidUtf8(), error_offset < 0);
        if (error_offset >= 0) {
            const std::string message = error_of([&] { tiny_.encode(text); });
            QCOMPARE(message, "prompt is not valid UTF-8 (byte " + std::to_string(error_offset) + ")");
        }
    }

    void loadErrors_data() {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("message");  // after "FILE: "
        // Files that are not there or not regular files are refused when opened, before sentencepiece sees them.
        QTest::newRow("missing") << "missing" << "cannot open the sentencepiece model (no such file)";
        QTest::newRow("directory") << "directory" << "the sentencepiece model is a directory, not a regular file";
        QTest::newRow("empty") << "empty" << "cannot load the sentencepiece model (the file is empty)";
        QTest::newRow("garbage") << "garbage" << "cannot load the sentencepiece model (not a sentencepiece model file)";
        QTest::newRow("json") << "json" << "cannot load the sentencepiece model (not a sentencepiece model file)";
        QTest::newRow("truncated model") << "truncated"
                                         << "cannot load the sentencepiece model (not a sentencepiece model file)";
    }
    void loadErrors() {
        QFETCH(QString, kind);
        QFETCH(QString, message);
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        std::filesystem::path file = std::filesystem::path(dir.path().toStdString()) / "spiece.model";
        if (kind == "directory") {
            std::filesystem::create_directory(file);
        } else if (kind == "empty") {
            std::ofstream{file};
        } else if (kind == "garbage") {
            std::ofstream{file, std::ios::binary} << "\xFF\xFF\xFF garbage that protobuf cannot parse\n";
        } else if (kind == "json") {
            file = umt5test::tiny_a_dir() / "config.json";
        } else if (kind == "truncated") {
            std::ifstream in(umt5test::tiny_a_dir() / "spiece.model", std::ios::binary);
            std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
            QVERIFY(bytes.size() > 1000);
            std::ofstream{file, std::ios::binary} << bytes.substr(0, bytes.size() / 2);
        }
        const std::string error = error_of([&] { Tokenizer::load(file); });
        QCOMPARE(error, file.string() + ": " + message.toStdString());
    }

    void movedTokenizer() {
        Tokenizer moved = Tokenizer::load(umt5test::tiny_a_dir() / "spiece.model");
        Tokenizer other = std::move(moved);
        QCOMPARE(other.piece_count(), 3000);
        QCOMPARE(other.decode(other.encode("Open the file")), std::string("Open the file"));
    }
};

QTEST_APPLESS_MAIN(TestTokenizer)
#include "test_tokenizer.moc"
