#include "app/worker.h"

#include "app/error_text.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>

#include <algorithm>
#include <chrono>
#include <exception>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/formats/atomic_file.h"
#include "core/formats/error.h"
#include "core/engine/runtime.h"
#include "core/chat/transcript.h"

namespace studio {

namespace {

std::filesystem::path toPath(const QString& path) { return std::filesystem::path(QFile::encodeName(path).toStdString()); }

QString fromUtf8(const std::string& text) { return QString::fromUtf8(text.data(), static_cast<qsizetype>(text.size())); }

umt5::GenerationOptions engineOptions(const GenerationSettings& s, const std::atomic<bool>* stop) {
    umt5::GenerationOptions options;
    options.max_new_tokens = std::max(1, s.maxNewTokens);
    options.use_cache = s.useCache;
    options.sampling.temperature = static_cast<float>(s.temperature);
    options.sampling.top_k = s.topK;
    options.sampling.top_p = static_cast<float>(s.topP);
    options.sampling.repetition_penalty = static_cast<float>(s.repetitionPenalty);
    options.sampling.seed = s.seed;
    options.stop = stop;
    return options;
}

}  // namespace

QString titleForPrompt(const QString& prompt) {
    QString title = prompt.section(QLatin1Char('\n'), 0, 0).simplified();
    // "translate English to German: Open the file" reads better as "Open the file · English → German".
    static const QRegularExpression translate(QStringLiteral("^translate (\\S+) to (\\S+): *(.+)$"));
    const QRegularExpressionMatch match = translate.match(title);
    constexpr int kMax = 48;
    QString suffix;
    if (match.hasMatch()) {
        title = match.captured(3);
        suffix = QStringLiteral(" · %1 → %2").arg(match.captured(1), match.captured(2));
    }
    if (title.size() > kMax) {
        const int cut = int(title.lastIndexOf(QLatin1Char(' '), kMax));
        title = title.left(cut > kMax / 2 ? cut : kMax) + QStringLiteral("…");
    }
    return title + suffix;
}

QString finishName(umt5::FinishReason reason) { return QString::fromLatin1(umt5::finish_reason_name(reason)); }

Worker::Worker(const QString& dataDir, QObject* parent) : QObject(parent), dataDir_(dataDir) {}

Worker::~Worker() = default;

QString Worker::sessionDir(const QString& dataDir) { return QDir(dataDir).filePath(QStringLiteral("conversations")); }

QString Worker::sessionPath(const QString& id) const {
    return QDir(sessionDir(dataDir_)).filePath(id + QStringLiteral(".umt5session"));
}

void Worker::applyThreads(int threads) {
    // OpenMP thread counts (and the automatic setting's governor) are per calling thread, so they are applied here,
    // on the worker thread. Applied only on a change, so the automatic setting keeps what it learnt.
    if (threads != threads_) {
        umt5::set_num_threads(threads);
        threads_ = threads;
    }
}

void Worker::loadModel(const QString& dir, int threads, const QString& precision, StopFlag stop) {
    applyThreads(threads);  // before loading: the model warms up at the counts this setting will use
    umt5::LoadOptions options;
    options.stop = stop.get();
    int lastPercent = -1;
    options.progress = [this, &lastPercent](double fraction) {
        const int percent = static_cast<int>(fraction * 100.0);
        if (percent != lastPercent) {
            lastPercent = percent;
            emit loadProgress(fraction);
        }
    };
    try {
        if (stop && stop->load())
            throw umt5::Cancelled();
        options.precision = umt5::parse_precision(precision.toStdString());
        auto model = umt5::Model::load(toPath(dir), options);
        model_ = std::move(model);
        const auto& config = model_->config();
        QVariantMap info;
        info[QStringLiteral("name")] = fromUtf8(model_->name());
        info[QStringLiteral("dir")] = dir;
        info[QStringLiteral("precision")] = precision;
        info[QStringLiteral("threads")] = umt5::num_threads();
        info[QStringLiteral("parameters")] = static_cast<qlonglong>(model_->parameter_count());
        info[QStringLiteral("weightBytes")] = static_cast<qlonglong>(model_->weight_bytes());
        info[QStringLiteral("vocab")] = static_cast<qlonglong>(config.vocab_size);
        info[QStringLiteral("layers")] = static_cast<qlonglong>(config.num_layers);
        info[QStringLiteral("dModel")] = static_cast<qlonglong>(config.d_model);
        emit modelLoaded(info);
    } catch (const umt5::Cancelled&) {
        emit modelLoadFailed(dir, tr("Loading was cancelled."));
    } catch (const std::exception& e) {
        emit modelLoadFailed(dir, QString::fromStdString(umt5::error_text(e)));
    } catch (...) {
        emit modelLoadFailed(dir, tr("An unknown internal error stopped loading."));
    }
}

void Worker::restoreConversations() {
    QDir dir(sessionDir(dataDir_));
    const QFileInfoList files = dir.entryInfoList({QStringLiteral("*.umt5session")}, QDir::Files, QDir::Name);
    struct Loaded {
        umt5::Conversation conversation;
        std::string warning;
    };
    std::vector<Loaded> loaded;
    for (const QFileInfo& file : files) {
        try {
            Loaded entry;
            entry.conversation = umt5::Conversation::load(toPath(file.absoluteFilePath()), model_.get(), &entry.warning);
            loaded.push_back(std::move(entry));
        } catch (const std::exception& e) {
            emit restoreWarning(QString::fromStdString(umt5::error_text(e)));
        }
    }
    // Oldest first by creation time (the id breaks ties), so the GUI, which puts each conversation on top, lists
    // them newest first in the same order at every start; file times change with every save and every rename.
    std::stable_sort(loaded.begin(), loaded.end(), [](const Loaded& a, const Loaded& b) {
        if (a.conversation.created_ms() != b.conversation.created_ms())
            return a.conversation.created_ms() < b.conversation.created_ms();
        return a.conversation.id() < b.conversation.id();
    });
    int count = 0;
    for (Loaded& entry : loaded) {
        if (store_.find(entry.conversation.id()))
            continue;
        umt5::Conversation& conversation = store_.add(std::move(entry.conversation));
        if (!entry.warning.empty()) {
            const QString title = conversation.title().empty() ? fromUtf8(conversation.id()) : fromUtf8(conversation.title());
            emit restoreWarning(tr("Conversation “%1”: %2").arg(title, fromUtf8(entry.warning)));
        }
        emit conversationRestored(snapshot(conversation));
        ++count;
    }
    store_.enforce_budget();
    emit restoreFinished(count);
}

void Worker::addConversation(ConversationHandle conversation) {
    if (!conversation || store_.find(conversation->id()))
        return;
    store_.add(std::move(*conversation));
}

void Worker::removeConversation(const QString& id) {
    store_.remove(id.toStdString());
    QFile::remove(sessionPath(id));
}

void Worker::renameConversation(const QString& id, const QString& title) {
    umt5::Conversation* conversation = store_.find(id.toStdString());
    if (!conversation)
        return;
    conversation->set_title(title.toStdString());
    if (!conversation->empty())
        save(*conversation, nullptr);
}

void Worker::setCarryContext(const QString& id, bool carry) {
    umt5::Conversation* conversation = store_.find(id.toStdString());
    if (!conversation)
        return;
    conversation->set_carry_context(carry);
    if (!conversation->empty())
        save(*conversation, nullptr);
}

void Worker::setCacheBudget(qint64 bytes) {
    store_.set_budget(static_cast<size_t>(std::max<qint64>(0, bytes)));
    store_.enforce_budget();
}

bool Worker::save(const umt5::Conversation& conversation, QString* error) {
    try {
        QDir().mkpath(sessionDir(dataDir_));
        // The cache goes along only while it fits the memory budget; otherwise it is rebuilt after a restart.
        const bool includeCache = model_ && conversation.has_cache() && conversation.cache_bytes() <= store_.budget();
        conversation.save(toPath(sessionPath(fromUtf8(conversation.id()))), model_.get(), includeCache);
        return true;
    } catch (const std::exception& e) {
        if (error)
            *error = QString::fromStdString(umt5::error_text(e));
        return false;
    }
}

ConversationSnapshot Worker::snapshot(const umt5::Conversation& conversation) const {
    ConversationSnapshot s;
    s.id = fromUtf8(conversation.id());
    s.title = fromUtf8(conversation.title());
    s.carryContext = conversation.carry_context();
    for (const umt5::Turn& turn : conversation.turns()) {
        TurnSnapshot t{fromUtf8(turn.prompt), fromUtf8(turn.answer), finishName(turn.finish),
                       static_cast<int>(turn.output_ids.size()), fromUtf8(turn.model_name),
                       fromUtf8(turn.model_precision), turn.stats.tokens_per_s, {}};
        for (const umt5::AnswerVersion& a : turn.earlier_answers)
            t.earlier.append({fromUtf8(a.answer), finishName(a.finish), static_cast<int>(a.output_ids.size()),
                              fromUtf8(a.model_name), fromUtf8(a.model_precision), a.stats.tokens_per_s});
        s.turns.append(t);
    }
    s.cacheBytes = static_cast<qint64>(conversation.cache_bytes());
    if (!conversation.empty()) {
        const umt5::Turn& last = conversation.turns().back();
        const umt5::GenerationStats& st = last.stats;
        s.lastStats[QStringLiteral("answer")] = fromUtf8(last.answer);
        s.lastStats[QStringLiteral("finish")] = finishName(last.finish);
        s.lastStats[QStringLiteral("tokens")] = st.tokens;
        s.lastStats[QStringLiteral("tokensPerSecond")] = st.tokens_per_s;
        s.lastStats[QStringLiteral("encodeMs")] = st.encode_ms;
        s.lastStats[QStringLiteral("firstTokenMs")] = st.first_token_ms;
        s.lastStats[QStringLiteral("decodeMs")] = st.decode_ms;
        s.lastStats[QStringLiteral("encoderReused")] = st.encoder_reused;
        s.lastStats[QStringLiteral("cache")] = st.cache;
        QVariantList perToken;
        for (double ms : st.per_token_ms)
            perToken.append(ms);
        s.lastStats[QStringLiteral("perTokenMs")] = perToken;
        s.lastStats[QStringLiteral("seed")] = QString::number(last.options.sampling.seed);
        s.lastStats[QStringLiteral("model")] = fromUtf8(last.model_name);
        s.lastStats[QStringLiteral("precision")] = fromUtf8(last.model_precision);
    }
    return s;
}

void Worker::generate(const GenerationRequest& request) {
    const QString& id = request.conversationId;
    // A request stopped while it waited in the queue never reaches the engine.
    if (request.stop && request.stop->load()) {
        emit failed(id, tr("Stopped before it started."));
        return;
    }
    if (!model_) {
        emit failed(id, tr("No model is loaded. Open a model directory first (File › Open Model…)."));
        return;
    }
    umt5::Conversation* conversation = store_.find(id.toStdString());
    if (!conversation) {
        emit failed(id, tr("This conversation no longer exists."));
        return;
    }
    if (request.kind != RequestKind::Submit && conversation->empty()) {
        emit failed(id, tr("There is no answer to continue or regenerate yet."));
        return;
    }
    applyThreads(request.settings.threads);
    const size_t budget = static_cast<size_t>(std::max(0, request.settings.cacheBudgetMiB)) << 20;
    if (budget != store_.budget())
        store_.set_budget(budget);

    const umt5::GenerationOptions options = engineOptions(request.settings, request.stop.get());
    const std::atomic<bool>* stop = request.stop.get();
    std::string streamed;
    auto onToken = [this, &id, stop, &streamed](const umt5::TokenEvent& event) {
        streamed += event.text;
        emit tokenGenerated(id, fromUtf8(event.text), event.id);
        return !(stop && stop->load());
    };

    // Submit always runs the encoder; Continue and Regenerate reuse the stored state when it is in memory and
    // belongs to the loaded model (Conversation::prepare_state drops it otherwise).
    const bool reuses = request.kind != RequestKind::Submit && conversation->has_cache() &&
                        conversation->cache_model_identity() == model_->identity();
    emit started(id, request.kind, reuses);
    const size_t turnsBefore = conversation->turns().size();
    const std::string answerBefore =
        request.kind == RequestKind::Continue ? conversation->turns().back().answer : std::string();
    umt5::GenerationResult result;
    bool cancelled = false;
    try {
        if (conversation->empty() && conversation->title().empty())
            conversation->set_title(titleForPrompt(request.prompt).toStdString());
        switch (request.kind) {
            case RequestKind::Submit:
                result = conversation->submit(*model_, request.prompt.toStdString(), options, onToken);
                break;
            case RequestKind::Continue:
                result = conversation->continue_answer(*model_, options, onToken);
                break;
            case RequestKind::Regenerate:
                result = conversation->regenerate(*model_, options, onToken);
                break;
        }
    } catch (const umt5::Cancelled&) {
        // Stopped during the encoder pass: a prompt that never got an answer is not kept.
        cancelled = true;
        if (request.kind == RequestKind::Submit && conversation->turns().size() > turnsBefore &&
            conversation->turns().back().output_ids.empty())
            conversation->remove_last_turn();
    } catch (const std::exception& e) {
        emit failed(id, QString::fromStdString(umt5::error_text(e)));
        emit conversationSynced(snapshot(*conversation));
        return;
    } catch (...) {
        emit failed(id, tr("An unknown internal error stopped the generation."));
        emit conversationSynced(snapshot(*conversation));
        return;
    }

    // Bytes of an incomplete UTF-8 character at the very end are never streamed; the final answer decodes them
    // (as U+FFFD). They go out as one last piece without a token, so the stream always adds up to the answer.
    if (!cancelled && !conversation->empty()) {
        const std::string& answer = conversation->turns().back().answer;
        const std::string expected = answerBefore + streamed;
        if (answer.size() > expected.size() && answer.compare(0, expected.size(), expected) == 0)
            emit tokenGenerated(id, fromUtf8(answer.substr(expected.size())), -1);
    }

    if (!request.settings.useCache)
        conversation->release_cache();
    store_.enforce_budget(conversation);
    QString saveError;
    const bool saved = conversation->empty() ? true : save(*conversation, &saveError);

    QVariantMap stats;
    const umt5::Turn* turn = conversation->empty() ? nullptr : &conversation->turns().back();
    stats[QStringLiteral("answer")] = turn ? fromUtf8(turn->answer) : QString();
    stats[QStringLiteral("finish")] = cancelled ? QStringLiteral("stopped") : finishName(result.finish);
    stats[QStringLiteral("tokens")] = result.stats.tokens;
    stats[QStringLiteral("tokensPerSecond")] = result.stats.tokens_per_s;
    stats[QStringLiteral("encodeMs")] = result.stats.encode_ms;
    stats[QStringLiteral("firstTokenMs")] = result.stats.first_token_ms;
    stats[QStringLiteral("decodeMs")] = result.stats.decode_ms;
    stats[QStringLiteral("encoderReused")] = result.stats.encoder_reused;
    stats[QStringLiteral("cache")] = result.stats.cache;
    stats[QStringLiteral("cacheBytes")] = static_cast<qlonglong>(conversation->cache_bytes());
    stats[QStringLiteral("storeCacheBytes")] = static_cast<qlonglong>(store_.cache_bytes());
    QVariantList perToken;
    perToken.reserve(static_cast<qsizetype>(result.stats.per_token_ms.size()));
    for (double ms : result.stats.per_token_ms)
        perToken.append(ms);
    stats[QStringLiteral("perTokenMs")] = perToken;
    stats[QStringLiteral("saved")] = saved;
    stats[QStringLiteral("seed")] = QString::number(options.sampling.seed);
    stats[QStringLiteral("model")] = turn ? fromUtf8(turn->model_name) : QString();
    stats[QStringLiteral("precision")] = turn ? fromUtf8(turn->model_precision) : QString();
    if (!saved)
        stats[QStringLiteral("saveError")] = saveError;

    emit conversationSynced(snapshot(*conversation));
    emit finished(id, stats);
}

// ---- transcripts -------------------------------------------------------------------------------------------------

void Worker::exportConversation(const QString& id, const QString& format, const QString& path) {
    try {
        const umt5::Conversation* conversation = store_.find(id.toStdString());
        if (!conversation)
            throw umt5::Error(path.toStdString() + ": the conversation no longer exists");
        umt5::TranscriptInfo info;
        if (model_) {
            info = umt5::TranscriptInfo::for_model(*model_);
        } else {
            info.exported_ms = umt5::unix_time_ms();
        }
        if (format == QLatin1String("pdf")) {
            const std::string title = conversation->title().empty() ? "Conversation" : conversation->title();
            emit pdfHtmlReady(path, fromUtf8(umt5::export_html(*conversation, info)), fromUtf8(title));
            return;
        }
        std::string bytes;
        if (format == QLatin1String("md"))
            bytes = umt5::export_markdown(*conversation, info);
        else if (format == QLatin1String("txt"))
            bytes = umt5::export_text(*conversation, info);
        else if (format == QLatin1String("html"))
            bytes = umt5::export_html(*conversation, info);
        else if (format == QLatin1String("json"))
            bytes = umt5::export_json(*conversation, info);
        else
            throw umt5::Error(path.toStdString() + ": unknown export format '" + format.toStdString() + "'");
        umt5::write_file_atomically(toPath(path), bytes);
        emit exportFinished(path, QString());
    } catch (const std::exception& e) {
        emit exportFinished(path, QString::fromStdString(umt5::error_text(e)));
    }
}

void Worker::importConversation(const QString& path) {
    try {
        std::ifstream in(toPath(path), std::ios::binary);
        if (!in.is_open())
            throw umt5::Error(path.toStdString() + ": cannot open the file");
        std::ostringstream text;
        text << in.rdbuf();
        if (in.bad())
            throw umt5::Error(path.toStdString() + ": cannot read the file");
        umt5::Conversation imported = umt5::import_json(text.str(), path.toStdString());
        // The id is kept when free (re-importing an exported conversation restores it as it was); when it is taken
        // the copy gets a fresh id, so an import never replaces a conversation.
        if (store_.find(imported.id())) {
            nlohmann::json j = nlohmann::json::parse(imported.to_json());
            j["id"] = umt5::Conversation().id();
            imported = umt5::Conversation::from_json(j.dump(), path.toStdString());
        }
        umt5::Conversation& conversation = store_.add(std::move(imported));
        QString error;
        if (!save(conversation, &error)) {
            store_.remove(conversation.id());
            throw umt5::Error(error.toStdString());
        }
        emit conversationImported(path, snapshot(conversation));
    } catch (const std::exception& e) {
        emit importFailed(path, QString::fromStdString(umt5::error_text(e)));
    }
}

}  // namespace studio
