#include "app/controller.h"

#include "app/error_text.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QRandomGenerator>
#include <QStandardPaths>

#include "app/pdf_export.h"
#include "core/formats/atomic_file.h"
#include "core/engine/model.h"

namespace studio {

namespace {

constexpr int kMaxRecentModels = 8;

QString fromPath(const std::filesystem::path& path) { return QFile::decodeName(QByteArray::fromStdString(path.string())); }

}  // namespace

void registerMetaTypes() {
    qRegisterMetaType<StopFlag>();
    qRegisterMetaType<GenerationSettings>();
    qRegisterMetaType<RequestKind>();
    qRegisterMetaType<GenerationRequest>();
    qRegisterMetaType<AnswerSnapshot>();
    qRegisterMetaType<TurnSnapshot>();
    qRegisterMetaType<ConversationSnapshot>();
    qRegisterMetaType<ConversationHandle>();
}

QString Controller::defaultDataDir() {
    const QString fromEnv = qEnvironmentVariable("UMT5_STUDIO_DATA_DIR");
    if (!fromEnv.isEmpty())
        return fromEnv;
    return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
}

Controller::Controller(const QString& dataDir, QObject* parent)
    : QObject(parent),
      dataDir_(dataDir),
      settings_((QDir().mkpath(dataDir), QDir(dataDir).filePath(QStringLiteral("settings.ini"))), QSettings::IniFormat) {
    registerMetaTypes();
    readSettings();

    worker_ = new Worker(dataDir_);
    worker_->moveToThread(&thread_);
    thread_.setObjectName(QStringLiteral("umt5-worker"));
    connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);

    // GUI -> worker.
    constexpr auto queued = Qt::QueuedConnection;
    connect(this, &Controller::requestLoad, worker_, &Worker::loadModel, queued);
    connect(this, &Controller::requestRestore, worker_, &Worker::restoreConversations, queued);
    connect(this, &Controller::requestAdd, worker_, &Worker::addConversation, queued);
    connect(this, &Controller::requestRemove, worker_, &Worker::removeConversation, queued);
    connect(this, &Controller::requestRename, worker_, &Worker::renameConversation, queued);
    connect(this, &Controller::requestCarryContext, worker_, &Worker::setCarryContext, queued);
    connect(this, &Controller::requestCacheBudget, worker_, &Worker::setCacheBudget, queued);
    connect(this, &Controller::requestGenerate, worker_, &Worker::generate, queued);
    connect(this, &Controller::requestExport, worker_, &Worker::exportConversation, queued);
    connect(this, &Controller::requestImport, worker_, &Worker::importConversation, queued);

    // Worker -> GUI.
    connect(worker_, &Worker::loadProgress, this, &Controller::loadProgress, queued);
    connect(worker_, &Worker::modelLoaded, this, [this](const QVariantMap& info) {
        if (!loadStops_.isEmpty())
            loadStops_.removeFirst();
        --loading_;
        fallbackPending_ = false;
        modelInfo_ = info;
        rememberModel(info.value(QStringLiteral("dir")).toString());
        emit modelLoaded(info);
    }, queued);
    connect(worker_, &Worker::modelLoadFailed, this, [this](const QString& dir, const QString& message) {
        if (!loadStops_.isEmpty())
            loadStops_.removeFirst();
        --loading_;
        // The model of the start failed (gone, damaged, or a precision this CPU refuses): open the embedded demo
        // model in fp32 rather than leave the window without any model.
        if (fallbackPending_ && loading_ == 0 && !hasModel()) {
            fallbackPending_ = false;
            const QString failedPrecision = settingsValue_.precision;
            settingsValue_.precision = QStringLiteral("fp32");
            emit startupFallback(tr("%1 could not be loaded in %2: %3. The demo model is loaded in fp32 instead.")
                                     .arg(QDir::toNativeSeparators(dir), failedPrecision, message));
            loadModel(fromPath(umt5::Model::default_model_dir()));
            return;
        }
        emit modelLoadFailed(dir, message);
    }, queued);
    connect(worker_, &Worker::restoreWarning, this, &Controller::restoreWarning, queued);
    connect(worker_, &Worker::conversationRestored, this, &Controller::onRestored, queued);
    connect(worker_, &Worker::restoreFinished, this, &Controller::conversationsRestored, queued);
    connect(worker_, &Worker::started, this, &Controller::onStarted, queued);
    connect(worker_, &Worker::tokenGenerated, this, &Controller::onToken, queued);
    connect(worker_, &Worker::finished, this, &Controller::onFinished, queued);
    connect(worker_, &Worker::failed, this, &Controller::onFailed, queued);
    connect(worker_, &Worker::conversationSynced, this, &Controller::onSynced, queued);
    connect(worker_, &Worker::exportFinished, this, &Controller::exportFinished, queued);
    connect(worker_, &Worker::pdfHtmlReady, this, &Controller::writePdf, queued);
    connect(worker_, &Worker::conversationImported, this, &Controller::onImported, queued);
    connect(worker_, &Worker::importFailed, this,
            [this](const QString& path, const QString& message) { emit importFinished(path, QString(), message); },
            queued);
    connectBenchmark();

