#include "ui/main_window.h"

#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QClipboard>
#include <QCloseEvent>
#include <QDesktopServices>
#include <QDialog>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QMenuBar>
#include <QMessageBox>
#include <QPrintDialog>
#include <QPrinter>
#include <QProgressBar>
#include <QSplitter>
#include <QStatusBar>
#include <QStyle>
#include <QTimer>
#include <QToolBar>
#include <QToolButton>
#include <QUrl>
#include <QVBoxLayout>

#include <algorithm>

#include <dnnl.h>
#include <zip.h>

#include "ui/benchmark_panel.h"
#include "ui/conversation_list.h"
#include "ui/prompt_edit.h"
#include "ui/settings_dialog.h"
#include "ui/stats_dialog.h"
#include "ui/transcript_view.h"
#include "ui/translate_bar.h"

// Resources of a static library are registered by hand; Q_INIT_RESOURCE must be outside any namespace.
static void initStudioResources() { Q_INIT_RESOURCE(studio); }

namespace studio {

namespace {

QString formatBytes(qint64 bytes) { return QLocale().formattedDataSize(bytes, 1, QLocale::DataSizeIecFormat); }

QIcon themedIcon(const QString& name, QStyle::StandardPixmap fallback, const QWidget* widget) {
    return QIcon::fromTheme(name, widget->style()->standardIcon(fallback));
}

}  // namespace

MainWindow::MainWindow(Controller& controller, QWidget* parent) : QMainWindow(parent), controller_(controller) {
    initStudioResources();
    setObjectName(QStringLiteral("mainWindow"));
    setWindowIcon(QIcon(QStringLiteral(":/icons/umt5-studio.svg")));
    setMinimumSize(720, 480);
    createActions();
    createLayout();
    createMenus();
    connectController();
    readGeometry();
    updateTitle();
    updateActions();
    updateStatus();
    // Select the newest conversation the controller already knows (restored ones arrive later as signals).
    if (!controller_.conversations().isEmpty())
        setCurrentConversation(controller_.conversation(savedConversation_) ? savedConversation_
                                                                            : controller_.conversations().first().id);
    else
        showCurrent();
    prompt_->setFocus();
}

MainWindow::~MainWindow() = default;

// ---- construction ------------------------------------------------------------------------------------------------

void MainWindow::createActions() {
    auto make = [this](const QString& text, const QKeySequence& key, const QString& tip) {
        auto* action = new QAction(text, this);
        if (!key.isEmpty())
            action->setShortcut(key);
        action->setToolTip(key.isEmpty() ? tip : QStringLiteral("%1 (%2)").arg(tip, key.toString(QKeySequence::NativeText)));
        action->setStatusTip(tip);
        return action;
    };
    newAction_ = make(tr("&New Conversation"), QKeySequence(QStringLiteral("Ctrl+N")), tr("Start a new conversation"));
    newAction_->setIcon(themedIcon(QStringLiteral("document-new"), QStyle::SP_FileIcon, this));
    openAction_ = make(tr("&Open Model…"), QKeySequence(QStringLiteral("Ctrl+O")), tr("Load a umT5 checkpoint directory"));
    openAction_->setIcon(themedIcon(QStringLiteral("document-open"), QStyle::SP_DialogOpenButton, this));
    exportAction_ = make(tr("&Export Conversation…"), QKeySequence(QStringLiteral("Ctrl+Shift+S")),
                         tr("Save the conversation as Markdown, text, HTML, JSON or PDF"));
    exportAllAction_ = make(tr("Export &All Conversations…"), QKeySequence(),
                            tr("Save every conversation into a folder, one file each"));
    importAction_ = make(tr("&Import Conversation…"), QKeySequence(), tr("Open a JSON transcript as a new conversation"));
    printAction_ = make(tr("&Print…"), QKeySequence(QStringLiteral("Ctrl+P")), tr("Print the conversation"));
    quitAction_ = make(tr("&Quit"), QKeySequence(QStringLiteral("Ctrl+Q")), tr("Quit umT5 Studio"));
    quitAction_->setMenuRole(QAction::QuitRole);

    sendAction_ = make(tr("&Send"), QKeySequence(QStringLiteral("Ctrl+Return")), tr("Send the prompt"));
    sendAction_->setIcon(themedIcon(QStringLiteral("mail-send"), QStyle::SP_ArrowForward, this));
    stopAction_ = make(tr("S&top"), QKeySequence(Qt::Key_Escape), tr("Stop generating or loading"));
    stopAction_->setIcon(themedIcon(QStringLiteral("process-stop"), QStyle::SP_MediaStop, this));
    continueAction_ = make(tr("&Continue"), QKeySequence(QStringLiteral("Ctrl+Shift+Return")),
                           tr("Extend the latest answer from the cache"));
    continueAction_->setObjectName(QStringLiteral("continueAction"));
    continueAction_->setIcon(themedIcon(QStringLiteral("media-playback-start"), QStyle::SP_MediaPlay, this));
    regenerateAction_ = make(tr("&Regenerate"), QKeySequence(QStringLiteral("Ctrl+R")),
                             tr("Answer the latest prompt again"));
    regenerateAction_->setObjectName(QStringLiteral("regenerateAction"));
    regenerateAction_->setIcon(themedIcon(QStringLiteral("view-refresh"), QStyle::SP_BrowserReload, this));

    renameAction_ = make(tr("Re&name Conversation…"), QKeySequence(Qt::Key_F2), tr("Rename the conversation"));
    deleteAction_ = make(tr("&Delete Conversation…"), QKeySequence(), tr("Delete the conversation"));
    findAction_ = make(tr("&Find Conversation"), QKeySequence(QStringLiteral("Ctrl+F")), tr("Search the conversations"));
    copyAnswerAction_ = make(tr("Copy Last &Answer"), QKeySequence(QStringLiteral("Ctrl+Shift+C")),
                             tr("Copy the latest answer to the clipboard"));
    settingsAction_ = make(tr("&Settings…"), QKeySequence(QStringLiteral("Ctrl+,")), tr("Generation and engine settings"));
    settingsAction_->setMenuRole(QAction::PreferencesRole);
    settingsAction_->setIcon(themedIcon(QStringLiteral("preferences-system"), QStyle::SP_FileDialogDetailedView, this));
    statsAction_ = make(tr("Generation &Statistics…"), QKeySequence(QStringLiteral("Ctrl+I")),
                        tr("Speed and per-token latency of the latest answer"));
    benchmarkAction_ = make(tr("&Benchmark…"), QKeySequence(QStringLiteral("Ctrl+B")),
                            tr("Decode a prompt with the KV cache and without it, and compare"));
    guideAction_ = make(tr("&User Guide"), QKeySequence(Qt::Key_F1), tr("Open the user guide"));
    aboutAction_ = make(tr("&About umT5 Studio"), QKeySequence(), tr("Versions of the model and the libraries"));
    aboutAction_->setMenuRole(QAction::AboutRole);

    connect(newAction_, &QAction::triggered, this, &MainWindow::newConversation);
    connect(openAction_, &QAction::triggered, this, &MainWindow::openModel);
    connect(exportAction_, &QAction::triggered, this, [this] { exportConversation(currentConversationId()); });
    connect(exportAllAction_, &QAction::triggered, this, &MainWindow::exportAllConversations);
    connect(importAction_, &QAction::triggered, this, &MainWindow::importConversation);
    connect(printAction_, &QAction::triggered, this, &MainWindow::printConversation);
    connect(quitAction_, &QAction::triggered, this, &QWidget::close);
    connect(sendAction_, &QAction::triggered, this, &MainWindow::send);
    connect(stopAction_, &QAction::triggered, &controller_, &Controller::stop);
    connect(continueAction_, &QAction::triggered, this,
            [this] { controller_.continueAnswer(currentConversationId(), controller_.settings()); });
    connect(regenerateAction_, &QAction::triggered, this,
            [this] { controller_.regenerate(currentConversationId(), controller_.settings()); });
    connect(copyAnswerAction_, &QAction::triggered, this, &MainWindow::copyLastAnswer);
    connect(settingsAction_, &QAction::triggered, this, &MainWindow::showSettings);
    connect(statsAction_, &QAction::triggered, this, &MainWindow::showStatistics);
    connect(benchmarkAction_, &QAction::triggered, this, &MainWindow::showBenchmark);
    connect(guideAction_, &QAction::triggered, this, &MainWindow::showUserGuide);
    connect(aboutAction_, &QAction::triggered, this, &MainWindow::showAbout);
}

void MainWindow::createMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(newAction_);
    file->addSeparator();
    file->addAction(openAction_);
    recentMenu_ = file->addMenu(tr("&Recent Models"));
    recentMenu_->setObjectName(QStringLiteral("recentModelsMenu"));
    connect(recentMenu_, &QMenu::aboutToShow, this, &MainWindow::updateRecentMenu);
    updateRecentMenu();
    file->addSeparator();
    file->addAction(importAction_);
    file->addAction(exportAction_);
    file->addAction(exportAllAction_);
    file->addAction(printAction_);
    file->addSeparator();
    file->addAction(quitAction_);

