// The main window under the offscreen platform: typing and sending prompts, the prompt box's keys, the language
// helper and the transcript's per-paragraph text direction.
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <QAction>
#include <QFile>
#include <QMessageBox>
#include <QListWidget>
#include <QTextBlock>
#include <QTextDocument>

#include <memory>

#include "app/controller.h"
#include "core/chat/limits.h"
#include "test_util.h"
#include "ui/conversation_list.h"
#include "ui/main_window.h"
#include "ui/prompt_edit.h"
#include "ui/transcript_view.h"
#include "ui/translate_bar.h"

using studio::Controller;
using studio::MainWindow;

namespace {

constexpr int kTimeoutMs = 60000;

QString demoDir() { return QString::fromStdString(umt5test::demo_model_dir().string()); }
QString tinyDir() { return QString::fromStdString(umt5test::tiny_a_dir().string()); }

}  // namespace

class TestMainWindow : public QObject {
    Q_OBJECT
private slots:
    void init();
    void cleanup();

    void titleNamesModel();
    void enterSendsAndAnswerIsShown();
    void shiftEnterInsertsNewline();
    void ctrlEnterSends();
    void translatePrefix_data();
    void translatePrefix();
    void translateBarFillsPrompt();
    void paragraphDirection_data();
    void paragraphDirection();
    void switchingShowsOnlyTheVisibleConversation();
    void exportPdfAndImportFailure();

private:
    bool loadModel(const QString& dir);

    std::unique_ptr<QTemporaryDir> dataDir_;
    std::unique_ptr<Controller> controller_;
    std::unique_ptr<MainWindow> window_;
};

void TestMainWindow::init() {
    dataDir_ = std::make_unique<QTemporaryDir>();
    QVERIFY(dataDir_->isValid());
    controller_ = std::make_unique<Controller>(dataDir_->path());
    window_ = std::make_unique<MainWindow>(*controller_);
    window_->show();
    QVERIFY(QTest::qWaitForWindowExposed(window_.get()));
}

void TestMainWindow::cleanup() {
    window_.reset();
    controller_.reset();
    dataDir_.reset();
}

bool TestMainWindow::loadModel(const QString& dir) {
    QSignalSpy loaded(controller_.get(), &Controller::modelLoaded);
    controller_->loadModel(dir);
    return loaded.wait(kTimeoutMs) || loaded.count() == 1;
}

void TestMainWindow::titleNamesModel() {
    QVERIFY(window_->windowTitle().startsWith(QStringLiteral("umT5 Studio — ")));
    QVERIFY(loadModel(demoDir()));
    QCOMPARE(window_->windowTitle(), QStringLiteral("umT5 Studio — demo-umt5"));
    QVERIFY(window_->minimumSize().width() >= 640);
}

void TestMainWindow::enterSendsAndAnswerIsShown() {
    QVERIFY(loadModel(demoDir()));
    QSignalSpy shown(window_.get(), &MainWindow::answerShown);
    studio::PromptEdit* prompt = window_->promptEdit();
    prompt->setFocus();
    const QString text = QStringLiteral("translate English to German: Open the file");
    QTest::keyClicks(prompt, text);
    QCOMPARE(prompt->toPlainText(), text);
    QTest::keyClick(prompt, Qt::Key_Return);
    QVERIFY(prompt->toPlainText().isEmpty());  // sent
    QVERIFY(!window_->currentConversationId().isEmpty());
    QVERIFY(window_->transcript()->transcriptText().contains(text));  // the prompt shows at once

    QTRY_COMPARE_WITH_TIMEOUT(shown.count(), 1, kTimeoutMs);
    const studio::ConversationView* view = controller_->conversation(window_->currentConversationId());
    QVERIFY(view);
    const QString answer = view->turns.last().answer;
    QVERIFY(!answer.isEmpty());
    QVERIFY2(window_->transcript()->transcriptText().contains(answer), qPrintable(answer));
    QCOMPARE(window_->conversationList()->listWidget()->count(), 1);
}

