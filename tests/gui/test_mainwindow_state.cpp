// What the main window shows about answers, models and the engine, and what it restores after a restart: each
// answer's own model label and statistics, earlier versions of regenerated answers, the Recent Models menu, the
// status bar (precision, threads, the shown conversation's speed and cache), the selected conversation and the
// list order. Offscreen, with the tiny random model (never emits eos) and the demo translation model.
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <QAction>
#include <QLabel>
#include <QListWidget>
#include <QMenu>
#include <QUrl>

#include <memory>

#include "app/controller.h"
#include "test_util.h"
#include "ui/conversation_list.h"
#include "ui/main_window.h"
#include "ui/transcript_view.h"

using studio::Controller;
using studio::GenerationSettings;
using studio::MainWindow;

namespace {

constexpr int kTimeoutMs = 60000;

QString demoDir() { return QString::fromStdString(umt5test::demo_model_dir().string()); }
QString tinyDir() { return QString::fromStdString(umt5test::tiny_a_dir().string()); }

}  // namespace

class TestMainWindowState : public QObject {
    Q_OBJECT
private slots:
    void init();
    void cleanup();

    void recentModelsFillWhenAModelOpens();
    void answersKeepTheirModelAndStatistics();
    void restoreKeepsSelectionAndOrder();
    void restoreWarningNamesConversation();
    void statusBarShowsPrecisionAndThreads_data();
    void statusBarShowsPrecisionAndThreads();
    void regenerateWithSamplingKeepsVersions();
    void fixedSeedRepeatsAnswer();
    void continueAfterEosIsDisabled();
    void continueHeaderCountsWholeAnswer();
    void statusBarFollowsShownConversation();
    void tokenWording_data();
    void tokenWording();
    void emptyStateHint();

private:
    // A new controller and window on the same data directory, as after quitting and starting again.
    void restart(bool restore);
    bool loadModel(const QString& dir);
    // Sends `prompt` to a new conversation and waits for the answer; returns the conversation's id.
    QString answer(const QString& prompt);
    void setSettings(int maxNewTokens, double temperature = 0, bool randomSeed = true, quint64 seed = 0);
    QString label(const char* name) const;

    std::unique_ptr<QTemporaryDir> dataDir_;
    std::unique_ptr<Controller> controller_;
    std::unique_ptr<MainWindow> window_;
};

void TestMainWindowState::init() {
    dataDir_ = std::make_unique<QTemporaryDir>();
    QVERIFY(dataDir_->isValid());
    restart(false);
}

void TestMainWindowState::cleanup() {
    window_.reset();
    controller_.reset();
    dataDir_.reset();
}

void TestMainWindowState::restart(bool restore) {
    if (window_)
        window_->close();  // writes the window state, as quitting does
    window_.reset();
    controller_.reset();
    controller_ = std::make_unique<Controller>(dataDir_->path());
    window_ = std::make_unique<MainWindow>(*controller_);
    window_->show();
    QVERIFY(QTest::qWaitForWindowExposed(window_.get()));
    if (restore) {
        QSignalSpy restored(controller_.get(), &Controller::conversationsRestored);
        controller_->restoreConversations();
        QVERIFY(restored.wait(kTimeoutMs));
    }
}

bool TestMainWindowState::loadModel(const QString& dir) {
    QSignalSpy loaded(controller_.get(), &Controller::modelLoaded);
    controller_->loadModel(dir);
    return loaded.wait(kTimeoutMs) || loaded.count() == 1;
}

QString TestMainWindowState::answer(const QString& prompt) {
    QSignalSpy finished(controller_.get(), &Controller::generationFinished);
    const QString id = controller_->newConversation();
    window_->setCurrentConversation(id);
    if (!window_->submitPrompt(prompt) || !finished.wait(kTimeoutMs))
        return {};
    return id;
}

void TestMainWindowState::setSettings(int maxNewTokens, double temperature, bool randomSeed, quint64 seed) {
    GenerationSettings s = controller_->settings();
    s.maxNewTokens = maxNewTokens;
    s.temperature = temperature;
    s.randomSeed = randomSeed;
    s.seed = seed;
    s.threads = 2;
    controller_->setSettings(s);
}

QString TestMainWindowState::label(const char* name) const {
    auto* l = window_->findChild<QLabel*>(QString::fromLatin1(name));
    return l ? l->text() : QStringLiteral("<no label %1>").arg(QString::fromLatin1(name));
}