    QMenu* edit = menuBar()->addMenu(tr("&Edit"));
    edit->addAction(copyAnswerAction_);
    edit->addAction(findAction_);
    edit->addSeparator();
    edit->addAction(renameAction_);
    edit->addAction(deleteAction_);
    edit->addSeparator();
    edit->addAction(settingsAction_);

    QMenu* generate = menuBar()->addMenu(tr("&Generate"));
    generate->addAction(sendAction_);
    generate->addAction(stopAction_);
    generate->addAction(continueAction_);
    generate->addAction(regenerateAction_);
    generate->addSeparator();
    generate->addAction(statsAction_);

    QMenu* toolsMenu = menuBar()->addMenu(tr("&Tools"));
    toolsMenu->addAction(benchmarkAction_);

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(guideAction_);
    help->addAction(aboutAction_);

    QToolBar* tools = addToolBar(tr("Main"));
    tools->setObjectName(QStringLiteral("mainToolBar"));
    tools->setMovable(false);
    tools->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    tools->addAction(newAction_);
    tools->addSeparator();
    tools->addAction(sendAction_);
    tools->addAction(stopAction_);
    tools->addAction(continueAction_);
    tools->addAction(regenerateAction_);
    tools->addSeparator();
    tools->addAction(openAction_);
    tools->addAction(settingsAction_);
}

