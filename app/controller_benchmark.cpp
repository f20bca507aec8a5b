// The Controller's benchmark requests: queued to the worker like generations (so a benchmark never overlaps a
// generation or another benchmark), each with its own stop flag and an id that tags its signals.
#include "app/controller.h"

namespace studio {

void Controller::connectBenchmark() {
    qRegisterMetaType<BenchmarkRequest>();
    qRegisterMetaType<BenchmarkReport>();
    constexpr auto queued = Qt::QueuedConnection;
    connect(this, &Controller::requestBenchmark, worker_, &Worker::runBenchmark, queued);
    connect(worker_, &Worker::benchmarkStarted, this, &Controller::benchmarkStarted, queued);
    connect(worker_, &Worker::benchmarkToken, this, &Controller::benchmarkToken, queued);
    connect(worker_, &Worker::benchmarkProgress, this, &Controller::benchmarkProgress, queued);
    connect(worker_, &Worker::benchmarkFinished, this, [this](int id, const BenchmarkReport& report) {
        benchmarkStops_.remove(id);
        emit benchmarkFinished(id, report);
    }, queued);
    connect(worker_, &Worker::benchmarkFailed, this, [this](int id, const QString& message) {
        benchmarkStops_.remove(id);
        emit benchmarkFailed(id, message);
    }, queued);
}

int Controller::runBenchmark(const QString& prompt, int newTokens, int repeat) {
    BenchmarkRequest request;
    request.prompt = prompt;
    request.newTokens = newTokens;
    request.repeat = repeat;
    request.sampling.temperature = static_cast<float>(settingsValue_.temperature);
    request.sampling.top_k = settingsValue_.topK;
    request.sampling.top_p = static_cast<float>(settingsValue_.topP);
    request.sampling.repetition_penalty = static_cast<float>(settingsValue_.repetitionPenalty);
    request.sampling.seed = settingsValue_.seed;
    request.threads = settingsValue_.threads;
    request.stop = std::make_shared<std::atomic<bool>>(false);
    const int id = ++lastBenchmarkId_;
    benchmarkStops_.insert(id, request.stop);
    emit requestBenchmark(id, request);
    return id;
}

void Controller::cancelBenchmark(int id) {
    if (const StopFlag flag = benchmarkStops_.value(id))
        flag->store(true);
}

void Controller::stopBenchmarks() {
    for (const StopFlag& flag : std::as_const(benchmarkStops_))
        flag->store(true);
}

}  // namespace studio
