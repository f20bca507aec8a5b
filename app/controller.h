#pragma once
// The GUI-thread side of the app. The Controller owns the worker thread (Qt's Mandelbrot pattern: a Worker QObject
// moved to a QThread, queued signals only), the app's settings and the GUI's own copy of every transcript. Windows
// talk to the Controller only; it alone changes what they show, on the GUI thread, from the worker's updates.
//
// Several requests may be in flight: the worker runs them one after another, in order. A generation streams into
// the conversation it was started for, whichever conversation is on screen; switching conversations does not
// stop it. stop() stops the running request and drops every queued one at once, model loading included.
#include <QElapsedTimer>
#include <QHash>
#include <QList>
#include <QObject>
#include <QSettings>
#include <QString>
#include <QStringList>
#include <QThread>
#include <QVariantMap>

#include <deque>
#include <memory>

#include "app/precision_choices.h"
#include "app/worker.h"

namespace studio {

struct ConversationView {
    QString id;
    QString title;
    bool carryContext = false;
    QList<TurnSnapshot> turns;  // the last turn has finish == "" while it is queued or streaming
    qint64 cacheBytes = 0;
    int pending = 0;            // generation requests queued or running for this conversation
    QVariantMap lastStats;      // statistics of the latest finished generation (as saved, after a restart)
    bool generating = false;    // a request of this conversation is on the engine now
    bool encoderReusedNow = false;  // ... and it decodes from the stored encoder output and cache
};

class Controller : public QObject {
    Q_OBJECT
public:
    // `dataDir` holds settings.ini and conversations/; it is created if missing.
    explicit Controller(const QString& dataDir, QObject* parent = nullptr);
    // Stops whatever runs, then quits and waits for the worker thread.
    ~Controller() override;

    // QStandardPaths::AppDataLocation, or $UMT5_STUDIO_DATA_DIR when set.
    static QString defaultDataDir();
    QString dataDir() const { return dataDir_; }
    QSettings& settingsStore() { return settings_; }

    // Model management. Loading a model stops running generations first.
    void loadModel(const QString& dir);
    bool isLoading() const { return loading_ > 0; }
    bool hasModel() const { return !modelInfo_.isEmpty(); }
    QVariantMap modelInfo() const { return modelInfo_; }
    QString modelName() const;
    QStringList recentModels() const;
    // The model to open at start: the last one used if it still exists, else the embedded demo model.
    QString startupModel() const;
    // Loads `dir` at start. If it fails while no model is loaded, the embedded demo model is loaded in fp32 instead
    // (startupFallback says why), so the window never starts without a model.
    void loadStartupModel(const QString& dir);

    // Reads the saved conversations (after the model queued before it, so their caches can be accepted).
    void restoreConversations();

    // Conversations, newest first.
    const QList<ConversationView>& conversations() const { return conversations_; }
    const ConversationView* conversation(const QString& id) const;
    QString newConversation(const QString& title = {});
    void deleteConversation(const QString& id);
    void renameConversation(const QString& id, const QString& title);
    void setCarryContext(const QString& id, bool carry);

    // Generation. Each returns false (and changes nothing) when the request makes no sense now.
    bool submit(const QString& conversationId, const QString& prompt, const GenerationSettings& settings);
    bool continueAnswer(const QString& conversationId, const GenerationSettings& settings);
    bool regenerate(const QString& conversationId, const GenerationSettings& settings);
    void stop();
    bool isBusy() const { return !jobs_.empty(); }
    // The conversation whose answer is streaming now ("" when none).
    QString runningConversation() const { return running_; }
    // Tokens per second of the running generation so far, or of the last one.
    double liveTokensPerSecond() const;
    // Tokens per second for conversation `id`: of its generation running now, else of its latest answer (0 when
    // unknown), never another conversation's.
    double tokensPerSecond(const QString& id) const;

    GenerationSettings settings() const { return settingsValue_; }
    // Saves and applies `settings`; a precision this CPU cannot run (precisionChoices()) is refused with
    // precisionRejected, and the current one is kept.
    void setSettings(const GenerationSettings& settings);

    // Benchmarks of the KV cache (cache on versus off, core/benchmark.h) with the current sampling settings. They
    // queue on the worker thread with generations, so nothing else runs on the engine meanwhile. Returns the id
    // that tags the benchmark signals. Loading a model or closing the app cancels them.
    int runBenchmark(const QString& prompt, int newTokens, int repeat);
    void cancelBenchmark(int id);
    bool isBenchmarking() const { return !benchmarkStops_.isEmpty(); }