void MainWindow::createLayout() {
    splitter_ = new QSplitter(Qt::Horizontal, this);
    splitter_->setObjectName(QStringLiteral("mainSplitter"));
    splitter_->setChildrenCollapsible(false);

    list_ = new ConversationList(controller_, splitter_);
    list_->setMinimumWidth(180);
    splitter_->addWidget(list_);

    auto* right = new QWidget(splitter_);
    auto* column = new QVBoxLayout(right);
    column->setContentsMargins(6, 0, 0, 0);

    auto* header = new QHBoxLayout;
    conversationTitle_ = new QLabel(right);
    conversationTitle_->setObjectName(QStringLiteral("conversationTitle"));
    QFont titleFont = conversationTitle_->font();
    titleFont.setPointSizeF(titleFont.pointSizeF() * 1.15);
    titleFont.setWeight(QFont::DemiBold);
    conversationTitle_->setFont(titleFont);
    conversationTitle_->setTextFormat(Qt::PlainText);
    conversationTitle_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    carryContext_ = new QCheckBox(tr("Carry &context"), right);
    carryContext_->setObjectName(QStringLiteral("carryContext"));
    carryContext_->setToolTip(tr("Give the model the earlier turns of this conversation with every new prompt"));
    header->addWidget(conversationTitle_, 1);
    header->addWidget(carryContext_);
    column->addLayout(header);

    transcript_ = new TranscriptView(right);
    column->addWidget(transcript_, 1);

    translate_ = new TranslateBar(right);
    column->addWidget(translate_);

    auto* promptRow = new QHBoxLayout;
    prompt_ = new PromptEdit(right);
    prompt_->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    promptRow->addWidget(prompt_, 1);
    sendButton_ = new QToolButton(right);
    sendButton_->setObjectName(QStringLiteral("sendButton"));
    sendButton_->setDefaultAction(sendAction_);
    sendButton_->setToolButtonStyle(Qt::ToolButtonTextUnderIcon);
    sendButton_->setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Expanding);
    promptRow->addWidget(sendButton_);
    column->addLayout(promptRow);

    splitter_->addWidget(right);
    splitter_->setStretchFactor(0, 0);
    splitter_->setStretchFactor(1, 1);
    splitter_->setSizes({240, 760});
    setCentralWidget(splitter_);

    // Status bar: model | speed | cache, and a progress bar while a model loads.
    modelLabel_ = new QLabel(this);
    modelLabel_->setObjectName(QStringLiteral("modelLabel"));
    engineLabel_ = new QLabel(this);
    engineLabel_->setObjectName(QStringLiteral("engineLabel"));
    engineLabel_->setToolTip(tr("Weight precision and CPU threads of the engine (Settings › Engine)"));
    speedLabel_ = new QLabel(this);
    speedLabel_->setObjectName(QStringLiteral("speedLabel"));
    cacheLabel_ = new QLabel(this);
    cacheLabel_->setObjectName(QStringLiteral("cacheLabel"));
    loadBar_ = new QProgressBar(this);
    loadBar_->setObjectName(QStringLiteral("loadProgress"));
    loadBar_->setRange(0, 100);
    loadBar_->setMaximumWidth(160);
    loadBar_->setVisible(false);
    statusBar()->addWidget(modelLabel_);
    statusBar()->addWidget(engineLabel_);
    statusBar()->addPermanentWidget(loadBar_);
    statusBar()->addPermanentWidget(speedLabel_);
    statusBar()->addPermanentWidget(cacheLabel_);
    speedTimer_ = new QTimer(this);
    speedTimer_->setInterval(250);
    connect(speedTimer_, &QTimer::timeout, this, &MainWindow::updateStatus);

    connect(prompt_, &PromptEdit::submitRequested, this, &MainWindow::send);
    connect(prompt_, &QPlainTextEdit::textChanged, this, &MainWindow::updateActions);
    connect(list_, &ConversationList::currentChanged, this, &MainWindow::showCurrent);
    connect(list_, &ConversationList::currentChanged, this, &MainWindow::rememberCurrentConversation);
    connect(list_, &ConversationList::newRequested, this, &MainWindow::newConversation);
    connect(list_, &ConversationList::exportRequested, this, &MainWindow::exportConversation);
    connect(renameAction_, &QAction::triggered, this, [this] { list_->renameInteractively(currentConversationId()); });
    connect(deleteAction_, &QAction::triggered, this, [this] { list_->deleteInteractively(currentConversationId()); });
    connect(findAction_, &QAction::triggered, this, [this] {
        list_->searchField()->setFocus();
        list_->searchField()->selectAll();
    });
    connect(carryContext_, &QCheckBox::toggled, this,
            [this](bool on) { controller_.setCarryContext(currentConversationId(), on); });
    connect(translate_, &TranslateBar::prefixRequested, this, [this](const QString& prefix) {
        prompt_->setPlainText(TranslateBar::applyPrefix(prompt_->toPlainText(), prefix));
        prompt_->moveCursor(QTextCursor::End);
        prompt_->setFocus();
    });
    connect(translate_, &TranslateBar::prefixChanged, this, [this](const QString& prefix) {
        // Only a prefix that is already there follows the pickers.
        const QString text = prompt_->toPlainText();
        if (TranslateBar::prefixLength(text) > 0) {
            prompt_->setPlainText(TranslateBar::applyPrefix(text, prefix));
            prompt_->moveCursor(QTextCursor::End);
        }
    });
}

