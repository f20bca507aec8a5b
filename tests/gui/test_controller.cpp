// The Controller and its worker thread, driven through their public API with the tiny random model (which never
// emits eos, so generations run as long as asked) and the demo translation model.
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>

#include <memory>

#include <nlohmann/json.hpp>

#include "app/controller.h"
#include "core/chat/limits.h"
#include "core/formats/error.h"
#include "core/chat/generation.h"
#include "core/engine/model.h"
#include "core/chat/transcript.h"
#include "test_util.h"

using studio::Controller;
using studio::GenerationSettings;

namespace {

constexpr int kTimeoutMs = 60000;

QString tinyDir() { return QString::fromStdString(umt5test::tiny_a_dir().string()); }
QString demoDir() { return QString::fromStdString(umt5test::demo_model_dir().string()); }

GenerationSettings greedy(int maxNewTokens) {
    GenerationSettings s;
    s.maxNewTokens = maxNewTokens;
    s.threads = 2;
    return s;
}

// bf16 or int8, whichever runs on this CPU first; fp32 when neither does.
QString otherPrecision() {
    for (const QString& name : {QStringLiteral("bf16"), QStringLiteral("int8")})
        if (studio::precisionChoice(name).runs)
            return name;
    return QStringLiteral("fp32");
}

// Loads `dir` and waits for it.
bool loadAndWait(Controller& controller, const QString& dir) {
    QSignalSpy loaded(&controller, &Controller::modelLoaded);
    controller.loadModel(dir);
    return loaded.wait(kTimeoutMs) || loaded.count() == 1;
}

// Streamed tokens of one conversation, in arrival order.
struct Stream {
    QString text;
    QList<int> ids;
};

Stream streamOf(const QSignalSpy& spy, const QString& id) {
    Stream stream;
    for (const QList<QVariant>& args : spy) {
        if (args.at(0).toString() != id)
            continue;
        stream.text += args.at(1).toString();
        if (args.at(2).toInt() >= 0)  // -1: held-back text flushed after the last token
            stream.ids.append(args.at(2).toInt());
    }
    return stream;
}

QByteArray readAll(const QString& path) {
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

bool writeAll(const QString& path, const QByteArray& bytes) {
    QFile file(path);
    return file.open(QIODevice::WriteOnly) && file.write(bytes) == bytes.size();
}

// A conversation of one answered prompt; returns its id.
QString answeredConversation(Controller& controller, int maxNewTokens) {
    QSignalSpy finished(&controller, &Controller::generationFinished);
    const QString id = controller.newConversation();
    if (!controller.submit(id, QStringLiteral("Open the file"), greedy(maxNewTokens)) || !finished.wait(kTimeoutMs))
        return {};
    return id;
}

// Exports `id` and waits; returns the error message ("" on success).
QString exportAndWait(Controller& controller, const QString& id, const QString& format, const QString& path) {
    QSignalSpy done(&controller, &Controller::exportFinished);
    controller.exportConversation(id, format, path);
    if (!done.wait(kTimeoutMs))
        return QStringLiteral("timed out");
    if (done.at(0).at(0).toString() != path)
        return QStringLiteral("wrong path");
    return done.at(0).at(1).toString();
}

// What the engine says about a transcript it cannot import.
QString importError(const QByteArray& text, const QString& path) {
    try {
        umt5::import_json(text.toStdString(), path.toStdString());
    } catch (const umt5::Error& e) {
        return QString::fromUtf8(e.what());
    }
    return {};
}

}  // namespace

class TestController : public QObject {
    Q_OBJECT
private slots:
    void init();
    void cleanup();