void TestMainWindowState::recentModelsFillWhenAModelOpens() {
    auto* menu = window_->findChild<QMenu*>(QStringLiteral("recentModelsMenu"));
    QVERIFY(menu);
    QVERIFY(!menu->isEnabled());  // a fresh data directory has none
    QVERIFY(loadModel(tinyDir()));
    QVERIFY(menu->isEnabled());
    QCOMPARE(menu->actions().size(), 1);
    QVERIFY(loadModel(demoDir()));
    QCOMPARE(menu->actions().size(), 2);
    QVERIFY(menu->actions().first()->text().endsWith(QStringLiteral("demo-umt5")));
}

void TestMainWindowState::answersKeepTheirModelAndStatistics() {
    setSettings(5);
    QVERIFY(loadModel(tinyDir()));
    const QString id = answer(QStringLiteral("Open the file"));
    QVERIFY(!id.isEmpty());
    const QString tinyLabel = QStringLiteral("umt5-tiny-a (fp32)  ·  5 tokens, ");
    QVERIFY2(window_->transcript()->transcriptText().contains(tinyLabel), qPrintable(window_->transcript()->transcriptText()));

    // Another model: the old answer keeps its label, the new one gets its own.
    QVERIFY(loadModel(demoDir()));
    window_->setCurrentConversation(id);
    QSignalSpy finished(controller_.get(), &Controller::generationFinished);
    QVERIFY(window_->submitPrompt(QStringLiteral("translate English to German: File not found")));
    QVERIFY(finished.wait(kTimeoutMs));
    QString text = window_->transcript()->transcriptText();
    QVERIFY2(text.contains(tinyLabel), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("demo-umt5 (fp32)  ·  ")), qPrintable(text));

    // After a restart with no model: both labels and both statistics headers are still there.
    restart(true);
    QCOMPARE(window_->currentConversationId(), id);
    text = window_->transcript()->transcriptText();
    QVERIFY2(text.contains(tinyLabel), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("demo-umt5 (fp32)  ·  ")), qPrintable(text));
    QCOMPARE(text.count(QStringLiteral(" tokens/s")), 2);
    QVERIFY(!text.contains(QStringLiteral("umT5")));
    // Generation Statistics has the latest answer's per-token times to plot.
    const QVariantMap stats = controller_->conversation(id)->lastStats;
    QCOMPARE(stats.value(QStringLiteral("model")).toString(), QStringLiteral("demo-umt5"));
    QCOMPARE(stats.value(QStringLiteral("perTokenMs")).toList().size(), stats.value(QStringLiteral("tokens")).toInt());
}

void TestMainWindowState::restoreKeepsSelectionAndOrder() {
    setSettings(3);
    QVERIFY(loadModel(tinyDir()));
    const QString a = answer(QStringLiteral("first"));
    const QString b = answer(QStringLiteral("second"));
    const QString c = answer(QStringLiteral("third"));
    QVERIFY(!a.isEmpty() && !b.isEmpty() && !c.isEmpty());
    // Saving the oldest last (a rename rewrites its file) must not move it in the list.
    controller_->renameConversation(a, QStringLiteral("renamed first"));
    window_->setCurrentConversation(b);
    QStringList before;
    for (const studio::ConversationView& view : controller_->conversations())
        before << view.id;
    QCOMPARE(before, (QStringList{c, b, a}));

    for (int round = 0; round < 2; ++round) {
        restart(true);
        QStringList after;
        for (const studio::ConversationView& view : controller_->conversations())
            after << view.id;
        QCOMPARE(after, before);
        QCOMPARE(window_->currentConversationId(), b);
        QCOMPARE(window_->conversationList()->listWidget()->count(), 3);
    }
}

void TestMainWindowState::restoreWarningNamesConversation() {
    setSettings(3);
    QVERIFY(loadModel(tinyDir()));
    QVERIFY(!answer(QStringLiteral("Open the file")).isEmpty());  // saved with its cache
    const QString title = controller_->conversations().first().title;

    restart(false);
    QVERIFY(loadModel(demoDir()));  // another model: the saved cache cannot be used
    QSignalSpy warnings(controller_.get(), &Controller::restoreWarning);
    QSignalSpy restored(controller_.get(), &Controller::conversationsRestored);
    controller_->restoreConversations();
    QVERIFY(restored.wait(kTimeoutMs));
    QCOMPARE(warnings.count(), 1);
    const QString message = warnings.at(0).at(0).toString();
    QVERIFY2(message.startsWith(QStringLiteral("Conversation “%1”: ").arg(title)), qPrintable(message));
    QVERIFY2(message.contains(QStringLiteral("umt5-tiny-a")), qPrintable(message));
}