void MainWindow::connectController() {
    connect(&controller_, &Controller::modelLoadStarted, this, [this](const QString& dir) {
        loadingDir_ = dir;
        loadBar_->setValue(0);
        loadBar_->setVisible(true);
        statusBar()->showMessage(tr("Loading %1…").arg(QDir::toNativeSeparators(dir)));
        updateTitle();
        updateActions();
    });
    connect(&controller_, &Controller::loadProgress, this,
            [this](double fraction) { loadBar_->setValue(int(fraction * 100.0)); });
    connect(&controller_, &Controller::modelLoaded, this, [this](const QVariantMap& info) {
        loadBar_->setVisible(controller_.isLoading());
        statusBar()->clearMessage();
        // A disabled menu never shows, so it is filled here, not only when it opens.
        updateRecentMenu();
        updateTitle();
        updateActions();
        updateStatus();
    });
    connect(&controller_, &Controller::modelLoadFailed, this, [this](const QString& dir, const QString& message) {
        loadBar_->setVisible(controller_.isLoading());
        statusBar()->clearMessage();
        updateTitle();
        updateActions();
        updateStatus();
        showError(tr("Could Not Load the Model"),
                  tr("<p>The model in <b>%1</b> could not be loaded:</p><p>%2</p>%3")
                      .arg(QDir::toNativeSeparators(dir).toHtmlEscaped(), message.toHtmlEscaped(),
                           controller_.hasModel() ? tr("<p>%1 stays loaded.</p>").arg(controller_.modelName())
                                                  : QString()));
    });
    connect(&controller_, &Controller::startupFallback, this, [this](const QString& message) {
        statusBar()->showMessage(message, 15000);
        showMessage(QMessageBox::Warning, tr("Model Replaced at Start"), message.toHtmlEscaped());
    });
    connect(&controller_, &Controller::precisionRejected, this, [this](const QString& precision, const QString& reason) {
        showMessage(QMessageBox::Warning, tr("Precision Not Available"),
                    tr("<p>%1 cannot run on this CPU: %2.</p><p>%3 stays in use.</p>")
                        .arg(precision.toHtmlEscaped(), reason.toHtmlEscaped(), controller_.settings().precision));
    });
    connect(&controller_, &Controller::restoreWarning, this,
            [this](const QString& message) { statusBar()->showMessage(message, 8000); });
    connect(&controller_, &Controller::conversationAdded, this, [this](const QString& id) {
        if (currentConversationId().isEmpty()) {
            setCurrentConversation(id);
            autoSelected_ = id;
        }
    });
    connect(&controller_, &Controller::exportFinished, this, &MainWindow::onExportFinished);
    connect(&controller_, &Controller::importFinished, this,
            [this](const QString& path, const QString& id, const QString& errorMessage) {
                if (!errorMessage.isEmpty()) {
                    showError(tr("Import Failed"), errorMessage.toHtmlEscaped());
                    return;
                }
                setCurrentConversation(id);
                statusBar()->showMessage(tr("Imported %1").arg(QDir::toNativeSeparators(path)), 5000);
            });
    connect(&controller_, &Controller::conversationsRestored, this, [this](int count) {
        // Open the conversation selected when the app was closed (else the most recent one), unless the user
        // already works in one (rather than in the first one restored, which was selected on arrival).
        const QString currentId = currentConversationId();
        const ConversationView* current = controller_.conversation(currentId);
        if (count > 0 && (!current || current->turns.isEmpty() || currentId == autoSelected_)) {
            const QString& saved = savedConversation_;
            setCurrentConversation(controller_.conversation(saved) ? saved : controller_.conversations().first().id);
        }
    });
    connect(&controller_, &Controller::conversationRemoved, this, [this] {
        if (currentConversationId().isEmpty() && !controller_.conversations().isEmpty())
            setCurrentConversation(controller_.conversations().first().id);
        showCurrent();
    });
    connect(&controller_, &Controller::conversationRenamed, this, [this](const QString& id) {
        if (id == currentConversationId())
            updateTitle();
    });
    connect(&controller_, &Controller::transcriptChanged, this, [this](const QString& id) {
        if (id == currentConversationId())
            transcript_->showConversation(controller_.conversation(id));
        updateActions();
    });
    connect(&controller_, &Controller::generationStarted, this, [this](const QString& id) {
        if (id == currentConversationId())
            transcript_->showConversation(controller_.conversation(id));
        speedTimer_->start();
        updateActions();
        updateStatus();
    });
    connect(&controller_, &Controller::tokenGenerated, this, [this](const QString& id, const QString& text) {
        if (id == currentConversationId())
            transcript_->appendAnswerText(text);
    });
    connect(&controller_, &Controller::generationFinished, this, [this](const QString& id, const QVariantMap& stats) {
        if (!stats.value(QStringLiteral("saved"), true).toBool())
            statusBar()->showMessage(tr("Could not save the conversation: %1")
                                         .arg(stats.value(QStringLiteral("saveError")).toString()), 8000);
        updateStatus();
        updateActions();
        emit answerShown(id);
    });
    connect(&controller_, &Controller::generationFailed, this,
            [this](const QString& id, const QString& message, const QString& prompt) {
                // The prompt goes back into the box (if the user has not typed another) to be sent again.
                if (!prompt.isEmpty() && prompt_->toPlainText().trimmed().isEmpty() && id == currentConversationId())
                    prompt_->setPlainText(prompt);
                statusBar()->showMessage(message, 8000);
                updateStatus();
                updateActions();
            });
    connect(&controller_, &Controller::busyChanged, this, [this](bool busy) {
        if (!busy)
            speedTimer_->stop();
        updateActions();
        updateStatus();
    });
}