    thread_.start();
    emit requestCacheBudget(qint64(settingsValue_.cacheBudgetMiB) << 20);
}

Controller::~Controller() {
    // Stop at once: the running request sees its flag at the next token or encoder block, queued ones are skipped.
    for (Job& job : jobs_)
        job.stop->store(true);
    for (StopFlag& flag : loadStops_)
        flag->store(true);
    stopBenchmarks();
    // Quit behind the requests already queued, so renames and deletions still reach the saved sessions.
    QMetaObject::invokeMethod(worker_, [thread = &thread_] { thread->quit(); }, Qt::QueuedConnection);
    thread_.wait();
}

QString Controller::modelName() const { return modelInfo_.value(QStringLiteral("name")).toString(); }

ConversationView* Controller::find(const QString& id) {
    for (ConversationView& view : conversations_)
        if (view.id == id)
            return &view;
    return nullptr;
}

const ConversationView* Controller::conversation(const QString& id) const {
    return const_cast<Controller*>(this)->find(id);
}

// ---- settings ----------------------------------------------------------------------------------------------------

void Controller::readSettings() {
    GenerationSettings d;
    QSettings& s = settings_;
    s.beginGroup(QStringLiteral("generation"));
    settingsValue_.maxNewTokens = s.value(QStringLiteral("maxNewTokens"), d.maxNewTokens).toInt();
    settingsValue_.temperature = s.value(QStringLiteral("temperature"), d.temperature).toDouble();
    settingsValue_.topK = s.value(QStringLiteral("topK"), d.topK).toInt();
    settingsValue_.topP = s.value(QStringLiteral("topP"), d.topP).toDouble();
    settingsValue_.repetitionPenalty = s.value(QStringLiteral("repetitionPenalty"), d.repetitionPenalty).toDouble();
    settingsValue_.seed = s.value(QStringLiteral("seed"), d.seed).toULongLong();
    settingsValue_.randomSeed = s.value(QStringLiteral("randomSeed"), d.randomSeed).toBool();
    settingsValue_.threads = s.value(QStringLiteral("threads"), d.threads).toInt();
    settingsValue_.precision = s.value(QStringLiteral("precision"), d.precision).toString();
    if (settingsValue_.precision != QLatin1String("bf16") && settingsValue_.precision != QLatin1String("int8"))
        settingsValue_.precision = d.precision;
    // A precision saved on another CPU (or before the cap was lowered) that this one cannot run: fp32 instead,
    // and loadStartupModel() says so.
    if (const PrecisionChoice choice = precisionChoice(settingsValue_.precision); !choice.runs) {
        refusedPrecision_ = choice;
        settingsValue_.precision = d.precision;
    }
    settingsValue_.useCache = s.value(QStringLiteral("useCache"), d.useCache).toBool();
    settingsValue_.cacheBudgetMiB = s.value(QStringLiteral("cacheBudgetMiB"), d.cacheBudgetMiB).toInt();
    s.endGroup();
}

void Controller::setSettings(const GenerationSettings& requested) {
    GenerationSettings value = requested;
    // A precision this CPU cannot run is neither saved nor loaded: the current one stays.
    if (const PrecisionChoice choice = precisionChoice(value.precision); !choice.runs) {
        value.precision = settingsValue_.precision;
        emit precisionRejected(choice.name, choice.reason);
    }
    const bool budgetChanged = value.cacheBudgetMiB != settingsValue_.cacheBudgetMiB;
    const bool precisionChanged = value.precision != settingsValue_.precision;
    settingsValue_ = value;
    QSettings& s = settings_;
    s.beginGroup(QStringLiteral("generation"));
    s.setValue(QStringLiteral("maxNewTokens"), value.maxNewTokens);
    s.setValue(QStringLiteral("temperature"), value.temperature);
    s.setValue(QStringLiteral("topK"), value.topK);
    s.setValue(QStringLiteral("topP"), value.topP);
    s.setValue(QStringLiteral("repetitionPenalty"), value.repetitionPenalty);
    s.setValue(QStringLiteral("seed"), value.seed);
    s.setValue(QStringLiteral("randomSeed"), value.randomSeed);
    s.setValue(QStringLiteral("threads"), value.threads);
    s.setValue(QStringLiteral("precision"), value.precision);
    s.setValue(QStringLiteral("useCache"), value.useCache);
    s.setValue(QStringLiteral("cacheBudgetMiB"), value.cacheBudgetMiB);
    s.endGroup();
    s.sync();
    if (budgetChanged)
        emit requestCacheBudget(qint64(value.cacheBudgetMiB) << 20);
    emit settingsChanged();
    // The precision is applied when weights are packed: reload the current model in the new one.
    if (precisionChanged && hasModel())
        loadModel(modelInfo_.value(QStringLiteral("dir")).toString());
}

