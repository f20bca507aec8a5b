// `umt5 bench` as a user runs it: the built tool on the embedded demo model, its JSON parsed with QJsonDocument.
// No test asserts a timing.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QtTest>

#include "test_util.h"

namespace {

const QString kPrompt = "translate English to German: The file could not be opened.";

struct Output {
    int exit_code = -1;
    QByteArray out;
    QByteArray err;
};

Output run_cli(const QStringList& arguments) {
    QProcess process;
    process.start(umt5test::cli_path(), arguments);
    Output output;
    if (!process.waitForFinished(300000)) {
        process.kill();
        process.waitForFinished();
        return output;
    }
    output.exit_code = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    output.out = process.readAllStandardOutput();
    output.err = process.readAllStandardError();
    return output;
}

}  // namespace

class TestCliBench : public QObject {
    Q_OBJECT

private slots:
    void jsonOnDemoModel() {
        const Output run = run_cli({"bench", "--prompt", kPrompt, "--new-tokens", "8", "--repeat", "2",
                                    "--threads", "1", "--json"});
        QVERIFY2(run.exit_code == 0, run.err.constData());
        QJsonParseError error;
        const QJsonDocument document = QJsonDocument::fromJson(run.out, &error);
        QVERIFY2(error.error == QJsonParseError::NoError, qPrintable(error.errorString()));
        QVERIFY(document.isObject());
        const QJsonObject o = document.object();

        QCOMPARE(o.value("model").toString(), QString("demo-umt5"));
        QCOMPARE(o.value("new_tokens").toInt(), 8);
        QCOMPARE(o.value("repeat").toInt(), 2);
        QCOMPARE(o.value("threads").toInt(), 1);
        QVERIFY(o.value("prompt_tokens").toInt() > 1);
        QVERIFY(o.value("speedup").toDouble() > 0);
        QVERIFY(o.value("identical").isBool());
        QVERIFY(o.value("identical").toBool());

        for (const char* name : {"cache_on", "cache_off"}) {
            QVERIFY2(o.value(name).isObject(), name);
            const QJsonObject mode = o.value(name).toObject();
            for (const char* field : {"tokens_per_s", "ms_per_token_median", "first_token_ms", "total_ms"}) {
                QVERIFY2(mode.value(field).isDouble(), field);
                QVERIFY2(mode.value(field).toDouble() > 0, field);
            }
            const QJsonArray per_position = mode.value("per_position_ms").toArray();
            QCOMPARE(per_position.size(), 8);
            for (const QJsonValue& ms : per_position) QVERIFY(ms.toDouble() > 0);
            const QJsonArray ids = mode.value("output_ids").toArray();
            QCOMPARE(ids.size(), 8);
            for (const QJsonValue& id : ids) QVERIFY(id.isDouble() && id.toInt() >= 0);
            QCOMPARE(mode.value("runs").toInt(), 2);
        }
        QCOMPARE(o.value("cache_on").toObject().value("output_ids"), o.value("cache_off").toObject().value("output_ids"));
    }

    void tableByDefault() {
        const Output run = run_cli({"bench", "--prompt", kPrompt, "--new-tokens", "3", "--threads", "1"});
        QVERIFY2(run.exit_code == 0, run.err.constData());
        const QString text = QString::fromUtf8(run.out);
        QVERIFY2(text.contains("cache on") && text.contains("cache off"), qPrintable(text));
        QVERIFY2(text.contains("tokens/s"), qPrintable(text));
        QVERIFY2(text.contains("outputs identical: yes"), qPrintable(text));
    }

    void rejectsBadArguments() {
        QVERIFY(run_cli({"bench", "--prompt", kPrompt, "--new-tokens", "0"}).exit_code != 0);
        QVERIFY(run_cli({"bench", "--new-tokens", "4"}).exit_code != 0);  // --prompt is required
        QVERIFY(run_cli({"bench", "--prompt", kPrompt}).exit_code != 0);  // --new-tokens is required
        const Output missing = run_cli({"bench", "--model", "/nonexistent", "--prompt", kPrompt, "--new-tokens", "2"});
        QCOMPARE(missing.exit_code, 1);
        QVERIFY(missing.err.contains("not a model directory"));
    }
};

QTEST_GUILESS_MAIN(TestCliBench)
#include "test_cli_bench.moc"