// ---- state -------------------------------------------------------------------------------------------------------

QString MainWindow::currentConversationId() const { return list_->currentId(); }

void MainWindow::setCurrentConversation(const QString& id) { list_->setCurrentId(id); }

void MainWindow::showCurrent() {
    const ConversationView* view = controller_.conversation(currentConversationId());
    transcript_->showConversation(view);
    {
        const QSignalBlocker blocker(carryContext_);
        carryContext_->setChecked(view && view->carryContext);
    }
    updateTitle();
    updateActions();
    updateStatus();
}

void MainWindow::updateTitle() {
    QString model = controller_.modelName();
    if (controller_.isLoading())
        model = tr("loading %1…").arg(QFileInfo(loadingDir_).fileName());
    else if (model.isEmpty())
        model = tr("no model");
    setWindowTitle(tr("umT5 Studio — %1").arg(model));
    const ConversationView* view = controller_.conversation(currentConversationId());
    conversationTitle_->setText(view ? (view->title.isEmpty() ? tr("New conversation") : view->title) : QString());
}

void MainWindow::updateActions() {
    const ConversationView* view = controller_.conversation(currentConversationId());
    const bool ready = controller_.hasModel() && !controller_.isLoading();
    const bool idle = !view || view->pending == 0;
    const bool answered = view && !view->turns.isEmpty() && !view->turns.last().finish.isEmpty();
    // An answer the model ended itself (eos) has nothing to continue.
    const bool open = answered && view->turns.last().finish != QLatin1String("eos");
    sendAction_->setEnabled(ready && idle);
    stopAction_->setEnabled(controller_.isBusy() || controller_.isLoading());
    continueAction_->setEnabled(ready && idle && open);
    regenerateAction_->setEnabled(ready && idle && answered);
    renameAction_->setEnabled(view);
    deleteAction_->setEnabled(view);
    exportAction_->setEnabled(view && !view->turns.isEmpty());
    exportAllAction_->setEnabled(!controller_.conversations().isEmpty());
    printAction_->setEnabled(view && !view->turns.isEmpty());
    copyAnswerAction_->setEnabled(answered);
    statsAction_->setEnabled(view && !view->lastStats.isEmpty());
    carryContext_->setEnabled(view);
}