// ---- models ------------------------------------------------------------------------------------------------------

QStringList Controller::recentModels() const {
    return settings_.value(QStringLiteral("models/recent")).toStringList();
}

QString Controller::startupModel() const {
    const QStringList recent = recentModels();
    if (!recent.isEmpty() && QFileInfo(recent.first()).isDir())
        return recent.first();
    return fromPath(umt5::Model::default_model_dir());
}

void Controller::rememberModel(const QString& dir) {
    QStringList recent = recentModels();
    const QString clean = QDir::cleanPath(QFileInfo(dir).absoluteFilePath());
    recent.removeAll(clean);
    recent.prepend(clean);
    while (recent.size() > kMaxRecentModels)
        recent.removeLast();
    settings_.setValue(QStringLiteral("models/recent"), recent);
    settings_.sync();
}

void Controller::loadModel(const QString& dir) {
    // A model change never happens under a running generation: stop it first.
    for (Job& job : jobs_)
        job.stop->store(true);
    stopBenchmarks();
    auto stop = std::make_shared<std::atomic<bool>>(false);
    loadStops_.append(stop);
    ++loading_;
    emit modelLoadStarted(dir);
    emit requestLoad(dir, settingsValue_.threads, settingsValue_.precision, stop);
}

void Controller::loadStartupModel(const QString& dir) {
    const QString demo = fromPath(umt5::Model::default_model_dir());
    if (!refusedPrecision_.name.isEmpty()) {
        emit startupFallback(tr("The saved precision %1 cannot run on this CPU: %2. %3 is used instead.")
                                 .arg(refusedPrecision_.name, refusedPrecision_.reason, settingsValue_.precision));
        refusedPrecision_ = {};
    }
    // Already the last resort: a failure to load the demo model in fp32 is reported as it is.
    fallbackPending_ = !(QFileInfo(dir) == QFileInfo(demo) && settingsValue_.precision == QLatin1String("fp32"));
    loadModel(dir);
}

void Controller::restoreConversations() { emit requestRestore(); }

// ---- conversations -----------------------------------------------------------------------------------------------

QString Controller::newConversation(const QString& title) {
    // Made here so its id is known at once; the worker's store takes it over (requests on it queue behind).
    auto conversation = std::make_shared<umt5::Conversation>();
    conversation->set_title(title.toStdString());
    ConversationView view;
    view.id = QString::fromStdString(conversation->id());
    view.title = title;
    view.carryContext = conversation->carry_context();
    conversations_.prepend(view);
    emit requestAdd(conversation);
    emit conversationAdded(view.id);
    return view.id;
}

void Controller::deleteConversation(const QString& id) {
    if (!find(id))
        return;
    for (Job& job : jobs_)
        if (job.conversationId == id)
            job.stop->store(true);
    conversations_.removeIf([&](const ConversationView& v) { return v.id == id; });
    emit requestRemove(id);
    emit conversationRemoved(id);
}

void Controller::renameConversation(const QString& id, const QString& title) {
    ConversationView* view = find(id);
    const QString clean = title.simplified();
    if (!view || clean.isEmpty() || clean == view->title)
        return;
    view->title = clean;
    emit requestRename(id, clean);
    emit conversationRenamed(id);
}

void Controller::setCarryContext(const QString& id, bool carry) {
    ConversationView* view = find(id);
    if (!view || view->carryContext == carry)
        return;
    view->carryContext = carry;
    emit requestCarryContext(id, carry);
}

void Controller::onRestored(const ConversationSnapshot& snapshot) {
    if (find(snapshot.id))
        return;
    ConversationView view;
    view.id = snapshot.id;
    view.title = snapshot.title;
    view.carryContext = snapshot.carryContext;
    view.turns = snapshot.turns;
    view.cacheBytes = snapshot.cacheBytes;
    view.lastStats = snapshot.lastStats;
    conversations_.prepend(view);
    emit conversationAdded(view.id);
}