    void loadFailureReportsMessage_data();
    void loadFailureReportsMessage();
    void stopCancelsLoading();
    void generationWithoutModelFails();
    void tokensStreamInOrder_data();
    void tokensStreamInOrder();
    void stopMidGeneration();
    void continueExtendsAnswer();
    void regenerateReplacesAnswer();
    void switchingConversationsKeepsStreamsApart();
    void deletingConversationStopsItsGeneration();
    void shutdownMidGeneration();
    void autosaveAndRestore();
    void settingsPersist();
    void precisionChangeReloadsModel();
    void titleFromFirstPrompt_data();
    void titleFromFirstPrompt();
    void exportWritesEveryFormat();
    void importAddsConversationThatContinues();
    void importRejectsBadTranscript_data();
    void importRejectsBadTranscript();

private:
    std::unique_ptr<QTemporaryDir> dataDir_;
};

void TestController::init() {
    dataDir_ = std::make_unique<QTemporaryDir>();
    QVERIFY(dataDir_->isValid());
}

void TestController::cleanup() { dataDir_.reset(); }

void TestController::loadFailureReportsMessage_data() {
    QTest::addColumn<QString>("dir");
    QTest::addColumn<QString>("expected");  // a part of the message
    QTest::newRow("missing directory") << QStringLiteral("/nonexistent/umt5-model") << QStringLiteral("umt5-model");
    QTest::newRow("no config.json") << QStringLiteral("EMPTY") << QStringLiteral("config.json");
}

void TestController::loadFailureReportsMessage() {
    QFETCH(QString, dir);
    QFETCH(QString, expected);
    QTemporaryDir empty;
    if (dir == QLatin1String("EMPTY"))
        dir = empty.path();
    Controller controller(dataDir_->path());
    QSignalSpy failed(&controller, &Controller::modelLoadFailed);
    controller.loadModel(dir);
    QVERIFY(controller.isLoading());
    QVERIFY(failed.wait(kTimeoutMs));
    const QString message = failed.at(0).at(1).toString();
    QVERIFY2(message.contains(expected), qPrintable(message));
    QVERIFY2(!message.contains(QLatin1Char('\n')), "engine messages are one line");
    QCOMPARE(failed.at(0).at(0).toString(), dir);
    QVERIFY(!controller.hasModel());
    QVERIFY(!controller.isLoading());
}

void TestController::stopCancelsLoading() {
    Controller controller(dataDir_->path());
    QSignalSpy failed(&controller, &Controller::modelLoadFailed);
    QSignalSpy loaded(&controller, &Controller::modelLoaded);
    controller.loadModel(demoDir());
    controller.stop();  // before the worker even starts: the engine sees the flag at once
    QVERIFY(failed.wait(kTimeoutMs));
    QVERIFY(failed.at(0).at(1).toString().contains(QLatin1String("cancelled")));
    QCOMPARE(loaded.count(), 0);
    QVERIFY(!controller.hasModel());
    // A later load is not affected by the earlier stop.
    QVERIFY(loadAndWait(controller, tinyDir()));
    QCOMPARE(controller.modelName(), QStringLiteral("umt5-tiny-a"));
}

void TestController::generationWithoutModelFails() {
    Controller controller(dataDir_->path());
    QSignalSpy failed(&controller, &Controller::generationFailed);
    QSignalSpy busy(&controller, &Controller::busyChanged);
    const QString id = controller.newConversation();
    QVERIFY(controller.submit(id, QStringLiteral("hello"), greedy(8)));
    QVERIFY(controller.isBusy());
    QCOMPARE(controller.conversation(id)->turns.size(), 1);  // shown at once
    QVERIFY(failed.wait(kTimeoutMs));
    QCOMPARE(failed.at(0).at(0).toString(), id);
    QVERIFY(failed.at(0).at(1).toString().contains(QLatin1String("model")));
    QCOMPARE(failed.at(0).at(2).toString(), QStringLiteral("hello"));  // offered back
    QCOMPARE(controller.conversation(id)->turns.size(), 0);            // an unanswered prompt leaves
    QVERIFY(!controller.isBusy());
    QCOMPARE(busy.count(), 2);
    // Nothing to continue or regenerate.
    QVERIFY(!controller.continueAnswer(id, greedy(8)));
    QVERIFY(!controller.regenerate(id, greedy(8)));
    QVERIFY(!controller.submit(id, QStringLiteral("   "), greedy(8)));
    QVERIFY(!controller.submit(QStringLiteral("no-such-id"), QStringLiteral("hi"), greedy(8)));
}

void TestController::tokensStreamInOrder_data() {
    QTest::addColumn<QString>("dir");
    QTest::addColumn<QString>("prompt");
    QTest::addColumn<int>("maxNewTokens");
    QTest::newRow("tiny") << tinyDir() << QStringLiteral("Привет, мир! Как дела?") << 24;
    QTest::newRow("demo german") << demoDir() << QStringLiteral("translate English to German: Open the file") << 48;
    QTest::newRow("demo japanese") << demoDir() << QStringLiteral("translate English to Japanese: File not found")
                                   << 48;
}

void TestController::tokensStreamInOrder() {
    QFETCH(QString, dir);
    QFETCH(QString, prompt);
    QFETCH(int, maxNewTokens);
    Controller controller(dataDir_->path());
    QVERIFY(loadAndWait(controller, dir));
    QSignalSpy tokens(&controller, &Controller::tokenGenerated);
    QSignalSpy started(&controller, &Controller::generationStarted);
    QSignalSpy finished(&controller, &Controller::generationFinished);
    const QString id = controller.newConversation();
    QVERIFY(controller.submit(id, prompt, greedy(maxNewTokens)));
    QVERIFY(finished.wait(kTimeoutMs));
    QCOMPARE(started.count(), 1);

    const QVariantMap stats = finished.at(0).at(1).toMap();
    const Stream stream = streamOf(tokens, id);
    const QString answer = stats.value(QStringLiteral("answer")).toString();
    QVERIFY(!answer.isEmpty());
    QCOMPARE(stream.text, answer);
    QCOMPARE(controller.conversation(id)->turns.last().answer, answer);
    QCOMPARE(controller.conversation(id)->turns.last().prompt, prompt);
    QCOMPARE(stream.ids.size(), stats.value(QStringLiteral("tokens")).toInt());

    // The same ids, in the same order, as the engine's one-shot generation.
    auto model = umt5::Model::load(dir.toStdString());
    umt5::GenerationOptions options;
    options.max_new_tokens = maxNewTokens;
    const umt5::GenerationResult reference = umt5::generate(*model, prompt.toStdString(), options);
    QCOMPARE(stream.ids, QList<int>(reference.output_ids.begin(), reference.output_ids.end()));
    QCOMPARE(answer, QString::fromStdString(reference.text));
}

void TestController::stopMidGeneration() {
    Controller controller(dataDir_->path());
    QVERIFY(loadAndWait(controller, tinyDir()));
    const QString id = controller.newConversation();
    int seen = 0;
    connect(&controller, &Controller::tokenGenerated, this, [&] {
        if (++seen == 5)
            controller.stop();
    });
    QSignalSpy finished(&controller, &Controller::generationFinished);
    constexpr int kMax = static_cast<int>(umt5::kMaxDecoderTokens);  // the longest answer allowed
    QVERIFY(controller.submit(id, QStringLiteral("stop me"), greedy(kMax)));
    QVERIFY(finished.wait(kTimeoutMs));
    const QVariantMap stats = finished.at(0).at(1).toMap();
    QCOMPARE(stats.value(QStringLiteral("finish")).toString(), QStringLiteral("stopped"));
    QVERIFY2(stats.value(QStringLiteral("tokens")).toInt() < kMax, "stop acts before the token limit");
    QVERIFY(stats.value(QStringLiteral("tokens")).toInt() >= 5);
    QCOMPARE(controller.conversation(id)->turns.last().finish, QStringLiteral("stopped"));
    QVERIFY(!controller.isBusy());
    QVERIFY(controller.runningConversation().isEmpty());
}

void TestController::continueExtendsAnswer() {
    Controller controller(dataDir_->path());
    QVERIFY(loadAndWait(controller, tinyDir()));
    QSignalSpy finished(&controller, &Controller::generationFinished);
    QSignalSpy tokens(&controller, &Controller::tokenGenerated);
    const QString id = controller.newConversation();
    QVERIFY(controller.submit(id, QStringLiteral("Open the file"), greedy(6)));
    QVERIFY(!controller.continueAnswer(id, greedy(6)));  // one request at a time per conversation
    QVERIFY(finished.wait(kTimeoutMs));
    const QVariantMap first = finished.at(0).at(1).toMap();
    QCOMPARE(first.value(QStringLiteral("finish")).toString(), QStringLiteral("length"));
    QCOMPARE(first.value(QStringLiteral("tokens")).toInt(), 6);
    const QString firstAnswer = first.value(QStringLiteral("answer")).toString();
    tokens.clear();

    QVERIFY(controller.continueAnswer(id, greedy(6)));
    QVERIFY(finished.wait(kTimeoutMs));
    const QVariantMap second = finished.at(1).at(1).toMap();
    const QString full = second.value(QStringLiteral("answer")).toString();
    QCOMPARE(second.value(QStringLiteral("tokens")).toInt(), 6);
    QVERIFY(second.value(QStringLiteral("encoderReused")).toBool());
    QVERIFY2(full.startsWith(firstAnswer), qPrintable(full));
    QCOMPARE(firstAnswer + streamOf(tokens, id).text, full);
    QCOMPARE(controller.conversation(id)->turns.size(), 1);
    QCOMPARE(controller.conversation(id)->turns.last().answer, full);
    QCOMPARE(controller.conversation(id)->turns.last().tokens, 12);
}

void TestController::regenerateReplacesAnswer() {
    Controller controller(dataDir_->path());
    QVERIFY(loadAndWait(controller, demoDir()));
    QSignalSpy finished(&controller, &Controller::generationFinished);
    QSignalSpy transcript(&controller, &Controller::transcriptChanged);
    const QString id = controller.newConversation();
    QVERIFY(controller.submit(id, QStringLiteral("translate English to French: Save the file"), greedy(48)));
    QVERIFY(finished.wait(kTimeoutMs));
    const QString answer = finished.at(0).at(1).toMap().value(QStringLiteral("answer")).toString();

    bool clearedWhenStarted = false;
    connect(&controller, &Controller::generationStarted, this, [&] {
        clearedWhenStarted = controller.conversation(id)->turns.last().answer.isEmpty();
    });
    QVERIFY(controller.regenerate(id, greedy(48)));
    QVERIFY(finished.wait(kTimeoutMs));
    const QVariantMap stats = finished.at(1).at(1).toMap();
    QVERIFY(clearedWhenStarted);
    QCOMPARE(stats.value(QStringLiteral("answer")).toString(), answer);  // greedy: the same answer again
    QVERIFY(stats.value(QStringLiteral("encoderReused")).toBool());
    QCOMPARE(controller.conversation(id)->turns.size(), 1);

    // Sampling with another seed may differ, but still replaces rather than appends.
    GenerationSettings sampled = greedy(48);
    sampled.temperature = 1.0;
    sampled.seed = 7;
    QVERIFY(controller.regenerate(id, sampled));
    QVERIFY(finished.wait(kTimeoutMs));
    QCOMPARE(controller.conversation(id)->turns.size(), 1);
    QCOMPARE(controller.conversation(id)->turns.last().answer,
             finished.at(2).at(1).toMap().value(QStringLiteral("answer")).toString());
}

// Documented behaviour: a generation keeps streaming into the conversation it was started for; a request made in
// another conversation meanwhile waits for it and then streams into its own.
void TestController::switchingConversationsKeepsStreamsApart() {
    Controller controller(dataDir_->path());
    QVERIFY(loadAndWait(controller, tinyDir()));
    QSignalSpy tokens(&controller, &Controller::tokenGenerated);
    QSignalSpy finished(&controller, &Controller::generationFinished);
    QSignalSpy started(&controller, &Controller::generationStarted);
    const QString a = controller.newConversation();
    QString b;
    connect(&controller, &Controller::tokenGenerated, this, [&](const QString& id) {
        if (id == a && b.isEmpty()) {
            b = controller.newConversation();
            QVERIFY(controller.submit(b, QStringLiteral("second conversation"), greedy(10)));
        }
    });
    QVERIFY(controller.submit(a, QStringLiteral("first conversation"), greedy(200)));
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 2, kTimeoutMs);
    QVERIFY(!b.isEmpty());
    QCOMPARE(finished.at(0).at(0).toString(), a);
    QCOMPARE(finished.at(1).at(0).toString(), b);
    QCOMPARE(started.at(1).at(0).toString(), b);