void MainWindow::updateStatus() {
    const QString model = controller_.modelName();
    if (model.isEmpty()) {
        modelLabel_->setText(controller_.isLoading() ? tr("Loading model…") : tr("No model loaded"));
    } else {
        const QVariantMap info = controller_.modelInfo();
        modelLabel_->setText(tr("%1 · %2M parameters")
                                 .arg(model, QLocale().toString(info.value(QStringLiteral("parameters")).toDouble() / 1e6, 'f', 1)));
        modelLabel_->setToolTip(info.value(QStringLiteral("dir")).toString());
    }
    const GenerationSettings settings = controller_.settings();
    if (controller_.hasModel()) {
        // The precision the weights were packed in (a change in Settings reloads), and the threads the next
        // request runs with: the setting, or the engine's default count when it is automatic.
        const QVariantMap info = controller_.modelInfo();
        const int threads = settings.threads > 0 ? settings.threads : info.value(QStringLiteral("threads")).toInt();
        engineLabel_->setText(tr("%1 · %2").arg(info.value(QStringLiteral("precision")).toString(),
                                                threads == 1 ? tr("1 thread") : tr("%1 threads").arg(threads)));
    } else {
        engineLabel_->clear();
    }

    const QString id = currentConversationId();
    const double tps = controller_.tokensPerSecond(id);
    speedLabel_->setText(tps > 0 ? tr("%1 tokens/s").arg(QLocale().toString(tps, 'f', 1)) : QString());

    const ConversationView* view = controller_.conversation(id);
    QString cache;
    if (!settings.useCache) {
        cache = tr("cache: off");
    } else if (view && view->generating) {
        // What the running generation does, not what the previous answer did.
        cache = view->encoderReusedNow ? tr("cache: %1, encoder reused").arg(formatBytes(view->cacheBytes))
                                       : tr("cache: building, encoder run");
    } else if (view) {
        cache = tr("cache: %1").arg(view->cacheBytes > 0 ? formatBytes(view->cacheBytes) : tr("empty"));
        if (!view->lastStats.isEmpty())
            cache += view->lastStats.value(QStringLiteral("encoderReused")).toBool() ? tr(", encoder reused")
                                                                                      : tr(", encoder run");
    }
    cacheLabel_->setText(cache);
}

void MainWindow::updateRecentMenu() {
    recentMenu_->clear();
    const QStringList recent = controller_.recentModels();
    for (const QString& dir : recent) {
        QAction* action = recentMenu_->addAction(QDir::toNativeSeparators(dir));
        connect(action, &QAction::triggered, this, [this, dir] { controller_.loadModel(dir); });
    }
    recentMenu_->setEnabled(!recent.isEmpty());
}

// ---- commands ----------------------------------------------------------------------------------------------------

void MainWindow::newConversation() {
    const QString id = controller_.newConversation();
    setCurrentConversation(id);
    autoSelected_.clear();  // chosen by the user
    prompt_->setFocus();
}

bool MainWindow::submitPrompt(const QString& text) {
    prompt_->setPlainText(text);
    const QString before = prompt_->toPlainText();
    send();
    return prompt_->toPlainText() != before;
}

void MainWindow::send() {
    const QString text = prompt_->toPlainText().trimmed();
    if (text.isEmpty() || !sendAction_->isEnabled())
        return;
    QString id = currentConversationId();
    if (id.isEmpty()) {
        id = controller_.newConversation();
        setCurrentConversation(id);
    }
    if (id == autoSelected_)
        autoSelected_.clear();  // the user works in it now
    if (controller_.submit(id, text, controller_.settings()))
        prompt_->clear();
}

void MainWindow::copyLastAnswer() {
    const ConversationView* view = controller_.conversation(currentConversationId());
    if (view && !view->turns.isEmpty())
        QApplication::clipboard()->setText(view->turns.last().answer);
}

void MainWindow::openModel() {
    const QString start = controller_.modelInfo().value(QStringLiteral("dir")).toString();
    const QString dir = QFileDialog::getExistingDirectory(
        this, tr("Open Model Directory (config.json, weights, spiece.model)"), start);
    if (!dir.isEmpty())
        controller_.loadModel(dir);
}

void MainWindow::showSettings() {
    SettingsDialog dialog(controller_.settings(), this);
    dialog.setPrecisionChoices(precisionChoices());
    if (dialog.exec() == QDialog::Accepted) {
        controller_.setSettings(dialog.settings());
        updateStatus();
    }
}

void MainWindow::showStatistics() {
    const ConversationView* view = controller_.conversation(currentConversationId());
    if (!view || view->lastStats.isEmpty())
        return;
    StatsDialog dialog(view->title, view->lastStats, this);
    dialog.exec();
}