void TestMainWindow::shiftEnterInsertsNewline() {
    QVERIFY(loadModel(tinyDir()));
    studio::PromptEdit* prompt = window_->promptEdit();
    prompt->setFocus();
    QTest::keyClicks(prompt, QStringLiteral("first line"));
    QTest::keyClick(prompt, Qt::Key_Return, Qt::ShiftModifier);
    QTest::keyClicks(prompt, QStringLiteral("second line"));
    QCOMPARE(prompt->toPlainText(), QStringLiteral("first line\nsecond line"));
    QVERIFY(!controller_->isBusy());
    QVERIFY(controller_->conversations().isEmpty());
}

void TestMainWindow::ctrlEnterSends() {
    QVERIFY(loadModel(tinyDir()));
    QSignalSpy shown(window_.get(), &MainWindow::answerShown);
    studio::PromptEdit* prompt = window_->promptEdit();
    prompt->setFocus();
    QTest::keyClicks(prompt, QStringLiteral("hello"));
    QTest::keyClick(prompt, Qt::Key_Return, Qt::ControlModifier);
    QVERIFY(prompt->toPlainText().isEmpty());
    QTRY_COMPARE_WITH_TIMEOUT(shown.count(), 1, kTimeoutMs);
}

void TestMainWindow::translatePrefix_data() {
    QTest::addColumn<QString>("prompt");
    QTest::addColumn<QString>("language");
    QTest::addColumn<bool>("fromEnglish");
    QTest::addColumn<QString>("expected");
    QTest::newRow("plain") << "Open file" << "Japanese" << true << "translate English to Japanese: Open file";
    QTest::newRow("replace") << "translate English to German: Open file" << "Arabic" << true
                             << "translate English to Arabic: Open file";
    QTest::newRow("reverse") << "translate English to Greek: Hallo" << "German" << false
                             << "translate German to English: Hallo";
    QTest::newRow("empty") << "" << "Hindi" << true << "translate English to Hindi: ";
}

void TestMainWindow::translatePrefix() {
    QFETCH(QString, prompt);
    QFETCH(QString, language);
    QFETCH(bool, fromEnglish);
    QFETCH(QString, expected);
    QCOMPARE(studio::TranslateBar::applyPrefix(prompt, studio::TranslateBar::prefix(language, fromEnglish)), expected);
    QCOMPARE(studio::TranslateBar::languages().size(), 20);
}

void TestMainWindow::translateBarFillsPrompt() {
    studio::TranslateBar* bar = window_->translateBar();
    window_->promptEdit()->setPlainText(QStringLiteral("Open file"));
    bar->setFromEnglish(true);
    bar->setLanguage(QStringLiteral("Korean"));
    emit bar->prefixRequested(bar->currentPrefix());
    QCOMPARE(window_->promptEdit()->toPlainText(), QStringLiteral("translate English to Korean: Open file"));
    // A prefix already there follows the pickers.
    bar->setLanguage(QStringLiteral("Turkish"));
    QCOMPARE(window_->promptEdit()->toPlainText(), QStringLiteral("translate English to Turkish: Open file"));
}

void TestMainWindow::paragraphDirection_data() {
    QTest::addColumn<QString>("answer");
    QTest::addColumn<bool>("rightToLeft");
    QTest::newRow("arabic") << QStringLiteral("افتح الملف") << true;
    QTest::newRow("hebrew") << QStringLiteral("פתח את הקובץ") << true;
    QTest::newRow("japanese") << QStringLiteral("ファイルが見つかりません") << false;
    QTest::newRow("hindi") << QStringLiteral("फ़ाइल खोलें") << false;
}

void TestMainWindow::paragraphDirection() {
    QFETCH(QString, answer);
    QFETCH(bool, rightToLeft);
    studio::ConversationView view;
    view.id = QStringLiteral("x");
    view.turns.append({QStringLiteral("translate English to X: Open file"), QStringLiteral("English line\n") + answer,
                       QStringLiteral("eos"), 3, QString(), QString(), 0, {}});
    studio::TranscriptView* transcript = window_->transcript();
    transcript->showConversation(&view);
    bool found = false;
    for (QTextBlock block = transcript->document()->begin(); block.isValid(); block = block.next()) {
        if (block.text() == answer) {
            found = true;
            QCOMPARE(block.textDirection() == Qt::RightToLeft, rightToLeft);
        } else if (block.text() == QLatin1String("English line")) {
            QCOMPARE(block.textDirection(), Qt::LeftToRight);  // each paragraph has its own direction
        }
    }
    QVERIFY(found);
}