    const Stream streamA = streamOf(tokens, a);
    const Stream streamB = streamOf(tokens, b);
    QCOMPARE(streamA.ids.size(), 200);
    QCOMPARE(streamB.ids.size(), 10);
    QCOMPARE(controller.conversation(a)->turns.size(), 1);
    QCOMPARE(controller.conversation(b)->turns.size(), 1);
    QCOMPARE(controller.conversation(a)->turns.last().answer, streamA.text);
    QCOMPARE(controller.conversation(b)->turns.last().answer, streamB.text);
    QCOMPARE(controller.conversation(b)->turns.last().prompt, QStringLiteral("second conversation"));
    // Every token of A arrived before the first of B.
    int lastA = -1, firstB = -1;
    for (int i = 0; i < tokens.size(); ++i) {
        if (tokens.at(i).at(0).toString() == a)
            lastA = i;
        else if (firstB < 0)
            firstB = i;
    }
    QVERIFY(lastA < firstB);
}

void TestController::deletingConversationStopsItsGeneration() {
    Controller controller(dataDir_->path());
    QVERIFY(loadAndWait(controller, tinyDir()));
    QSignalSpy removed(&controller, &Controller::conversationRemoved);
    QSignalSpy busy(&controller, &Controller::busyChanged);
    const QString id = controller.newConversation();
    connect(&controller, &Controller::tokenGenerated, this, [&] { controller.deleteConversation(id); },
            Qt::SingleShotConnection);
    QVERIFY(controller.submit(id, QStringLiteral("doomed"), greedy(static_cast<int>(umt5::kMaxDecoderTokens))));
    QTRY_VERIFY_WITH_TIMEOUT(!controller.isBusy(), kTimeoutMs);
    QCOMPARE(removed.count(), 1);
    QVERIFY(!controller.conversation(id));
    QVERIFY(controller.conversations().isEmpty());
    // The worker saves after the stopped generation, then removes: no file is left behind.
    QTRY_VERIFY_WITH_TIMEOUT(
        !QFileInfo::exists(studio::Worker::sessionDir(dataDir_->path()) + QLatin1Char('/') + id + ".umt5session"),
        5000);
}