void MainWindow::showBenchmark() {
    if (!benchmarkDialog_) {
        benchmarkDialog_ = new QDialog(this);
        benchmarkDialog_->setWindowTitle(tr("Benchmark — KV Cache On versus Off"));
        auto* layout = new QVBoxLayout(benchmarkDialog_);
        benchmarkPanel_ = new BenchmarkPanel(controller_, benchmarkDialog_);
        layout->addWidget(benchmarkPanel_);
        benchmarkDialog_->resize(1180, 820);
        // A closed window should not keep the CPU busy.
        connect(benchmarkDialog_, &QDialog::finished, benchmarkPanel_, &BenchmarkPanel::cancel);
    }
    const QString prompt = prompt_->toPlainText().trimmed();
    if (!prompt.isEmpty() && !benchmarkPanel_->isRunning())
        benchmarkPanel_->setPrompt(prompt);
    benchmarkDialog_->show();
    benchmarkDialog_->raise();
    benchmarkDialog_->activateWindow();
}

namespace {

// "Markdown (*.md)" and the like, in Controller::exportFormats() order.
QStringList exportFilters() {
    return {QObject::tr("Markdown (*.md)"), QObject::tr("Plain text (*.txt)"), QObject::tr("HTML (*.html)"),
            QObject::tr("JSON transcript (*.json)"), QObject::tr("PDF (*.pdf)")};
}

}  // namespace

void MainWindow::exportConversation(const QString& id) {
    const ConversationView* view = controller_.conversation(id);
    if (!view)
        return;
    const QStringList formats = Controller::exportFormats();
    const QStringList filters = exportFilters();
    QString filter = filters.first();
    QString path = QFileDialog::getSaveFileName(this, tr("Export Conversation"),
                                                Controller::exportFileName(view->title, view->id, formats.first()),
                                                filters.join(QStringLiteral(";;")), &filter);
    if (path.isEmpty())
        return;
    // The extension decides the format; without a known one, the chosen filter does and its extension is added.
    QString format = Controller::formatForPath(path);
    if (format.isEmpty()) {
        format = formats.value(std::max(0, int(filters.indexOf(filter))));
        path += QLatin1Char('.') + format;
    }
    ++exportsPending_;
    controller_.exportConversation(id, format, path);
}

void MainWindow::exportAllConversations() {
    const QStringList filters = exportFilters();
    bool ok = false;
    const QString filter = QInputDialog::getItem(this, tr("Export All Conversations"), tr("Format:"), filters, 0,
                                                 false, &ok);
    if (!ok)
        return;
    const QString folder = QFileDialog::getExistingDirectory(this, tr("Export All Conversations Into"));
    if (folder.isEmpty())
        return;
    const QString format = Controller::exportFormats().value(std::max(0, int(filters.indexOf(filter))));
    exportsPending_ += controller_.exportAllConversations(folder, format);
}

void MainWindow::onExportFinished(const QString& path, const QString& errorMessage) {
    exportsPending_ = std::max(0, exportsPending_ - 1);
    if (!errorMessage.isEmpty())
        exportErrors_.append(errorMessage);
    if (exportsPending_ > 0)
        return;
    if (exportErrors_.isEmpty()) {
        statusBar()->showMessage(tr("Exported %1").arg(QDir::toNativeSeparators(path)), 5000);
        return;
    }
    QStringList lines;
    for (const QString& error : std::as_const(exportErrors_))
        lines.append(error.toHtmlEscaped());
    exportErrors_.clear();
    showError(tr("Export Failed"), lines.join(QStringLiteral("<br>")));
}

void MainWindow::importConversation() {
    const QString path = QFileDialog::getOpenFileName(this, tr("Import Conversation"), QString(),
                                                      tr("JSON transcript (*.json);;All files (*)"));
    if (!path.isEmpty())
        controller_.importConversation(path);
}

void MainWindow::printConversation() {
    QPrinter printer(QPrinter::HighResolution);
    QPrintDialog dialog(&printer, this);
    if (dialog.exec() == QDialog::Accepted)
        transcript_->document()->print(&printer);
}

void MainWindow::showUserGuide() {
    const QStringList candidates = {
        QDir(QCoreApplication::applicationDirPath()).filePath(QStringLiteral("../share/doc/umt5-studio/user-guide.md")),
        QStringLiteral(UMT5_INSTALL_DOCS_DIR "/user-guide.md"),
        QStringLiteral(UMT5_SOURCE_DOCS_DIR "/user-guide.md"),
    };
    for (const QString& path : candidates) {
        if (QFileInfo::exists(path)) {
            if (!QDesktopServices::openUrl(QUrl::fromLocalFile(QFileInfo(path).canonicalFilePath())))
                showError(tr("User Guide"), tr("No application could open %1.").arg(path.toHtmlEscaped()));
            return;
        }
    }
    showError(tr("User Guide"), tr("The user guide (user-guide.md) is not installed."));
}

