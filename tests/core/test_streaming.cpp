// StreamingDecoder: byte pieces are held back until their character is complete, and the increments always
// add up to what Tokenizer::decode gives for the whole sequence.
#include "core/formats/tokenizer.h"
#include "test_util.h"

#include <QtTest>

#include <random>

using umt5::StreamingDecoder;
using umt5::Tokenizer;

namespace {

constexpr int kFirstByteId = 3;  // <0x00> in both models
int byte_id(int byte) { return kFirstByteId + byte; }

const std::string kReplacement = "\xEF\xBF\xBD";

// UTF-8 encoding of a code point (the caller keeps it valid).
std::string encode_utf8(char32_t c) {
    std::string out;
    if (c < 0x80) {
        out += char(c);
    } else if (c < 0x800) {
        out += char(0xC0 | (c >> 6));
        out += char(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += char(0xE0 | (c >> 12));
        out += char(0x80 | ((c >> 6) & 0x3F));
        out += char(0x80 | (c & 0x3F));
    } else {
        out += char(0xF0 | (c >> 18));
        out += char(0x80 | ((c >> 12) & 0x3F));
        out += char(0x80 | ((c >> 6) & 0x3F));
        out += char(0x80 | (c & 0x3F));
    }
    return out;
}

}  // namespace

class TestStreaming : public QObject {
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

    // A prefix of ordinary pieces, then the bytes of one character: nothing of the character appears until its
    // last byte arrives, and then exactly the character appears.
    void heldBackUntilComplete_data() {
        QTest::addColumn<QString>("model");
        QTest::addColumn<QString>("prefix");
        QTest::addColumn<QString>("character");
        for (const char* model : {"tiny", "demo"}) {
            QTest::newRow(qPrintable(QString("%1 emoji").arg(model))) << model << "Open the file" << "🙂";
            QTest::newRow(qPrintable(QString("%1 cjk").arg(model))) << model << "ファイル" << "日";
            QTest::newRow(qPrintable(QString("%1 latin").arg(model))) << model << "caf" << "é";
            QTest::newRow(qPrintable(QString("%1 no prefix").arg(model))) << model << "" << "👍";
        }
    }
    void heldBackUntilComplete() {
        QFETCH(QString, model);
        QFETCH(QString, prefix);
        QFETCH(QString, character);
        const Tokenizer& tokenizer = by_name(model);
        StreamingDecoder decoder(tokenizer);
        std::string streamed;
        for (int id : tokenizer.encode(prefix.toStdString())) streamed += decoder.push(id);
        QCOMPARE(QString::fromStdString(streamed), prefix);

        const std::string bytes = character.toStdString();
        QVERIFY(bytes.size() >= 2);
        for (size_t i = 0; i + 1 < bytes.size(); ++i)
            QCOMPARE(decoder.push(byte_id(static_cast<unsigned char>(bytes[i]))), std::string());
        // Silent ids in between change nothing.
        QCOMPARE(decoder.push(tokenizer.piece_count() + 3), std::string());
        QCOMPARE(decoder.push(0), std::string());
        QCOMPARE(decoder.push(byte_id(static_cast<unsigned char>(bytes.back()))), bytes);
        QCOMPARE(decoder.flush(), std::string());
    }

    void incompleteAtEnd() {
        // An unfinished character comes out of flush() as the tokenizer decodes it: replacement characters.
        StreamingDecoder decoder(tiny_);
        QCOMPARE(decoder.push(byte_id(0xF0)), std::string());
        QCOMPARE(decoder.push(byte_id(0x9F)), std::string());
        QCOMPARE(decoder.flush(), kReplacement + kReplacement);
        QCOMPARE(tiny_.decode({byte_id(0xF0), byte_id(0x9F)}), kReplacement + kReplacement);
    }

    void brokenBytesAreNotHeldBack_data() {
        QTest::addColumn<QList<int>>("bytes");
        QTest::addColumn<int>("replacements");
        QTest::newRow("lone continuation") << QList<int>{0x80} << 1;
        QTest::newRow("invalid lead") << QList<int>{0xFF} << 1;
        QTest::newRow("overlong lead") << QList<int>{0xC0} << 1;
        QTest::newRow("surrogate start") << QList<int>{0xED, 0xA0} << 2;
        QTest::newRow("overlong 3-byte start") << QList<int>{0xE0, 0x80} << 2;
        QTest::newRow("past U+10FFFF") << QList<int>{0xF4, 0x90} << 2;
    }
    void brokenBytesAreNotHeldBack() {
        // Bytes that no continuation can turn into a character are emitted at once, as replacement characters.
        QFETCH(QList<int>, bytes);
        QFETCH(int, replacements);
        StreamingDecoder decoder(tiny_);
        std::string streamed;
        for (int byte : bytes) streamed += decoder.push(byte_id(byte));
        std::string expected;
        for (int i = 0; i < replacements; ++i) expected += kReplacement;
        QCOMPARE(streamed, expected);
        QCOMPARE(decoder.flush(), std::string());
    }

    void brokenCharacterThenNewOne() {
        // E3 starts a 3-byte character; C3 cannot continue it, so E3 is settled as a replacement character at
        // once while C3 waits for its own continuation.
        StreamingDecoder decoder(tiny_);
        QCOMPARE(decoder.push(byte_id(0xE3)), std::string());
        QCOMPARE(decoder.push(byte_id(0xC3)), kReplacement);
        QCOMPARE(decoder.push(byte_id(0xA9)), std::string("\xC3\xA9"));
        QCOMPARE(decoder.flush(), std::string());
    }