void TestController::shutdownMidGeneration() {
    auto controller = std::make_unique<Controller>(dataDir_->path());
    QVERIFY(loadAndWait(*controller, tinyDir()));
    QSignalSpy tokens(controller.get(), &Controller::tokenGenerated);
    const QString id = controller->newConversation();
    QVERIFY(controller->submit(id, QStringLiteral("never ends"), greedy(static_cast<int>(umt5::kMaxDecoderTokens))));
    QVERIFY(controller->submit(controller->newConversation(), QStringLiteral("queued"), greedy(static_cast<int>(umt5::kMaxDecoderTokens))));
    QVERIFY(tokens.wait(kTimeoutMs));
    QElapsedTimer timer;
    timer.start();
    controller.reset();  // stops, quits and joins the worker thread
    QVERIFY2(timer.elapsed() < 5000, "the worker stops at the next token");
}

void TestController::autosaveAndRestore() {
    QString id;
    QString answer;
    {
        Controller controller(dataDir_->path());
        QVERIFY(loadAndWait(controller, demoDir()));
        QSignalSpy finished(&controller, &Controller::generationFinished);
        id = controller.newConversation();
        controller.setCarryContext(id, true);
        // Cut by the length limit, so it can be continued (an answer that ended with eos cannot).
        QVERIFY(controller.submit(id, QStringLiteral("translate English to Spanish: Open the file"), greedy(3)));
        QVERIFY(finished.wait(kTimeoutMs));
        const QVariantMap stats = finished.at(0).at(1).toMap();
        QVERIFY(stats.value(QStringLiteral("saved")).toBool());
        answer = stats.value(QStringLiteral("answer")).toString();
        controller.renameConversation(id, QStringLiteral("Spanish"));
        QVERIFY(QFileInfo::exists(studio::Worker::sessionDir(dataDir_->path()) + QLatin1Char('/') + id +
                                  ".umt5session"));
    }
    Controller controller(dataDir_->path());
    QSignalSpy added(&controller, &Controller::conversationAdded);
    QSignalSpy restored(&controller, &Controller::conversationsRestored);
    QVERIFY(loadAndWait(controller, demoDir()));
    controller.restoreConversations();
    QVERIFY(restored.wait(kTimeoutMs));
    QCOMPARE(restored.at(0).at(0).toInt(), 1);
    QCOMPARE(added.count(), 1);
    const studio::ConversationView* view = controller.conversation(id);
    QVERIFY(view);
    QCOMPARE(view->title, QStringLiteral("Spanish"));
    QVERIFY(view->carryContext);
    QCOMPARE(view->turns.size(), 1);
    QCOMPARE(view->turns.last().answer, answer);
    QVERIFY(view->cacheBytes > 0);  // the cache came back with the transcript

    // Continuing the restored answer needs no encoder pass.
    QSignalSpy finished(&controller, &Controller::generationFinished);
    QVERIFY(controller.continueAnswer(id, greedy(8)));
    QVERIFY(finished.wait(kTimeoutMs));
    QVERIFY(finished.at(0).at(1).toMap().value(QStringLiteral("encoderReused")).toBool());
}