void TestMainWindowState::statusBarShowsPrecisionAndThreads_data() {
    QTest::addColumn<int>("threads");
    QTest::addColumn<QString>("expected");
    QTest::newRow("one") << 1 << "fp32 · 1 thread";
    QTest::newRow("two") << 2 << "fp32 · 2 threads";
}

void TestMainWindowState::statusBarShowsPrecisionAndThreads() {
    QFETCH(int, threads);
    QFETCH(QString, expected);
    QCOMPARE(label("engineLabel"), QString());  // no model yet
    GenerationSettings s = controller_->settings();
    s.threads = threads;
    controller_->setSettings(s);
    QVERIFY(loadModel(tinyDir()));
    QCOMPARE(label("engineLabel"), expected);
}

void TestMainWindowState::regenerateWithSamplingKeepsVersions() {
    setSettings(12, 1.0, /*randomSeed=*/true);
    QVERIFY(loadModel(tinyDir()));
    const QString id = answer(QStringLiteral("Open the file"));
    QVERIFY(!id.isEmpty());
    QSignalSpy finished(controller_.get(), &Controller::generationFinished);
    for (int i = 0; i < 2; ++i) {
        QVERIFY(controller_->regenerate(id, controller_->settings()));
        QVERIFY(finished.wait(kTimeoutMs));
    }
    QCOMPARE(finished.count(), 2);
    const studio::TurnSnapshot turn = controller_->conversation(id)->turns.last();
    QCOMPARE(turn.earlier.size(), 2);
    // A new seed each time: three 12-token samples of a 3072-token vocabulary at temperature 1 do not all agree.
    QVERIFY(finished.at(0).at(1).toMap().value(QStringLiteral("seed")) !=
            finished.at(1).at(1).toMap().value(QStringLiteral("seed")));
    QVERIFY(!(turn.answer == turn.earlier.at(0).answer && turn.answer == turn.earlier.at(1).answer));

    studio::TranscriptView* transcript = window_->transcript();
    QCOMPARE(transcript->shownVersion(0), 2);
    QVERIFY(transcript->transcriptText().contains(QStringLiteral("‹ 3/3 ›")));
    emit transcript->anchorClicked(QUrl(QStringLiteral("umt5-version:0/0")));  // what clicking ‹ twice reaches
    QCOMPARE(transcript->shownVersion(0), 0);
    QVERIFY(transcript->transcriptText().contains(QStringLiteral("‹ 1/3 ›")));
    QVERIFY(transcript->transcriptText().contains(turn.earlier.at(0).answer));

    // The versions are saved with the session.
    restart(true);
    const studio::ConversationView* view = controller_->conversation(id);
    QVERIFY(view);
    QCOMPARE(view->turns.last().earlier.size(), 2);
    QCOMPARE(view->turns.last().earlier.at(0).answer, turn.earlier.at(0).answer);
    QCOMPARE(view->turns.last().answer, turn.answer);
    QVERIFY(window_->transcript()->transcriptText().contains(QStringLiteral("‹ 3/3 ›")));
}

void TestMainWindowState::fixedSeedRepeatsAnswer() {
    setSettings(12, 1.0, /*randomSeed=*/false, 7);
    QVERIFY(loadModel(tinyDir()));
    const QString id = answer(QStringLiteral("Open the file"));
    QVERIFY(!id.isEmpty());
    QSignalSpy finished(controller_.get(), &Controller::generationFinished);
    QVERIFY(controller_->regenerate(id, controller_->settings()));
    QVERIFY(finished.wait(kTimeoutMs));
    QCOMPARE(finished.at(0).at(1).toMap().value(QStringLiteral("seed")).toString(), QStringLiteral("7"));
    const studio::TurnSnapshot turn = controller_->conversation(id)->turns.last();
    QCOMPARE(turn.earlier.size(), 1);
    QCOMPARE(turn.answer, turn.earlier.at(0).answer);
}

