#pragma once
// Qt glue for the core benchmark API (core/benchmark.h): the request the Controller queues to the Worker and the
// result the Worker sends back, as plain Qt value types that travel through queued signals.
#include <QList>
#include <QMetaType>
#include <QString>

#include <atomic>
#include <cstdint>
#include <memory>

#include "core/chat/benchmark.h"

namespace studio {

// One benchmark as the panel asks for it; sampling and threads come from the app's generation settings.
struct BenchmarkRequest {
    QString prompt;
    int newTokens = 64;
    int repeat = 1;
    umt5::SamplingOptions sampling;
    int threads = 0;                          // 0 = automatic
    std::shared_ptr<std::atomic<bool>> stop;  // set from the GUI thread to cancel at the next token
};

// Token modes as they travel in signals (the values of umt5::BenchmarkMode).
enum BenchmarkModeIndex { kCacheOn = 0, kCacheOff = 1 };

struct BenchmarkModeReport {
    int runs = 0;  // completed runs; 0 when this mode never finished a run
    double tokensPerSecond = 0;
    double msPerTokenMedian = 0;
    double firstTokenMs = 0;
    double totalMs = 0;
    QList<double> perPositionMs;  // median over runs, one value per token position
    QList<int> outputIds;         // ids of the first run
    QString text;                 // decoded output of the first run
    int endOfSequence = -1;       // position of the first eos in the first run (the benchmark goes on past it)
};

struct BenchmarkReport {
    QString model;
    QString prompt;
    int promptTokens = 0;
    int newTokens = 0;
    int repeat = 0;
    int threads = 0;  // 0 = the automatic setting
    BenchmarkModeReport cacheOn;
    BenchmarkModeReport cacheOff;
    double speedup = 0;      // cache-off decode time per token over cache-on; 0 unless both modes ran
    bool identical = false;  // every completed run of both modes produced the same ids
    bool stopped = false;    // cancelled before every run completed

    bool bothModesRan() const { return cacheOn.runs > 0 && cacheOff.runs > 0; }
};

inline umt5::BenchmarkOptions toBenchmarkOptions(const BenchmarkRequest& request) {
    umt5::BenchmarkOptions options;
    options.prompt = request.prompt.toStdString();
    options.new_tokens = request.newTokens;
    options.repeat = request.repeat;
    options.sampling = request.sampling;
    options.stop = request.stop.get();
    return options;
}

inline BenchmarkModeReport toBenchmarkModeReport(const umt5::BenchmarkModeResult& mode, int64_t eosId) {
    BenchmarkModeReport out;
    out.runs = mode.runs;
    out.tokensPerSecond = mode.tokens_per_s;
    out.msPerTokenMedian = mode.ms_per_token_median;
    out.firstTokenMs = mode.first_token_ms;
    out.totalMs = mode.total_ms;
    out.perPositionMs = QList<double>(mode.per_position_ms.begin(), mode.per_position_ms.end());
    out.outputIds = QList<int>(mode.output_ids.begin(), mode.output_ids.end());
    out.text = QString::fromUtf8(mode.text.data(), static_cast<qsizetype>(mode.text.size()));
    out.endOfSequence = static_cast<int>(out.outputIds.indexOf(static_cast<int>(eosId)));
    return out;
}

inline BenchmarkReport toBenchmarkReport(const umt5::BenchmarkResult& result, const QString& model,
                                         const QString& prompt, int threads, int64_t eosId) {
    BenchmarkReport out;
    out.model = model;
    out.prompt = prompt;
    out.promptTokens = result.prompt_tokens;
    out.newTokens = result.new_tokens;
    out.repeat = result.repeat;
    out.threads = threads;
    out.cacheOn = toBenchmarkModeReport(result.cache_on, eosId);
    out.cacheOff = toBenchmarkModeReport(result.cache_off, eosId);
    out.speedup = result.speedup;
    out.identical = result.identical;
    out.stopped = result.stopped;
    return out;
}

}  // namespace studio

Q_DECLARE_METATYPE(studio::BenchmarkRequest)
Q_DECLARE_METATYPE(studio::BenchmarkReport)