void TestController::settingsPersist() {
    GenerationSettings custom;
    custom.maxNewTokens = 77;
    custom.temperature = 0.7;
    custom.topK = 40;
    custom.topP = 0.9;
    custom.repetitionPenalty = 1.2;
    custom.seed = 1234567890123ULL;
    custom.randomSeed = false;
    custom.threads = 1;
    custom.useCache = false;
    custom.cacheBudgetMiB = 64;
    // A precision other than the default that this CPU runs (none with ONEDNN_MAX_CPU_ISA=AVX2 and oneDNN's
    // kernels alone: then fp32, and test_controller_precision covers what is refused).
    custom.precision = otherPrecision();
    if (custom.precision == QLatin1String("fp32"))
        qInfo("neither bf16 nor int8 runs here, so the precision saved is fp32's default");
    {
        Controller controller(dataDir_->path());
        QCOMPARE(controller.settings(), GenerationSettings{});
        QSignalSpy changed(&controller, &Controller::settingsChanged);
        controller.setSettings(custom);
        QCOMPARE(changed.count(), 1);
    }
    Controller controller(dataDir_->path());
    QCOMPARE(controller.settings(), custom);
}

void TestController::precisionChangeReloadsModel() {
    Controller controller(dataDir_->path());
    QVERIFY(loadAndWait(controller, demoDir()));
    QCOMPARE(controller.modelInfo().value(QStringLiteral("precision")).toString(), QStringLiteral("fp32"));
    QSignalSpy loaded(&controller, &Controller::modelLoaded);
    GenerationSettings other = greedy(8);
    other.precision = otherPrecision();
    if (other.precision == QLatin1String("fp32"))
        QSKIP(qPrintable(QStringLiteral("no precision but fp32 runs here: %1; %2")
                             .arg(studio::precisionChoice(QStringLiteral("bf16")).reason,
                                  studio::precisionChoice(QStringLiteral("int8")).reason)));
    controller.setSettings(other);
    QVERIFY(loaded.wait(kTimeoutMs));
    QCOMPARE(controller.modelInfo().value(QStringLiteral("precision")).toString(), other.precision);
    QCOMPARE(controller.modelInfo().value(QStringLiteral("dir")).toString(), demoDir());
    // Other settings leave the model alone.
    GenerationSettings longer = other;
    longer.maxNewTokens = 9;
    controller.setSettings(longer);
    QVERIFY(!loaded.wait(500));
    QCOMPARE(loaded.count(), 1);
}