void MainWindow::showAbout() {
    const dnnl_version_t* dnnl = dnnl_version();
    const QVariantMap info = controller_.modelInfo();
    QString model = tr("No model is loaded.");
    if (!info.isEmpty())
        model = tr("Model: <b>%1</b> — %2 million parameters, %3 layers, d_model %4, vocabulary %5<br>%6")
                    .arg(info.value(QStringLiteral("name")).toString().toHtmlEscaped(),
                         QLocale().toString(info.value(QStringLiteral("parameters")).toDouble() / 1e6, 'f', 1))
                    .arg(info.value(QStringLiteral("layers")).toLongLong())
                    .arg(info.value(QStringLiteral("dModel")).toLongLong())
                    .arg(info.value(QStringLiteral("vocab")).toLongLong())
                    .arg(QDir::toNativeSeparators(info.value(QStringLiteral("dir")).toString()).toHtmlEscaped());
    QMessageBox::about(
        this, tr("About umT5 Studio"),
        tr("<h3>umT5 Studio %1</h3>"
           "<p>Runs Google's umT5 encoder-decoder models locally on the CPU, with a persistent KV cache.</p>"
           "<p>%2</p>"
           "<p>Built with Qt %3 (running %4), oneDNN %5.%6.%7, sentencepiece %8, libzip %9.</p>")
                .arg(QStringLiteral(UMT5_VERSION), model, QStringLiteral(QT_VERSION_STR), QString::fromLatin1(qVersion()))
                .arg(dnnl->major)
                .arg(dnnl->minor)
                .arg(dnnl->patch)
                .arg(QStringLiteral(UMT5_SENTENCEPIECE_VERSION), QString::fromLatin1(zip_libzip_version())) +
            precisionReport());
}

QString MainWindow::precisionReport() {
    QString rows;
    for (const PrecisionChoice& choice : precisionChoices())
        rows += choice.runs ? tr("<tr><td><b>%1</b></td><td>runs</td><td>%2</td><td>%3</td></tr>")
                                  .arg(choice.name, choice.isa.toHtmlEscaped(), choice.kernel.toHtmlEscaped())
                            : tr("<tr><td><b>%1</b></td><td>no</td><td colspan=\"2\">%2</td></tr>")
                                  .arg(choice.name, choice.reason.toHtmlEscaped());
    return tr("<p>CPU: %1</p><table cellspacing=\"6\"><tr><th align=\"left\">precision</th>"
              "<th align=\"left\">on this CPU</th><th align=\"left\">instruction set</th>"
              "<th align=\"left\">kernel</th></tr>%2</table>")
        .arg(cpuSummary().toHtmlEscaped(), rows);
}

void MainWindow::showError(const QString& title, const QString& message) {
    showMessage(QMessageBox::Critical, title, message);
}

void MainWindow::showMessage(QMessageBox::Icon icon, const QString& title, const QString& message) {
    // Window-modal and non-blocking, so a failure never stalls the event loop (or a test).
    auto* box = new QMessageBox(icon, title, message, QMessageBox::Ok, this);
    box->setTextFormat(Qt::RichText);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->setObjectName(icon == QMessageBox::Critical ? QStringLiteral("errorBox") : QStringLiteral("warningBox"));
    box->open();
}

// ---- window state ------------------------------------------------------------------------------------------------

void MainWindow::rememberCurrentConversation() {
    const QString id = currentConversationId();
    if (id.isEmpty())
        return;
    QSettings& s = controller_.settingsStore();
    s.setValue(QStringLiteral("window/conversation"), id);
}

void MainWindow::readGeometry() {
    QSettings& s = controller_.settingsStore();
    savedConversation_ = s.value(QStringLiteral("window/conversation")).toString();
    if (!restoreGeometry(s.value(QStringLiteral("window/geometry")).toByteArray()))
        resize(1100, 720);
    splitter_->restoreState(s.value(QStringLiteral("window/splitter")).toByteArray());
    const QString language = s.value(QStringLiteral("translate/language")).toString();
    if (!language.isEmpty())
        translate_->setLanguage(language);
    translate_->setFromEnglish(s.value(QStringLiteral("translate/fromEnglish"), true).toBool());
}

void MainWindow::writeGeometry() {
    QSettings& s = controller_.settingsStore();
    s.setValue(QStringLiteral("window/geometry"), saveGeometry());
    s.setValue(QStringLiteral("window/splitter"), splitter_->saveState());
    const QString prefix = translate_->currentPrefix();
    const bool fromEnglish = prefix.startsWith(QLatin1String("translate English to "));
    s.setValue(QStringLiteral("translate/fromEnglish"), fromEnglish);
    s.setValue(QStringLiteral("translate/language"),
               prefix.section(QLatin1Char(' '), fromEnglish ? 3 : 1, fromEnglish ? 3 : 1).remove(QLatin1Char(':')));
    s.sync();
}

void MainWindow::closeEvent(QCloseEvent* event) {
    // Generation stops at once; the Controller's destructor then waits for the worker thread.
    controller_.stop();
    writeGeometry();
    event->accept();
}

}  // namespace studio