void TestMainWindow::switchingShowsOnlyTheVisibleConversation() {
    QVERIFY(loadModel(tinyDir()));
    QSignalSpy finished(controller_.get(), &Controller::generationFinished);
    studio::GenerationSettings settings = controller_->settings();
    // The tiny model never stops by itself: the longest answer allowed runs until Stop.
    settings.maxNewTokens = static_cast<int>(umt5::kMaxDecoderTokens);
    controller_->setSettings(settings);
    const QString prompt = QStringLiteral("Привет, мир! Как дела?");
    QVERIFY(window_->submitPrompt(prompt));
    const QString a = window_->currentConversationId();
    QTRY_VERIFY_WITH_TIMEOUT(controller_->conversation(a)->turns.last().tokens > 0, kTimeoutMs);

    // Switch to a new conversation while A streams: A keeps streaming, out of sight.
    QTest::keyClick(window_.get(), Qt::Key_N, Qt::ControlModifier);
    const QString b = window_->currentConversationId();
    QVERIFY(b != a);
    const int tokensAtSwitch = controller_->conversation(a)->turns.last().tokens;
    QTRY_VERIFY_WITH_TIMEOUT(controller_->conversation(a)->turns.last().tokens > tokensAtSwitch + 5, kTimeoutMs);
    QVERIFY(!window_->transcript()->transcriptText().contains(prompt));
    QCOMPARE(finished.count(), 0);

    QTest::keyClick(window_.get(), Qt::Key_Escape);  // Stop
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kTimeoutMs);
    QCOMPARE(finished.at(0).at(0).toString(), a);
    QCOMPARE(controller_->conversation(a)->turns.last().finish, QStringLiteral("stopped"));
    QVERIFY(controller_->conversation(b)->turns.isEmpty());

    // Back to A: the whole answer is there.
    window_->setCurrentConversation(a);
    const QString answer = controller_->conversation(a)->turns.last().answer;
    QVERIFY(!answer.isEmpty());
    QVERIFY(window_->transcript()->transcriptText().contains(answer));
}

void TestMainWindow::exportPdfAndImportFailure() {
    QVERIFY(loadModel(tinyDir()));
    QSignalSpy finished(controller_.get(), &Controller::generationFinished);
    const QString id = controller_->newConversation();
    QVERIFY(controller_->submit(id, QStringLiteral("Open the file"), controller_->settings()));
    QVERIFY(finished.wait(kTimeoutMs));

    // The worker writes the HTML, the GUI thread lays it out as a PDF.
    QTemporaryDir out;
    const QString pdf = out.filePath(QStringLiteral("transcript.pdf"));
    QSignalSpy exported(controller_.get(), &Controller::exportFinished);
    controller_->exportConversation(id, QStringLiteral("pdf"), pdf);
    QVERIFY(exported.wait(kTimeoutMs));
    QCOMPARE(exported.at(0).at(1).toString(), QString());
    QFile file(pdf);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QVERIFY(file.read(5) == "%PDF-");

    // A failed import shows the engine's message in an error box.
    const QString bad = out.filePath(QStringLiteral("bad.json"));
    QFile badFile(bad);
    QVERIFY(badFile.open(QIODevice::WriteOnly));
    badFile.write("not json");
    badFile.close();
    QSignalSpy imported(controller_.get(), &Controller::importFinished);
    controller_->importConversation(bad);
    QVERIFY(imported.wait(kTimeoutMs));
    auto* box = window_->findChild<QMessageBox*>(QStringLiteral("errorBox"));
    QVERIFY(box);
    QVERIFY2(box->text().contains(imported.at(0).at(2).toString().toHtmlEscaped()), qPrintable(box->text()));
    QCOMPARE(controller_->conversations().size(), 1);
}

QTEST_MAIN(TestMainWindow)
#include "test_mainwindow.moc"