// ---- transcripts -------------------------------------------------------------------------------------------------

QStringList Controller::exportFormats() {
    return {QStringLiteral("md"), QStringLiteral("txt"), QStringLiteral("html"), QStringLiteral("json"),
            QStringLiteral("pdf")};
}

QString Controller::formatForPath(const QString& path) {
    const QString suffix = QFileInfo(path).suffix().toLower();
    return exportFormats().contains(suffix) ? suffix : QString();
}

QString Controller::exportFileName(const QString& title, const QString& id, const QString& format) {
    QString base = title.simplified().left(60);
    static const QString unsafe = QStringLiteral("/\\:*?\"<>|");
    for (QChar& c : base)
        if (unsafe.contains(c) || c.category() == QChar::Other_Control)
            c = QLatin1Char('_');
    base = base.trimmed();
    // A leading dot would hide the file.
    while (base.startsWith(QLatin1Char('.')))
        base.remove(0, 1);
    if (base.isEmpty())
        base = QStringLiteral("conversation");
    return QStringLiteral("%1 - %2.%3").arg(base, id, format);
}

void Controller::exportConversation(const QString& id, const QString& format, const QString& path) {
    emit requestExport(id, format, path);
}

int Controller::exportAllConversations(const QString& folder, const QString& format) {
    int count = 0;
    for (const ConversationView& view : conversations_) {
        if (view.turns.isEmpty())
            continue;
        exportConversation(view.id, format, QDir(folder).filePath(exportFileName(view.title, view.id, format)));
        ++count;
    }
    return count;
}

void Controller::writePdf(const QString& path, const QString& html, const QString& title) {
    // QPdfWriter and QTextDocument's layout need the GUI thread.
    try {
        umt5::PdfRenderer renderer;
        const std::string bytes = renderer.render(html.toStdString(), title.toStdString());
        umt5::write_file_atomically(std::filesystem::path(QFile::encodeName(path).toStdString()), bytes);
        emit exportFinished(path, QString());
    } catch (const std::exception& e) {
        emit exportFinished(path, QString::fromStdString(umt5::error_text(e)));
    }
}

void Controller::importConversation(const QString& path) { emit requestImport(path); }

void Controller::onImported(const QString& path, const ConversationSnapshot& snapshot) {
    onRestored(snapshot);
    emit importFinished(path, snapshot.id, QString());
}

// ---- generation --------------------------------------------------------------------------------------------------

bool Controller::enqueue(RequestKind kind, const QString& id, const QString& prompt,
                         const GenerationSettings& settings) {
    ConversationView* view = find(id);
    // One request at a time per conversation: each one builds on the answer before it.
    if (!view || view->pending > 0)
        return false;
    if (kind == RequestKind::Submit) {
        if (prompt.trimmed().isEmpty())
            return false;
        // Shown at once, answered when the worker gets to it.
        view->turns.append({prompt, QString(), QString(), 0, QString(), QString(), 0, {}});
        if (view->title.isEmpty())
            view->title = titleForPrompt(prompt);
        emit transcriptChanged(id);
        emit conversationRenamed(id);
    } else if (view->turns.isEmpty()) {
        // Continuing or regenerating needs a finished answer.
        return false;
    } else if (kind == RequestKind::Continue && view->turns.last().finish == QLatin1String("eos")) {
        // The model ended the answer itself: continuing would only produce the end of sequence again.
        return false;
    }
    Job job{kind, id, prompt, std::make_shared<std::atomic<bool>>(false)};
    GenerationRequest request{kind, id, prompt, settings, job.stop};
    // With sampling, a fixed seed makes Regenerate repeat the same answer: each request gets a fresh one unless a
    // fixed seed is asked for. The seed used is saved with the answer, so it can be reproduced.
    if (settings.randomSeed && settings.temperature > 0)
        request.settings.seed = QRandomGenerator::global()->generate64();
    const bool wasBusy = isBusy();
    jobs_.push_back(job);
    ++view->pending;
    emit requestGenerate(request);
    if (!wasBusy)
        emit busyChanged(true);
    return true;
}

bool Controller::submit(const QString& id, const QString& prompt, const GenerationSettings& settings) {
    return enqueue(RequestKind::Submit, id, prompt, settings);
}

bool Controller::continueAnswer(const QString& id, const GenerationSettings& settings) {
    return enqueue(RequestKind::Continue, id, QString(), settings);
}