void TestController::titleFromFirstPrompt_data() {
    QTest::addColumn<QString>("prompt");
    QTest::addColumn<QString>("title");
    QTest::newRow("plain") << "Hello there" << "Hello there";
    QTest::newRow("first line") << "Line one\nline two" << "Line one";
    QTest::newRow("translate") << "translate English to German: Open the file" << "Open the file · English → German";
    QTest::newRow("long") << "one two three four five six seven eight nine ten eleven twelve"
                          << "one two three four five six seven eight nine ten…";
}

void TestController::titleFromFirstPrompt() {
    QFETCH(QString, prompt);
    QFETCH(QString, title);
    QCOMPARE(studio::titleForPrompt(prompt), title);
}

void TestController::exportWritesEveryFormat() {
    Controller controller(dataDir_->path());
    QVERIFY(loadAndWait(controller, tinyDir()));
    const QString id = answeredConversation(controller, 6);
    QVERIFY(!id.isEmpty());
    const studio::ConversationView* view = controller.conversation(id);
    QVERIFY(view);
    QTemporaryDir out;
    for (const QString& format : {QStringLiteral("md"), QStringLiteral("txt"), QStringLiteral("html"), QStringLiteral("json")}) {
        const QString path = out.filePath(Controller::exportFileName(view->title, id, format));
        QCOMPARE(exportAndWait(controller, id, format, path), QString());
        QVERIFY2(QFileInfo(path).size() > 0, qPrintable(path));
    }
    QVERIFY(readAll(out.filePath(Controller::exportFileName(view->title, id, QStringLiteral("html"))))
                .contains(view->turns.last().answer.toHtmlEscaped().toUtf8()));

    // The JSON is lossless: it reads back to the same turns.
    const QString jsonPath = out.filePath(Controller::exportFileName(view->title, id, QStringLiteral("json")));
    const umt5::Conversation back = umt5::import_json(readAll(jsonPath).toStdString(), jsonPath.toStdString());
    QCOMPARE(QString::fromStdString(back.id()), id);
    QCOMPARE(int(back.turns().size()), view->turns.size());
    QCOMPARE(QString::fromStdString(back.turns().back().prompt), view->turns.last().prompt);
    QCOMPARE(QString::fromStdString(back.turns().back().answer), view->turns.last().answer);
    QCOMPARE(int(back.turns().back().output_ids.size()), view->turns.last().tokens);

    // A PDF needs a QGuiApplication (this test has none): the failure comes back and no file is left.
    const QString pdfPath = out.filePath(QStringLiteral("x.pdf"));
    QCOMPARE(exportAndWait(controller, id, QStringLiteral("pdf"), pdfPath), QStringLiteral("PDF export needs a QGuiApplication"));
    QVERIFY(!QFileInfo::exists(pdfPath));

    const QString missing = out.filePath(QStringLiteral("missing.md"));
    QVERIFY(!exportAndWait(controller, QStringLiteral("no-such-id"), QStringLiteral("md"), missing).isEmpty());
    QVERIFY(!QFileInfo::exists(missing));
}