void TestMainWindowState::continueAfterEosIsDisabled() {
    QVERIFY(loadModel(demoDir()));
    const QString id = answer(QStringLiteral("translate English to German: File not found"));
    QVERIFY(!id.isEmpty());
    QCOMPARE(controller_->conversation(id)->turns.last().finish, QStringLiteral("eos"));
    auto* continueAction = window_->findChild<QAction*>(QStringLiteral("continueAction"));
    auto* regenerateAction = window_->findChild<QAction*>(QStringLiteral("regenerateAction"));
    QVERIFY(continueAction && regenerateAction);
    QVERIFY(!continueAction->isEnabled());
    QVERIFY(regenerateAction->isEnabled());
    QVERIFY(!controller_->continueAnswer(id, controller_->settings()));
    QVERIFY(!controller_->isBusy());
}

void TestMainWindowState::continueHeaderCountsWholeAnswer() {
    setSettings(5);
    QVERIFY(loadModel(tinyDir()));
    const QString id = answer(QStringLiteral("Open the file"));
    QVERIFY(!id.isEmpty());
    auto* continueAction = window_->findChild<QAction*>(QStringLiteral("continueAction"));
    QVERIFY(continueAction && continueAction->isEnabled());  // stopped by the length limit
    QSignalSpy finished(controller_.get(), &Controller::generationFinished);
    continueAction->trigger();
    QVERIFY(finished.wait(kTimeoutMs));
    QCOMPARE(controller_->conversation(id)->turns.last().tokens, 10);
    const QString text = window_->transcript()->transcriptText();
    QVERIFY2(text.contains(QStringLiteral("umt5-tiny-a (fp32)  ·  10 tokens, ")), qPrintable(text));
}

void TestMainWindowState::statusBarFollowsShownConversation() {
    setSettings(5);
    QVERIFY(loadModel(tinyDir()));
    const QString a = answer(QStringLiteral("Open the file"));
    QVERIFY(!a.isEmpty());
    QVERIFY(label("speedLabel").endsWith(QStringLiteral(" tokens/s")));
    QVERIFY(label("cacheLabel").endsWith(QStringLiteral(", encoder run")));

    // An empty conversation has no speed of its own.
    const QString b = controller_->newConversation();
    window_->setCurrentConversation(b);
    QCOMPARE(label("speedLabel"), QString());
    QCOMPARE(label("cacheLabel"), QStringLiteral("cache: empty"));

    // While A continues from its cache, the cache label says so (not what the previous answer did).
    window_->setCurrentConversation(a);
    setSettings(2000);  // long enough to still be running when checked, within the 4096-token answer limit
    QSignalSpy started(controller_.get(), &Controller::generationStarted);
    QSignalSpy finished(controller_.get(), &Controller::generationFinished);
    QVERIFY(controller_->continueAnswer(a, controller_->settings()));
    QVERIFY(started.wait(kTimeoutMs));
    QVERIFY2(label("cacheLabel").endsWith(QStringLiteral(", encoder reused")), qPrintable(label("cacheLabel")));
    window_->setCurrentConversation(b);
    QCOMPARE(label("speedLabel"), QString());  // A's live speed is not B's
    controller_->stop();
    QVERIFY(finished.wait(kTimeoutMs));
}

void TestMainWindowState::tokenWording_data() {
    QTest::addColumn<int>("tokens");
    QTest::addColumn<QString>("expected");
    QTest::newRow("one") << 1 << "1 token, 12.5 tokens/s";
    QTest::newRow("four") << 4 << "4 tokens, 12.5 tokens/s";
}

void TestMainWindowState::tokenWording() {
    QFETCH(int, tokens);
    QFETCH(QString, expected);
    studio::ConversationView view;
    view.id = QStringLiteral("x");
    view.turns.append({QStringLiteral("prompt"), QStringLiteral("answer"), QStringLiteral("eos"), tokens,
                       QStringLiteral("demo-umt5"), QStringLiteral("int8"), 12.5, {}});
    window_->transcript()->showConversation(&view);
    const QString text = window_->transcript()->transcriptText();
    QVERIFY2(text.contains(QStringLiteral("demo-umt5 (int8)  ·  ") + expected), qPrintable(text));
    QVERIFY(!text.contains(QStringLiteral("token(s)")));
}

void TestMainWindowState::emptyStateHint() {
    QVERIFY(window_->currentConversationId().isEmpty());
    const QString text = window_->transcript()->transcriptText();
    QVERIFY2(text.contains(QStringLiteral("press Enter to start a conversation")), qPrintable(text));
    QVERIFY(!text.contains(QStringLiteral("Create a conversation")));
}

QTEST_MAIN(TestMainWindowState)
#include "test_mainwindow_state.moc"
