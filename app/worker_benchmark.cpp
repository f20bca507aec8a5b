// Worker::runBenchmark: the core benchmark (cache on versus cache off) on the worker thread, so it queues with
// generations and never shares the CPU with them.
#include <exception>

#include "app/worker.h"

#include "app/error_text.h"
#include "core/engine/runtime.h"

namespace studio {

void Worker::runBenchmark(int id, const BenchmarkRequest& request) {
    if (request.stop && request.stop->load()) {
        emit benchmarkFailed(id, tr("Cancelled before it started."));
        return;
    }
    if (!model_) {
        emit benchmarkFailed(id, tr("No model is loaded. Open a model directory first (File › Open Model…)."));
        return;
    }
    applyThreads(request.threads);
    emit benchmarkStarted(id);
    const int total = 2 * request.newTokens * request.repeat;
    int done = 0;
    auto onToken = [this, id, total, &done](const umt5::BenchmarkTokenEvent& event) {
        emit benchmarkToken(id, static_cast<int>(event.mode), event.run, event.position, event.ms,
                            QString::fromUtf8(event.text.data(), static_cast<qsizetype>(event.text.size())));
        emit benchmarkProgress(id, ++done, total);
    };
    try {
        const umt5::BenchmarkResult result = umt5::run_benchmark(*model_, toBenchmarkOptions(request), onToken);
        const QString name = QString::fromStdString(model_->name());
        emit benchmarkFinished(id, toBenchmarkReport(result, name, request.prompt,
                                                     umt5::automatic_threads() ? 0 : umt5::num_threads(),
                                                     model_->config().eos_token_id));
    } catch (const std::exception& e) {
        emit benchmarkFailed(id, QString::fromStdString(umt5::error_text(e)));
    } catch (...) {
        emit benchmarkFailed(id, tr("An unknown internal error stopped the benchmark."));
    }
}

}  // namespace studio