bool Controller::regenerate(const QString& id, const GenerationSettings& settings) {
    return enqueue(RequestKind::Regenerate, id, QString(), settings);
}

void Controller::stop() {
    for (Job& job : jobs_)
        job.stop->store(true);
    for (StopFlag& flag : loadStops_)
        flag->store(true);
}

double Controller::liveTokensPerSecond() const {
    if (running_.isEmpty() || !runningTimer_.isValid())
        return lastTokensPerSecond_;
    const qint64 ms = runningTimer_.elapsed();
    return ms > 0 ? runningTokens_ * 1000.0 / double(ms) : 0.0;
}

double Controller::tokensPerSecond(const QString& id) const {
    if (!id.isEmpty() && id == running_)
        return liveTokensPerSecond();
    const ConversationView* view = conversation(id);
    if (!view || view->turns.isEmpty())
        return 0;
    return view->turns.last().tokensPerSecond;
}

void Controller::onStarted(const QString& id, RequestKind kind, bool encoderReused) {
    running_ = id;
    runningTokens_ = 0;
    runningTimer_.start();
    ConversationView* view = find(id);
    if (!view)
        return;
    view->generating = true;
    view->encoderReusedNow = encoderReused;
    if (kind == RequestKind::Regenerate && !view->turns.isEmpty()) {
        // The replaced answer stays readable as an earlier version (the worker keeps it the same way).
        TurnSnapshot& turn = view->turns.last();
        turn.earlier.append({turn.answer, turn.finish, turn.tokens, turn.model, turn.precision, turn.tokensPerSecond});
        turn.answer.clear();
        turn.finish.clear();
        turn.tokens = 0;
        turn.tokensPerSecond = 0;
        emit transcriptChanged(id);
    } else if (kind == RequestKind::Continue && !view->turns.isEmpty()) {
        view->turns.last().finish.clear();
    }
    if (!view->turns.isEmpty()) {
        // The streaming answer is labelled with the model writing it; the worker's snapshot confirms it after.
        view->turns.last().model = modelName();
        view->turns.last().precision = modelInfo_.value(QStringLiteral("precision")).toString();
    }
    emit generationStarted(id);
}

void Controller::onToken(const QString& id, const QString& text, int tokenId) {
    ConversationView* view = find(id);
    if (tokenId >= 0)
        ++runningTokens_;
    if (!view || view->turns.isEmpty())
        return;
    view->turns.last().answer += text;
    if (tokenId >= 0)
        ++view->turns.last().tokens;
    emit tokenGenerated(id, text, tokenId);
}

void Controller::onSynced(const ConversationSnapshot& snapshot) {
    ConversationView* view = find(snapshot.id);
    if (!view)
        return;
    view->turns = snapshot.turns;
    view->cacheBytes = snapshot.cacheBytes;
    if (!snapshot.title.isEmpty() && snapshot.title != view->title) {
        view->title = snapshot.title;
        emit conversationRenamed(view->id);
    }
}

void Controller::finishJob(const QString& id) {
    if (!jobs_.empty())
        jobs_.pop_front();
    if (ConversationView* view = find(id)) {
        view->pending = std::max(0, view->pending - 1);
        view->generating = false;
    }
    if (running_ == id) {
        lastTokensPerSecond_ = liveTokensPerSecond();
        running_.clear();
    }
    if (!isBusy())
        emit busyChanged(false);
}

void Controller::onFinished(const QString& id, const QVariantMap& stats) {
    lastTokensPerSecond_ = stats.value(QStringLiteral("tokensPerSecond")).toDouble();
    running_.clear();
    if (ConversationView* view = find(id))
        view->lastStats = stats;
    finishJob(id);
    emit transcriptChanged(id);
    emit generationFinished(id, stats);
}

void Controller::onFailed(const QString& id, const QString& message) {
    const Job job = jobs_.empty() ? Job{} : jobs_.front();
    ConversationView* view = find(id);
    // A prompt that got no answer leaves the transcript; the window offers it back for editing.
    if (view && job.kind == RequestKind::Submit && !view->turns.isEmpty() && view->turns.last().finish.isEmpty() &&
        view->turns.last().answer.isEmpty())
        view->turns.removeLast();
    if (view && !view->turns.isEmpty() && view->turns.last().finish.isEmpty() && job.kind != RequestKind::Submit)
        view->turns.last().finish = QStringLiteral("stopped");
    finishJob(id);
    if (view)
        emit transcriptChanged(id);
    emit generationFailed(id, message, job.kind == RequestKind::Submit ? job.prompt : QString());
}

}  // namespace studio