void TestController::importAddsConversationThatContinues() {
    Controller controller(dataDir_->path());
    QVERIFY(loadAndWait(controller, tinyDir()));
    const QString id = answeredConversation(controller, 5);
    QVERIFY(!id.isEmpty());
    const studio::ConversationView original = *controller.conversation(id);
    QTemporaryDir out;
    const QString path = out.filePath(QStringLiteral("transcript.json"));
    QCOMPARE(exportAndWait(controller, id, QStringLiteral("json"), path), QString());

    // The id is taken: the import is a copy with a fresh id.
    QSignalSpy added(&controller, &Controller::conversationAdded);
    QSignalSpy imported(&controller, &Controller::importFinished);
    controller.importConversation(path);
    QVERIFY(imported.wait(kTimeoutMs));
    QCOMPARE(imported.at(0).at(0).toString(), path);
    QCOMPARE(imported.at(0).at(2).toString(), QString());
    const QString copyId = imported.at(0).at(1).toString();
    QVERIFY(!copyId.isEmpty() && copyId != id);
    QCOMPARE(added.count(), 1);
    QCOMPARE(added.at(0).at(0).toString(), copyId);
    const studio::ConversationView* copy = controller.conversation(copyId);
    QVERIFY(copy);
    QCOMPARE(copy->title, original.title);
    QCOMPARE(copy->turns.size(), 1);
    QCOMPARE(copy->turns.last().prompt, original.turns.last().prompt);
    QCOMPARE(copy->turns.last().answer, original.turns.last().answer);
    QCOMPARE(copy->cacheBytes, 0);
    QVERIFY(QFileInfo::exists(studio::Worker::sessionDir(dataDir_->path()) + QLatin1Char('/') + copyId +
                              ".umt5session"));  // autosaved

    // Continuing it rebuilds the cache: the encoder runs, and the answer grows from the imported one.
    QSignalSpy finished(&controller, &Controller::generationFinished);
    QVERIFY(controller.continueAnswer(copyId, greedy(4)));
    QVERIFY(finished.wait(kTimeoutMs));
    const QVariantMap stats = finished.at(0).at(1).toMap();
    QVERIFY(!stats.value(QStringLiteral("encoderReused")).toBool());
    QCOMPARE(stats.value(QStringLiteral("tokens")).toInt(), 4);
    QVERIFY(controller.conversation(copyId)->turns.last().answer.startsWith(original.turns.last().answer));
    QCOMPARE(controller.conversation(copyId)->turns.last().tokens, 9);

    // Once the original is gone its id is free, and an import keeps it.
    controller.deleteConversation(id);
    imported.clear();
    controller.importConversation(path);
    QVERIFY(imported.wait(kTimeoutMs));
    QCOMPARE(imported.at(0).at(1).toString(), id);
    QVERIFY(controller.conversation(id));
}