    void interruptedCharacter() {
        // A character cut short by an ordinary piece: its bytes become replacement characters, emitted with the piece.
        StreamingDecoder decoder(tiny_);
        const std::vector<int> word = tiny_.encode("file");
        QCOMPARE(decoder.push(byte_id(0xE6)), std::string());
        QCOMPARE(decoder.push(byte_id(0x97)), std::string());
        std::string streamed;
        for (int id : word) streamed += decoder.push(id);
        std::vector<int> all{byte_id(0xE6), byte_id(0x97)};
        all.insert(all.end(), word.begin(), word.end());
        QCOMPARE(streamed, tiny_.decode(all));
        QVERIFY(streamed.rfind(kReplacement + kReplacement, 0) == 0);
        QCOMPARE(decoder.flush(), std::string());
    }

    void resetAndFlushStartOver() {
        StreamingDecoder decoder(tiny_);
        const std::vector<int> ids = tiny_.encode("Open the file");
        std::string first;
        for (int id : ids) first += decoder.push(id);
        decoder.push(byte_id(0xE6));
        decoder.reset();
        std::string second;
        for (int id : ids) second += decoder.push(id);
        QCOMPARE(first, std::string("Open the file"));
        QCOMPARE(second, first);  // the leading space is dropped again, and the held byte is gone
        QCOMPARE(decoder.flush(), std::string());
        std::string third;
        for (int id : ids) third += decoder.push(id);
        QCOMPARE(third, first);
    }

    // Random sequences mixing ordinary pieces, loose byte pieces, whole characters spelled in bytes, silent ids
    // (pad, eos, unknown, past the vocabulary). Checks, for every sequence:
    //  - every increment is valid UTF-8;
    //  - increments + flush() == decode(all ids);
    //  - after an id that is not a byte piece, everything decodable so far has been emitted;
    //  - when the whole text has no replacement character, no increment had one either.
    void randomSequences_data() {
        QTest::addColumn<QString>("model");
        QTest::addColumn<quint64>("seed");
        for (const char* model : {"tiny", "demo"})
            for (quint64 seed : {1u, 2u, 3u})
                QTest::newRow(qPrintable(QString("%1 seed %2").arg(model).arg(seed))) << model << seed;
    }
    void randomSequences() {
        QFETCH(QString, model);
        QFETCH(quint64, seed);
        const Tokenizer& tokenizer = by_name(model);
        const int count = tokenizer.piece_count();
        std::mt19937_64 rng(seed);
        const auto uniform = [&rng](int low, int high) { return std::uniform_int_distribution<int>(low, high)(rng); };
        // Code points spread over the 1- to 4-byte ranges, avoiding surrogates.
        const auto random_character = [&]() -> char32_t {
            switch (uniform(0, 3)) {
            case 0: return char32_t(uniform(0x20, 0x7E));
            case 1: return char32_t(uniform(0x80, 0x7FF));
            case 2: return char32_t(uniform(0, 1) ? uniform(0x800, 0xD7FF) : uniform(0xE000, 0xFFFD));
            default: return char32_t(uniform(0x10000, 0x10FFFF));
            }
        };

        int sequences_with_held_bytes = 0;
        for (int sequence = 0; sequence < 400; ++sequence) {
            const bool well_formed_only = sequence % 2 == 0;  // half the sequences spell only whole characters
            std::vector<int> ids;
            const int parts = uniform(1, 25);
            for (int part = 0; part < parts; ++part) {
                const int kind = uniform(0, 9);
                if (kind <= 3) {
                    ids.push_back(uniform(259, count - 1));
                } else if (kind <= 6 || well_formed_only) {
                    for (char byte : encode_utf8(random_character()))
                        ids.push_back(byte_id(static_cast<unsigned char>(byte)));
                } else if (kind == 7) {
                    ids.push_back(byte_id(uniform(0, 255)));
                } else {
                    const int silent[] = {0, 1, count, count + uniform(1, 1000), 256383};
                    ids.push_back(silent[uniform(0, 4)]);
                }
                if (kind == 9 && !well_formed_only) ids.push_back(2);  // unknown: not silent, decodes as " ⁇ "
            }

            const std::string whole = tokenizer.decode(ids);
            StreamingDecoder decoder(tokenizer);
            std::string streamed;
            std::vector<int> so_far;
            bool held_something = false;
            for (int id : ids) {
                so_far.push_back(id);
                const std::string increment = decoder.push(id);
                QVERIFY2(umt5::is_valid_utf8(increment), qPrintable(QString("sequence %1").arg(sequence)));
                streamed += increment;
                if (tokenizer.is_silent(id)) continue;
                const std::string expected_so_far = tokenizer.decode(so_far);
                if (!tokenizer.is_byte_piece(id)) {
                    QCOMPARE(streamed, expected_so_far);
                } else if (streamed != expected_so_far) {
                    held_something = true;
                }
            }
            const std::string rest = decoder.flush();
            QVERIFY(umt5::is_valid_utf8(rest));
            QCOMPARE(streamed + rest, whole);
            if (whole.find(kReplacement) == std::string::npos)
                QVERIFY(streamed.find(kReplacement) == std::string::npos);
            if (well_formed_only) QCOMPARE(rest, std::string());  // every character finished
            sequences_with_held_bytes += held_something;
        }
        // The sequences did exercise holding back.
        QVERIFY(sequences_with_held_bytes > 50);
    }
};

QTEST_APPLESS_MAIN(TestStreaming)
#include "test_streaming.moc"
