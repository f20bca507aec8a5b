// The `umt5` command-line tool, run as a process: generate (text and JSON, cache on and off), sessions with
// continue, score, and one-line errors for bad input.
#include <QtTest>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>

#include <cmath>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/chat/conversation.h"
#include "core/formats/checkpoint.h"
#include "test_util.h"

namespace {


QJsonObject json_of(const umt5test::ToolRun& run) { return QJsonDocument::fromJson(run.out.toUtf8()).object(); }

QList<int> ids(const QJsonValue& value) {
    QList<int> out;
    for (const QJsonValue& v : value.toArray()) out.append(v.toInt());
    return out;
}

}  // namespace

class TestCli : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;

private slots:
    void initTestCase() { QVERIFY(dir_.isValid()); }

    void versionAndHelp() {
        const umt5test::ToolRun version = umt5test::run_tool({"--version"});
        QCOMPARE(version.exit_code, 0);
        QVERIFY(version.out.startsWith("umt5 "));
        const umt5test::ToolRun help = umt5test::run_tool({"--help"});
        QCOMPARE(help.exit_code, 0);
        for (const char* command : {"generate", "continue", "score"}) QVERIFY(help.out.contains(command));
    }

    void translatesWithTheEmbeddedModel_data() {
        QTest::addColumn<QString>("prompt");
        QTest::addColumn<QString>("expected");
        QTest::newRow("japanese") << "translate English to Japanese: File not found" << "ファイルが見つかりません";
        QTest::newRow("german") << "translate English to German: File not found" << "Datei nicht gefunden";
    }
    void translatesWithTheEmbeddedModel() {
        QFETCH(QString, prompt);
        QFETCH(QString, expected);
        const umt5test::ToolRun run = umt5test::run_tool({"generate", "--prompt", prompt});
        QCOMPARE(run.exit_code, 0);
        QCOMPARE(run.out.trimmed(), expected);
    }

    void jsonOutputWithAndWithoutCache() {
        const QStringList args{"generate", "--prompt", "translate English to French: Number of columns", "--json",
                               "--max-new-tokens", "12", "--ignore-eos",
                               "--stop-repeats", "0"};  // past eos the demo model repeats eos
        const QJsonObject on = json_of(umt5test::run_tool(args));
        const QJsonObject off = json_of(umt5test::run_tool(args + QStringList{"--no-cache"}));
        for (const QJsonObject& o : {on, off}) {
            for (const char* key : {"prompt_ids", "output_ids", "text", "cache", "stats"}) QVERIFY2(o.contains(key), key);
            const QJsonObject stats = o["stats"].toObject();
            for (const char* key : {"encode_ms", "first_token_ms", "decode_ms", "tokens", "tokens_per_s"})
                QVERIFY2(stats.contains(key), key);
            QCOMPARE(stats["tokens"].toInt(), 12);
            QVERIFY(stats["tokens_per_s"].toDouble() > 0);
            QVERIFY(stats["encode_ms"].toDouble() > 0);
            QCOMPARE(ids(o["prompt_ids"]).last(), 1);  // eos appended to the encoder input
        }
        QCOMPARE(on["cache"].toBool(), true);
        QCOMPARE(off["cache"].toBool(), false);
        QCOMPARE(ids(on["output_ids"]).size(), 12);
        QCOMPARE(ids(on["output_ids"]), ids(off["output_ids"]));
        QVERIFY(on["text"].toString().startsWith("Nombre de colonnes"));
    }

    void sessionContinueEqualsOneRun() {
        const QString session = dir_.filePath("cli.umt5session");
        const QString prompt = "translate English to Spanish: Save changes before closing?";
        const QJsonObject whole =
            json_of(umt5test::run_tool({"generate", "--prompt", prompt, "--json", "--max-new-tokens", "14", "--ignore-eos",
                                        "--stop-repeats", "0"}));
        const umt5test::ToolRun first = umt5test::run_tool({"generate", "--prompt", prompt, "--json", "--max-new-tokens", "6", "--ignore-eos", "--stop-repeats", "0",
                                "--session", session});
        QCOMPARE(first.exit_code, 0);
        QVERIFY(QFile::exists(session));
        const umt5test::ToolRun more = umt5test::run_tool({"continue", "--session", session, "--json", "--max-new-tokens", "8", "--ignore-eos",
                                                          "--stop-repeats", "0"});
        QCOMPARE(more.exit_code, 0);
        const QJsonObject continued = json_of(more);
        QCOMPARE(ids(continued["output_ids"]), ids(whole["output_ids"]));
        QCOMPARE(continued["stats"].toObject()["encoder_reused"].toBool(), true);
        QCOMPARE(continued["stats"].toObject()["encode_ms"].toDouble(), 0.0);
        QCOMPARE(continued["stats"].toObject()["tokens"].toInt(), 8);
    }

    void continueUsesTheSessionsModel() {
        // A session written with a model other than the embedded one: continue without --model must use it.
        const QString tiny = QString::fromStdString(umt5test::tiny_a_dir().string());
        const QString session = dir_.filePath("tiny.umt5session");
        const QString prompt = "Open the file";
        const QJsonObject whole = json_of(umt5test::run_tool(
            {"generate", "--model", tiny, "--prompt", prompt, "--json", "--max-new-tokens", "10", "--stop-repeats", "0"}));
        QCOMPARE(umt5test::run_tool({"generate", "--model", tiny, "--prompt", prompt, "--json", "--max-new-tokens",
                                     "4", "--session", session}).exit_code, 0);
        const umt5test::ToolRun more =
            umt5test::run_tool({"continue", "--session", session, "--json", "--max-new-tokens", "6", "--stop-repeats", "0"});
        QCOMPARE(more.exit_code, 0);
        QVERIFY2(more.err.isEmpty(), qPrintable(more.err));  // no "the saved cache belongs to model ..."
        const QJsonObject continued = json_of(more);
        QCOMPARE(ids(continued["output_ids"]), ids(whole["output_ids"]));
        QCOMPARE(continued["stats"].toObject()["encoder_reused"].toBool(), true);
    }

    void continueRefusesWithoutTheModel_data() {
        QTest::addColumn<QString>("how");
        QTest::addColumn<QString>("message");
        QTest::newRow("model moved away") << "moved" << "is not found; pass --model DIR";
        QTest::newRow("model not recorded") << "unrecorded" << "does not record which model wrote it; pass --model DIR";
    }
    void continueRefusesWithoutTheModel() {
        QFETCH(QString, how);
        QFETCH(QString, message);
        const QString session = dir_.filePath(how + ".umt5session");
        QTemporaryDir copy;
        QVERIFY(copy.isValid());
        const std::filesystem::path model = std::filesystem::path(copy.path().toStdString()) / "model";
        std::filesystem::copy(umt5test::tiny_a_dir(), model, std::filesystem::copy_options::recursive);
        QCOMPARE(umt5test::run_tool({"generate", "--model", QString::fromStdString(model.string()), "--prompt", "x",
                                     "--max-new-tokens", "3", "--session", session}).exit_code, 0);
        if (how == "moved") {
            std::filesystem::remove_all(model);
        } else {
            // A file from before sessions kept their model's directory.
            umt5::Conversation c = umt5::Conversation::load(session.toStdString(), nullptr);
            nlohmann::json j = nlohmann::json::parse(c.to_json());
            j.erase("model_path");
            umt5::Conversation::from_json(j.dump(), "old").save(session.toStdString(), nullptr, false);
        }
        const umt5test::ToolRun run = umt5test::run_tool({"continue", "--session", session});
        QCOMPARE(run.exit_code, 1);
        QVERIFY2(run.err.startsWith("umt5: error: " + session + ": "), qPrintable(run.err));
        QVERIFY2(run.err.contains(message), qPrintable(run.err));
        QCOMPARE(run.err.count('\n'), 1);
        QVERIFY(run.out.isEmpty());
    }

    // Translate prompts stop by default at 2x the input tokens + 10; --length-ratio and --length-offset change or
    // lift the limit; other prompts have none unless asked.
    void lengthLimit_data() {
        QTest::addColumn<QString>("prompt");
        QTest::addColumn<QStringList>("flags");
        QTest::addColumn<double>("ratio");
        QTest::addColumn<int>("offset");
        const QString translate = "translate English to French: Number of columns";
        QTest::newRow("translate default") << translate << QStringList{} << 2.0 << 10;
        QTest::newRow("translate 1x+2") << translate << QStringList{"--length-ratio", "1", "--length-offset", "2"}
                                        << 1.0 << 2;
        QTest::newRow("translate off") << translate << QStringList{"--length-ratio", "0"} << 0.0 << 0;
        QTest::newRow("other default") << "Number of columns" << QStringList{} << 0.0 << 0;
        QTest::newRow("other 0.5x+0") << "Number of columns" << QStringList{"--length-ratio", "0.5", "--length-offset", "0"}
                                      << 0.5 << 0;
    }
    void lengthLimit() {
        QFETCH(QString, prompt);
        QFETCH(QStringList, flags);
        QFETCH(double, ratio);
        QFETCH(int, offset);
        const umt5test::ToolRun run = umt5test::run_tool(QStringList{"generate", "--prompt", prompt, "--json",
                                                                     "--max-new-tokens", "60", "--ignore-eos",
                                                                     "--stop-repeats", "0"} + flags);
        QCOMPARE(run.exit_code, 0);
        const QJsonObject o = json_of(run);
        const int limit = ratio > 0 ? int(ratio * double(ids(o["prompt_ids"]).size())) + offset : 60;
        QVERIFY(limit < 60 || ratio == 0);
        QCOMPARE(ids(o["output_ids"]).size(), limit);
        QCOMPARE(o["finish"].toString(), ratio > 0 ? QString("input_length") : QString("length"));
    }

    // The demo model loops after its eos; --stop-repeats ends the answer there (on by default), 0 lets it run.
    void stopRepeats() {
        const QStringList args{"generate", "--prompt", "translate English to German: Open the file", "--json",
                               "--max-new-tokens", "96", "--ignore-eos", "--length-ratio", "0"};
        const QJsonObject guarded = json_of(umt5test::run_tool(args));
        const QJsonObject three = json_of(umt5test::run_tool(args + QStringList{"--stop-repeats", "3"}));
        const QJsonObject free = json_of(umt5test::run_tool(args + QStringList{"--stop-repeats", "0"}));
        QCOMPARE(guarded["finish"].toString(), QString("repetition"));
        QCOMPARE(three["finish"].toString(), QString("repetition"));
        QCOMPARE(free["finish"].toString(), QString("length"));
        QCOMPARE(ids(free["output_ids"]).size(), 96);
        QVERIFY(ids(three["output_ids"]).size() < ids(guarded["output_ids"]).size());
        QCOMPARE(ids(free["output_ids"]).mid(0, ids(guarded["output_ids"]).size()), ids(guarded["output_ids"]));
    }

    void scoreWritesReferenceLogits() {
        // tiny-a row 0: the reference's input ids and the first 5 greedy decoder inputs.
        const umt5::Checkpoint reference = umt5::Checkpoint::open_file(umt5test::tiny_a_dir() / "reference.safetensors");
        const umt5::Tensor input = reference.get("input_ids");
        const umt5::Tensor generated = reference.get("generated_ids");
        QStringList input_ids, decoder_ids;
        for (int i = 0; i < 10; ++i) input_ids << QString::number(input.data<int32_t>()[i]);
        for (int i = 0; i < 5; ++i) decoder_ids << QString::number(generated.data<int32_t>()[i]);
        const QString out = dir_.filePath("score.safetensors");
        const umt5test::ToolRun run = umt5test::run_tool({"score", "--model", QString::fromStdString(umt5test::tiny_a_dir().string()),
                              "--input-ids", input_ids.join(','), "--decoder-ids", decoder_ids.join(','), "--out", out});
        QCOMPARE(run.exit_code, 0);
        const umt5::Checkpoint scored = umt5::Checkpoint::open_file(out.toStdString());
        const umt5::Tensor logits = scored.get_f32("logits", {5, 3072});
        const umt5::Tensor hidden = scored.get_f32("encoder_hidden", {10, 64});
        const umt5::Tensor want_logits = reference.get_f32("greedy_logits");
        const umt5::Tensor want_hidden = reference.get_f32("encoder_hidden");
        for (int64_t i = 0; i < logits.numel(); ++i)
            QVERIFY(std::fabs(logits.data<float>()[i] - want_logits.data<float>()[i]) < 1e-4f);
        for (int64_t i = 0; i < hidden.numel(); ++i)
            QVERIFY(std::fabs(hidden.data<float>()[i] - want_hidden.data<float>()[i]) < 1e-4f);
    }

    void errorsAreOneLine_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("message");
        QTest::newRow("missing model") << QStringList{"generate", "--model", "/nonexistent/model", "--prompt", "x"}
                                       << "umt5: error: /nonexistent/model: not a model directory";
        QTest::newRow("empty prompt") << QStringList{"generate", "--prompt", "  "} << "umt5: error: the prompt is empty";
        QTest::newRow("bad temperature") << QStringList{"generate", "--prompt", "x", "--temperature", "-1"}
                                         << "umt5: error: ";
        QTest::newRow("bad ids") << QStringList{"score", "--input-ids", "5,x", "--decoder-ids", "0", "--out", "/tmp/x"}
                                 << "umt5: error: --input-ids: \"x\" is not a token id";
        QTest::newRow("one repeat") << QStringList{"generate", "--prompt", "x", "--stop-repeats", "1"}
                                    << "umt5: error: --stop-repeats must be 0 (never) or at least 2";
        QTest::newRow("negative ratio") << QStringList{"generate", "--prompt", "x", "--length-ratio", "-1"}
                                        << "umt5: error: --length-ratio";
        QTest::newRow("missing session") << QStringList{"continue", "--session", "/nonexistent.umt5session"}
                                         << "--session: File does not exist";
    }
    void errorsAreOneLine() {
        QFETCH(QStringList, args);
        QFETCH(QString, message);
        const umt5test::ToolRun run = umt5test::run_tool(args);
        QVERIFY(run.exit_code != 0);
        QVERIFY2(run.err.startsWith(message) || run.err.contains(message), qPrintable(run.err));
        QCOMPARE(run.err.trimmed().count('\n'), 0);
    }

    void invalidUtf8PromptIsRefused() {
        // QProcess would re-encode a QString argument as UTF-8, so pass the raw byte through the shell.
        QProcess process;
        process.start("/bin/sh", {"-c", "exec \"$0\" generate --prompt \"$(printf 'caf\\351')\"", umt5test::cli_path()});
        QVERIFY(process.waitForFinished(60000));
        QCOMPARE(process.exitCode(), 1);
        QCOMPARE(QString::fromUtf8(process.readAllStandardError()).trimmed(),
                 QStringLiteral("umt5: error: prompt is not valid UTF-8 (byte 3)"));
    }

    void longPromptIsRefusedClearly() {
        const QString prompt = QString("word ").repeated(20000);
        const umt5test::ToolRun run = umt5test::run_tool({"generate", "--prompt", prompt});
        QCOMPARE(run.exit_code, 1);
        QVERIFY2(run.err.contains("tokens long; the limit is 2048"), qPrintable(run.err));
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "test_cli.moc"