void TestController::importRejectsBadTranscript_data() {
    QTest::addColumn<QByteArray>("text");
    QTest::newRow("corrupt") << QByteArray("{\"format\": \"umt5-transcript\", \"vers");
    nlohmann::json future = nlohmann::json::parse(umt5::export_json(umt5::Conversation(), umt5::TranscriptInfo()));
    future["version"] = umt5::kTranscriptVersion + 1;
    QTest::newRow("future version") << QByteArray::fromStdString(future.dump());
    QTest::newRow("session header, not a transcript") << QByteArray::fromStdString(umt5::Conversation().to_json());
}

void TestController::importRejectsBadTranscript() {
    QFETCH(QByteArray, text);
    QTemporaryDir out;
    const QString path = out.filePath(QStringLiteral("bad.json"));
    QVERIFY(writeAll(path, text));
    const QString expected = importError(text, path);
    QVERIFY2(expected.startsWith(path), qPrintable(expected));

    Controller controller(dataDir_->path());
    QSignalSpy added(&controller, &Controller::conversationAdded);
    QSignalSpy imported(&controller, &Controller::importFinished);
    controller.importConversation(path);
    QVERIFY(imported.wait(kTimeoutMs));
    QCOMPARE(imported.at(0).at(1).toString(), QString());
    QCOMPARE(imported.at(0).at(2).toString(), expected);
    QCOMPARE(added.count(), 0);
    QVERIFY(controller.conversations().isEmpty());
    QVERIFY(QDir(studio::Worker::sessionDir(dataDir_->path())).isEmpty());
}

QTEST_GUILESS_MAIN(TestController)
#include "test_controller.moc"
