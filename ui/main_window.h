#pragma once
// The main window: conversation list | transcript + prompt box, with menus, toolbar and a status bar showing the
// model, the speed and the cache state. It reads the Controller and asks it to act; it never touches the engine.
#include <QMainWindow>
#include <QMessageBox>
#include <QVariantMap>

#include "app/controller.h"

class QAction;
class QCheckBox;
class QDialog;
class QLabel;
class QMenu;
class QProgressBar;
class QSplitter;
class QTimer;
class QToolButton;

namespace studio {

class BenchmarkPanel;
class ConversationList;
class PromptEdit;
class TranscriptView;
class TranslateBar;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(Controller& controller, QWidget* parent = nullptr);
    ~MainWindow() override;

    // Puts `text` in the prompt box and sends it to the current conversation (a new one if there is none).
    bool submitPrompt(const QString& text);
    QString currentConversationId() const;
    void setCurrentConversation(const QString& id);

    PromptEdit* promptEdit() const { return prompt_; }
    TranscriptView* transcript() const { return transcript_; }
    ConversationList* conversationList() const { return list_; }
    TranslateBar* translateBar() const { return translate_; }

    // Opens a model directory chosen in a QFileDialog.
    void openModel();
    void showSettings();
    void showAbout();
    // This CPU and what each precision runs on here (the About box's last part), as HTML.
    static QString precisionReport();
    void showUserGuide();
    // Tools › Benchmark: the KV-cache benchmark in its own window, prefilled from the prompt box.
    void showBenchmark();
    BenchmarkPanel* benchmarkPanel() const { return benchmarkPanel_; }

signals:
    // The answer of conversation `id` is complete (after the transcript shows it).
    void answerShown(const QString& id);

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void createActions();
    void createMenus();
    void createLayout();
    void connectController();
    void send();
    void newConversation();
    void exportConversation(const QString& id);
    void exportAllConversations();
    void importConversation();
    void onExportFinished(const QString& path, const QString& errorMessage);
    void printConversation();
    void copyLastAnswer();
    void showStatistics();
    void showCurrent();
    void updateTitle();
    void updateActions();
    void updateStatus();
    void updateRecentMenu();
    void showError(const QString& title, const QString& message);
    void rememberCurrentConversation();
    void showMessage(QMessageBox::Icon icon, const QString& title, const QString& message);
    void readGeometry();
    void writeGeometry();

    Controller& controller_;
    ConversationList* list_ = nullptr;
    TranscriptView* transcript_ = nullptr;
    PromptEdit* prompt_ = nullptr;
    TranslateBar* translate_ = nullptr;
    QSplitter* splitter_ = nullptr;
    QLabel* conversationTitle_ = nullptr;
    QCheckBox* carryContext_ = nullptr;
    QToolButton* sendButton_ = nullptr;
    QLabel* modelLabel_ = nullptr;
    QLabel* engineLabel_ = nullptr;  // precision and thread count
    QLabel* speedLabel_ = nullptr;
    QLabel* cacheLabel_ = nullptr;
    QProgressBar* loadBar_ = nullptr;
    QTimer* speedTimer_ = nullptr;
    QMenu* recentMenu_ = nullptr;
    QString loadingDir_;
    QString savedConversation_;  // selected when the app was last closed, reopened once restored
    QString autoSelected_;       // the conversation selected because it arrived first, not by the user
    QDialog* benchmarkDialog_ = nullptr;
    BenchmarkPanel* benchmarkPanel_ = nullptr;
    int exportsPending_ = 0;      // exports asked of the controller and not finished yet
    QStringList exportErrors_;    // their failures, shown together when the last one finishes

    QAction* newAction_ = nullptr;
    QAction* openAction_ = nullptr;
    QAction* exportAction_ = nullptr;
    QAction* exportAllAction_ = nullptr;
    QAction* importAction_ = nullptr;
    QAction* printAction_ = nullptr;
    QAction* quitAction_ = nullptr;
    QAction* sendAction_ = nullptr;
    QAction* stopAction_ = nullptr;
    QAction* continueAction_ = nullptr;
    QAction* regenerateAction_ = nullptr;
    QAction* renameAction_ = nullptr;
    QAction* deleteAction_ = nullptr;
    QAction* findAction_ = nullptr;
    QAction* copyAnswerAction_ = nullptr;
    QAction* settingsAction_ = nullptr;
    QAction* statsAction_ = nullptr;
    QAction* benchmarkAction_ = nullptr;
    QAction* guideAction_ = nullptr;
    QAction* aboutAction_ = nullptr;
};

}  // namespace studio
