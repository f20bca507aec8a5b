#pragma once
// The engine side of the desktop app. A Worker lives on the Controller's QThread and owns everything the engine
// mutates: the loaded umt5::Model and the umt5::ConversationStore with every conversation's KV cache. It talks to
// the Controller through queued signals only; the GUI keeps its own copy of the transcripts (see controller.h).
#include <QList>
#include <QObject>
#include <QString>
#include <QVariantMap>

#include <atomic>
#include <cstdint>
#include <memory>

#include "app/benchmark_types.h"
#include "core/chat/conversation.h"
#include "core/engine/model.h"

namespace studio {

// A stop flag shared by the GUI thread (which sets it) and the worker (which hands it to the engine).
using StopFlag = std::shared_ptr<std::atomic<bool>>;

// Settings of one generation call and of the engine, as the settings dialog edits them.
struct GenerationSettings {
    int maxNewTokens = 64;
    double temperature = 0.0;  // 0 = greedy
    int topK = 0;
    double topP = 1.0;
    double repetitionPenalty = 1.0;
    quint64 seed = 0;         // used when randomSeed is off
    bool randomSeed = true;   // sampling: a new seed for every answer (the one used is saved with it)
    int threads = 0;          // 0 = automatic: up to one per core, fewer while other programs keep cores busy
    QString precision = QStringLiteral("fp32");  // weight precision: fp32, bf16 or int8; a change reloads the model
    bool useCache = true;     // decoder KV cache, kept between turns
    int cacheBudgetMiB = 1024;  // memory all conversations' caches may take together

    bool operator==(const GenerationSettings&) const = default;
};

enum class RequestKind { Submit, Continue, Regenerate };

struct GenerationRequest {
    RequestKind kind = RequestKind::Submit;
    QString conversationId;
    QString prompt;  // Submit only
    GenerationSettings settings;
    StopFlag stop;
};

// An earlier answer of a turn (replaced by Regenerate), as the GUI shows it.
struct AnswerSnapshot {
    QString answer;
    QString finish;
    int tokens = 0;
    QString model;      // name of the model that wrote it ("" when the file did not say)
    QString precision;  // its weight precision
    double tokensPerSecond = 0;
};

// What the GUI shows of one turn.
struct TurnSnapshot {
    QString prompt;
    QString answer;
    QString finish;  // "length", "eos", "stopped" or "" while streaming
    int tokens = 0;  // answer tokens, eos included when produced
    QString model;      // the model that wrote the answer, kept with it ("" in files from before it was kept)
    QString precision;  // fp32, bf16 or int8
    double tokensPerSecond = 0;  // speed of the latest generation call of this answer (0 when unknown)
    QList<AnswerSnapshot> earlier;  // earlier versions, oldest first
};

// What the GUI shows of one conversation; sent by the worker after every change it makes.
struct ConversationSnapshot {
    QString id;
    QString title;
    bool carryContext = false;
    QList<TurnSnapshot> turns;
    qint64 cacheBytes = 0;
    QVariantMap lastStats;  // statistics of the latest turn's latest call as saved (no perTokenMs); empty if none
};

// A new conversation made on the GUI thread and handed over to the worker's store.
using ConversationHandle = std::shared_ptr<umt5::Conversation>;

class Worker : public QObject {
    Q_OBJECT
public:
    // `dataDir` holds conversations/<id>.umt5session.
    explicit Worker(const QString& dataDir, QObject* parent = nullptr);
    ~Worker() override;

