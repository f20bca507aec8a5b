// Crash safety of atomic writes: a helper process rewriting a large safetensors file (write_safetensors) or a large
// session (Conversation::save) is killed with SIGKILL at varied moments, mid-write. Afterwards the target must be a
// complete earlier generation, parseable in full; leftover temporary files may exist but never replace the target,
// and a model directory with one still loads its real weights.
#include <QElapsedTimer>
#include <QProcess>
#include <QThread>
#include <QTemporaryDir>
#include <QtTest>

#include <signal.h>

#include <memory>
#include <set>

#include "core/formats/checkpoint.h"
#include "core/chat/conversation.h"
#include "test_util.h"

using namespace umt5;
namespace fs = std::filesystem;

class TestCrashSafety : public QObject {
    Q_OBJECT

private slots:
    void killedWriterLeavesPreviousFile_data();
    void killedWriterLeavesPreviousFile();
    void someKillsLandedMidWrite();
    void concurrentWritersEachAddTheirTurn();

private:
    std::map<QString, int> killed_mid_write_;
    QTemporaryDir temp_;
};

void TestCrashSafety::killedWriterLeavesPreviousFile_data() {
    QTest::addColumn<QString>("mode");
    QTest::addColumn<int>("delayMs");  // how long after a write's temporary file appears the writer dies
    for (int delay : {0, 1, 3, 8, 20}) {
        QTest::addRow("tensors, kill after %d ms", delay) << "tensors" << delay;
        QTest::addRow("session, kill after %d ms", delay) << "session" << delay;
    }
}

void TestCrashSafety::killedWriterLeavesPreviousFile() {
    QFETCH(QString, mode);
    QFETCH(int, delayMs);
    const fs::path dir = fs::path(temp_.path().toStdString()) / (mode.toStdString() + std::to_string(delayMs));
    fs::create_directories(dir);
    const fs::path target = dir / (mode == "tensors" ? "model.safetensors" : "chat.umt5session");

    QProcess writer;
    writer.start(QString::fromUtf8(UMT5_WRITE_LOOP_PATH),
                 {mode, QString::fromStdString(target.string()), QStringLiteral("24")});
    QVERIFY2(writer.waitForStarted(), qPrintable(writer.errorString()));
    // Wait for the first complete generation, then for the next write's temporary file, and kill the writer
    // `delayMs` into that write.
    QElapsedTimer clock;
    clock.start();
    while (!writer.canReadLine() && clock.elapsed() < 60000) writer.waitForReadyRead(100);
    QVERIFY2(writer.canReadLine(), writer.readAllStandardError().constData());
    auto temp_file_exists = [&] {
        for (const auto& entry : fs::directory_iterator(dir))
            if (entry.path() != target) return true;
        return false;
    };
    while (!temp_file_exists() && clock.elapsed() < 60000) QThread::usleep(200);
    QTest::qSleep(delayMs);
    ::kill(static_cast<pid_t>(writer.processId()), SIGKILL);
    QVERIFY(writer.waitForFinished(10000));
    QCOMPARE(writer.exitStatus(), QProcess::CrashExit);
    int64_t last_reported = 0;
    for (const QByteArray& line : writer.readAllStandardOutput().split('\n'))
        if (line.startsWith("wrote ")) last_reported = line.mid(6).toLongLong();
    QVERIFY(last_reported >= 1);

    // The target is one complete generation, at least the last one reported (a later one may have been renamed
    // into place just before the kill).
    int64_t generation = 0;
    if (mode == "tensors") {
        const Checkpoint ck = Checkpoint::open_file(target);
        generation = std::stoll(ck.metadata().at("generation"));
        for (const char* name : {"a", "b"}) {
            const Tensor t = ck.get_f32(name);
            QCOMPARE(t.numel(), int64_t(24 << 20) / 8);
            const float* v = t.data<float>();
            for (int64_t i = 0; i < t.numel(); ++i)
                if (v[i] != float(1 + generation % 2)) QFAIL(qPrintable(QString("tensor %1 is mixed at %2").arg(name).arg(i)));
        }
    } else {
        const Conversation c = Conversation::load(target, nullptr);
        QVERIFY(c.title().rfind("generation ", 0) == 0);
        generation = std::stoll(c.title().substr(11));
        QCOMPARE(c.turns().size(), size_t(1));
        QCOMPARE(c.turns()[0].answer, std::string(size_t(24) << 20, static_cast<char>('a' + generation % 2)));
    }
    QVERIFY2(generation >= last_reported && generation <= last_reported + 1,
             qPrintable(QString("found generation %1, last reported %2").arg(generation).arg(last_reported)));

    // Leftovers are temporary files beside the target, never the target itself; the directory still loads.
    int leftovers = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.path() == target) continue;
        QVERIFY2(entry.path().filename().string().rfind(target.filename().string() + ".tmp-", 0) == 0,
                 entry.path().c_str());
        ++leftovers;
    }
    QVERIFY(leftovers <= 1);
    killed_mid_write_[mode] += leftovers;
    qInfo("generation %lld intact; %d temporary file(s) left by the killed write", static_cast<long long>(generation),
          leftovers);
    if (mode == "tensors") QCOMPARE(Checkpoint::open(dir).files(), std::vector<fs::path>{target});
}

// The kills above must really have interrupted writes (they leave the temporary file behind), or the test proved
// nothing.
void TestCrashSafety::someKillsLandedMidWrite() {
    QVERIFY(killed_mid_write_["tensors"] > 0);
    QVERIFY(killed_mid_write_["session"] > 0);
}

// Issue 16: 8 concurrent `umt5 generate --session` runs on one file kept 3 of the 10 turns, each run writing back
// its own copy over the others'. With the session lock they wait for each other and every turn is kept.
void TestCrashSafety::concurrentWritersEachAddTheirTurn() {
    const fs::path session = fs::path(temp_.path().toStdString()) / "shared.umt5session";
    const QString model = QString::fromStdString(umt5test::tiny_a_dir().string());
    std::set<std::string> prompts;
    std::vector<std::unique_ptr<QProcess>> runs;
    for (int i = 0; i < 8; ++i) {
        const std::string prompt = "turn number " + std::to_string(i);
        prompts.insert(prompt);
        auto& run = runs.emplace_back(std::make_unique<QProcess>());
        run->start(umt5test::cli_path(), {"generate", "--model", model, "--threads", "1", "--prompt",
                                          QString::fromStdString(prompt), "--max-new-tokens", "4", "--session",
                                          QString::fromStdString(session.string())});
    }
    int waited = 0;
    for (auto& run : runs) {
        QVERIFY(run->waitForFinished(300000));
        QCOMPARE(run->exitStatus(), QProcess::NormalExit);
        const QString err = QString::fromUtf8(run->readAllStandardError());
        QVERIFY2(run->exitCode() == 0, qPrintable(err));
        waited += err.contains("umt5: waiting for another program that is using") ? 1 : 0;
    }
    const Conversation c = Conversation::load(session, nullptr);
    std::set<std::string> saved;
    for (const Turn& turn : c.turns()) saved.insert(turn.prompt);
    QCOMPARE(c.turns().size(), size_t(8));
    QVERIFY(saved == prompts);
    QVERIFY(!fs::exists(session.string() + ".lock"));
    qInfo("%d of 8 runs waited for the lock", waited);
}

QTEST_GUILESS_MAIN(TestCrashSafety)
#include "test_crash_safety.moc"