    // Transcripts, written by core/transcript exactly as `umt5 export` writes them. Exports queue on the worker
    // behind running generations and end with exportFinished; a PDF is laid out here, on the GUI thread.
    // Formats are file extensions: md, txt, html, json (lossless, importable) and pdf.
    static QStringList exportFormats();
    // The format for `path`'s extension, or "" when it is none of exportFormats().
    static QString formatForPath(const QString& path);
    // "<title> - <id>.<format>", with characters that are unsafe in file names replaced.
    static QString exportFileName(const QString& title, const QString& id, const QString& format);
    void exportConversation(const QString& id, const QString& format, const QString& path);
    // Exports every conversation with turns into `folder` (one exportFinished each); returns how many.
    int exportAllConversations(const QString& folder, const QString& format);
    // Reads a JSON transcript as a new conversation (conversationAdded, then importFinished).
    void importConversation(const QString& path);

signals:
    void modelLoadStarted(const QString& dir);
    void loadProgress(double fraction);
    void modelLoaded(const QVariantMap& info);
    void modelLoadFailed(const QString& dir, const QString& message);
    void restoreWarning(const QString& message);
    // Every saved conversation has been read (`count` of them shown).
    void conversationsRestored(int count);

    void conversationAdded(const QString& id);
    void conversationRemoved(const QString& id);
    void conversationRenamed(const QString& id);
    // The transcript changed as a whole (a turn added, finished, regenerated or resynchronised).
    void transcriptChanged(const QString& id);
    void generationStarted(const QString& id);
    // Text appended to the streaming answer of conversation `id` (already in the transcript when this fires).
    void tokenGenerated(const QString& id, const QString& text, int tokenId);
    void generationFinished(const QString& id, const QVariantMap& stats);
    void generationFailed(const QString& id, const QString& message, const QString& prompt);
    void busyChanged(bool busy);
    void settingsChanged();
    // setSettings() kept the current precision: `precision` cannot run on this CPU, for `reason`.
    void precisionRejected(const QString& precision, const QString& reason);
    // At start the saved model or precision could not be used; `message` says what was loaded instead and why.
    void startupFallback(const QString& message);
    // See Worker::benchmarkStarted and the signals after it.
    void benchmarkStarted(int id);
    void benchmarkToken(int id, int mode, int run, int position, double ms, const QString& text);
    void benchmarkProgress(int id, int done, int total);
    void benchmarkFinished(int id, const studio::BenchmarkReport& report);
    void benchmarkFailed(int id, const QString& message);
    // `errorMessage` is "" on success, else a one-line message.
    void exportFinished(const QString& path, const QString& errorMessage);
    // `id` is the new conversation's on success; on failure it is "" and nothing changed.
    void importFinished(const QString& path, const QString& id, const QString& errorMessage);

    // Requests to the worker (queued connections only).
    void requestLoad(const QString& dir, int threads, const QString& precision, studio::StopFlag stop);
    void requestRestore();
    void requestAdd(studio::ConversationHandle conversation);
    void requestRemove(const QString& id);
    void requestRename(const QString& id, const QString& title);
    void requestCarryContext(const QString& id, bool carry);
    void requestCacheBudget(qint64 bytes);
    void requestGenerate(const studio::GenerationRequest& request);
    void requestBenchmark(int id, const studio::BenchmarkRequest& request);
    void requestExport(const QString& id, const QString& format, const QString& path);
    void requestImport(const QString& path);

private:
    struct Job {
        RequestKind kind;
        QString conversationId;
        QString prompt;
        StopFlag stop;
    };

    ConversationView* find(const QString& id);
    bool enqueue(RequestKind kind, const QString& id, const QString& prompt, const GenerationSettings& settings);
    void finishJob(const QString& id);
    void rememberModel(const QString& dir);
    void readSettings();
    void connectBenchmark();
    void stopBenchmarks();

    void onStarted(const QString& id, studio::RequestKind kind, bool encoderReused);
    void onToken(const QString& id, const QString& text, int tokenId);
    void onFinished(const QString& id, const QVariantMap& stats);
    void onFailed(const QString& id, const QString& message);
    void onSynced(const studio::ConversationSnapshot& snapshot);
    void onRestored(const studio::ConversationSnapshot& snapshot);
    void onImported(const QString& path, const studio::ConversationSnapshot& snapshot);
    void writePdf(const QString& path, const QString& html, const QString& title);

    QString dataDir_;
    QSettings settings_;
    GenerationSettings settingsValue_;
    QThread thread_;
    Worker* worker_ = nullptr;

    QList<ConversationView> conversations_;
    std::deque<Job> jobs_;          // generation requests in the order the worker runs them
    QList<StopFlag> loadStops_;     // model loads in flight
    int loading_ = 0;
    QVariantMap modelInfo_;
    QString running_;
    QElapsedTimer runningTimer_;
    int runningTokens_ = 0;
    double lastTokensPerSecond_ = 0;
    PrecisionChoice refusedPrecision_;  // the saved precision, when this CPU cannot run it (until start-up says so)
    bool fallbackPending_ = false;      // loadStartupModel()'s load is running: on failure, the demo model in fp32
    QHash<int, StopFlag> benchmarkStops_;  // benchmarks queued or running, by id
    int lastBenchmarkId_ = 0;
};

void registerMetaTypes();

}  // namespace studio