    static QString sessionDir(const QString& dataDir);

public slots:
    void loadModel(const QString& dir, int threads, const QString& precision, studio::StopFlag stop);
    void restoreConversations();
    void addConversation(studio::ConversationHandle conversation);
    void removeConversation(const QString& id);
    void renameConversation(const QString& id, const QString& title);
    void setCarryContext(const QString& id, bool carry);
    void setCacheBudget(qint64 bytes);
    void generate(const studio::GenerationRequest& request);
    // Cache on versus cache off on the loaded model (worker_benchmark.cpp); `id` tags the benchmark signals.
    void runBenchmark(int id, const studio::BenchmarkRequest& request);
    // Writes conversation `id` to `path` through core/transcript (`format`: md, txt, html or json), then emits
    // exportFinished. For pdf it emits pdfHtmlReady instead: Qt's PDF writer runs on the GUI thread.
    void exportConversation(const QString& id, const QString& format, const QString& path);
    // Reads a JSON transcript into the store (keeping its id if free, else with a fresh one) and autosaves it.
    void importConversation(const QString& path);

signals:
    void loadProgress(double fraction);
    // `info`: name, dir, precision, threads (oneDNN's count on the worker thread), parameters, weightBytes, vocab,
    // layers, dModel.
    void modelLoaded(const QVariantMap& info);
    void modelLoadFailed(const QString& dir, const QString& message);
    void conversationRestored(const studio::ConversationSnapshot& snapshot);
    void restoreWarning(const QString& message);
    void restoreFinished(int count);
    // A queued request reached the engine; `encoderReused` tells whether it decodes from the stored encoder output
    // and cache (Continue or Regenerate with the cache in memory) or runs the encoder first.
    void started(const QString& conversationId, studio::RequestKind kind, bool encoderReused);
    // Text of one generated token (may be empty while a UTF-8 character is incomplete). After the last token, a
    // piece with tokenId -1 may carry what was held back, so the texts always add up to the final answer.
    void tokenGenerated(const QString& conversationId, const QString& text, int tokenId);
    // `stats`: answer, finish, tokens, tokensPerSecond, encodeMs, firstTokenMs, decodeMs, encoderReused, cache,
    // cacheBytes (this conversation), storeCacheBytes (all conversations), perTokenMs (QVariantList), saved,
    // seed (the sampling seed used), model and precision (of the model that wrote the answer).
    void finished(const QString& conversationId, const QVariantMap& stats);
    void failed(const QString& conversationId, const QString& message);
    // The authoritative transcript after a change, so the GUI's copy never drifts from the engine's.
    void conversationSynced(const studio::ConversationSnapshot& snapshot);
    // A benchmark reached the engine, then one event per timed token (`mode`: BenchmarkModeIndex), progress
    // over every timed token of both modes, and the result (also after a cancel: report.stopped) or a failure.
    void benchmarkStarted(int id);
    void benchmarkToken(int id, int mode, int run, int position, double ms, const QString& text);
    void benchmarkProgress(int id, int done, int total);
    void benchmarkFinished(int id, const studio::BenchmarkReport& report);
    void benchmarkFailed(int id, const QString& message);
    // `errorMessage` is empty on success, else the engine's one-line message.
    void exportFinished(const QString& path, const QString& errorMessage);
    // The HTML export of a conversation, to be rendered as a PDF at `path`.
    void pdfHtmlReady(const QString& path, const QString& html, const QString& title);
    void conversationImported(const QString& path, const studio::ConversationSnapshot& snapshot);
    void importFailed(const QString& path, const QString& message);

private:
    ConversationSnapshot snapshot(const umt5::Conversation& conversation) const;
    QString sessionPath(const QString& id) const;
    bool save(const umt5::Conversation& conversation, QString* error);
    void applyThreads(int threads);

    QString dataDir_;
    std::shared_ptr<const umt5::Model> model_;
    umt5::ConversationStore store_;
    int threads_ = -1;  // the oneDNN thread count last applied on this thread
};

QString finishName(umt5::FinishReason reason);
// The title a conversation gets from its first prompt.
QString titleForPrompt(const QString& prompt);

}  // namespace studio

Q_DECLARE_METATYPE(studio::StopFlag)
Q_DECLARE_METATYPE(studio::GenerationSettings)
Q_DECLARE_METATYPE(studio::RequestKind)
Q_DECLARE_METATYPE(studio::GenerationRequest)
Q_DECLARE_METATYPE(studio::AnswerSnapshot)
Q_DECLARE_METATYPE(studio::TurnSnapshot)
Q_DECLARE_METATYPE(studio::ConversationSnapshot)
Q_DECLARE_METATYPE(studio::ConversationHandle)
