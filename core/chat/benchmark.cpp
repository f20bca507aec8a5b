#include "core/chat/benchmark.h"

#include <algorithm>
#include <chrono>

#include "core/chat/generation.h"

namespace umt5 {

namespace {
using Clock = std::chrono::steady_clock;

double median(std::vector<double> values) {
    if (values.empty()) return 0;
    const size_t mid = values.size() / 2;
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
    const double upper = values[mid];
    if (values.size() % 2 == 1) return upper;
    return (*std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid)) + upper) / 2;
}

struct Run {
    GenerationResult result;
    double total_ms = 0;
};

// One timed (or warm-up) generation from a fresh decoding state; the workspace stays warm across runs. A run
// cancelled through the stop flag comes back with fewer tokens than asked for.
Run run_once(const Model& model, const std::vector<int>& prompt_ids, BenchmarkMode mode, int tokens,
             const BenchmarkOptions& options, Workspace& ws, const TokenCallback& on_token) {
    GenerationOptions generation;
    generation.max_new_tokens = tokens;
    generation.use_cache = mode == BenchmarkMode::CacheOn;
    generation.ignore_eos = true;
    generation.sampling = options.sampling;
    generation.stop = options.stop;
    DecodingState state;
    state.prompt_ids = prompt_ids;
    Sampler sampler(options.sampling);
    Run run;
    const auto started = Clock::now();
    try {
        run.result = continue_generation(model, state, sampler, generation, on_token, ws, started);
    } catch (const Cancelled&) {
        run.result.finish = FinishReason::Stopped;  // stopped while encoding: no tokens
    }
    run.total_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    return run;
}

BenchmarkModeResult summarize(const std::vector<Run>& runs, int new_tokens) {
    BenchmarkModeResult out;
    out.runs = static_cast<int>(runs.size());
    if (runs.empty()) return out;
    std::vector<double> decode, first, total, every_token;
    for (const Run& run : runs) {
        decode.push_back(run.result.stats.decode_ms);
        first.push_back(run.result.stats.first_token_ms);
        total.push_back(run.total_ms);
        const auto& per_token = run.result.stats.per_token_ms;
        every_token.insert(every_token.end(), per_token.begin(), per_token.end());
    }
    const double decode_ms = median(decode);
    out.tokens_per_s = decode_ms > 0 ? new_tokens * 1000.0 / decode_ms : 0;
    out.ms_per_token_median = median(every_token);
    out.first_token_ms = median(first);
    out.total_ms = median(total);
    for (int position = 0; position < new_tokens; ++position) {
        std::vector<double> at_position;
        for (const Run& run : runs) at_position.push_back(run.result.stats.per_token_ms[static_cast<size_t>(position)]);
        out.per_position_ms.push_back(median(at_position));
    }
    out.output_ids = runs.front().result.output_ids;
    out.text = runs.front().result.text;
    return out;
}

}  // namespace

const char* benchmark_mode_name(BenchmarkMode mode) {
    return mode == BenchmarkMode::CacheOn ? "cache_on" : "cache_off";
}

BenchmarkResult run_benchmark(const Model& model, const BenchmarkOptions& options, const BenchmarkCallback& on_token) {
    if (options.new_tokens < 1) throw Error("a benchmark needs at least one new token");
    if (options.repeat < 1) throw Error("a benchmark needs at least one run per mode");
    Sampler validate(options.sampling);  // throws a clear error for invalid settings

    BenchmarkResult result;
    result.new_tokens = options.new_tokens;
    result.repeat = options.repeat;
    const std::vector<int> prompt_ids = model.prompt_ids(options.prompt);
    result.prompt_tokens = static_cast<int>(prompt_ids.size());
    auto stopped = [&] { return options.stop && options.stop->load(std::memory_order_relaxed); };

    Workspace ws;
    constexpr BenchmarkMode kModes[] = {BenchmarkMode::CacheOn, BenchmarkMode::CacheOff};
    if (options.warmup)
        for (BenchmarkMode mode : kModes)
            if (!stopped()) run_once(model, prompt_ids, mode, std::min(options.new_tokens, 2), options, ws, {});

    std::vector<Run> on_runs, off_runs;
    for (int run = 0; run < options.repeat && !stopped(); ++run) {
        for (BenchmarkMode mode : kModes) {
            if (stopped()) break;
            TokenCallback report;
            if (on_token)
                report = [&](const TokenEvent& event) {
                    on_token({mode, run, event.index, event.ms, event.id, event.text});
                    return true;
                };
            Run timed = run_once(model, prompt_ids, mode, options.new_tokens, options, ws, report);
            if (timed.result.stats.tokens != options.new_tokens) break;  // cancelled part-way
            (mode == BenchmarkMode::CacheOn ? on_runs : off_runs).push_back(std::move(timed));
        }
    }
    result.stopped = static_cast<int>(on_runs.size()) < options.repeat ||
                     static_cast<int>(off_runs.size()) < options.repeat;

    result.cache_on = summarize(on_runs, options.new_tokens);
    result.cache_off = summarize(off_runs, options.new_tokens);
    if (result.cache_on.tokens_per_s > 0 && result.cache_off.tokens_per_s > 0)
        result.speedup = result.cache_on.tokens_per_s / result.cache_off.tokens_per_s;
    result.identical = !on_runs.empty() && !off_runs.empty();
    for (const auto* runs : {&on_runs, &off_runs})
        for (const Run& run : *runs)
            if (run.result.output_ids != on_runs.front().result.output_ids) result.identical = false;
    return result;
}

}  // namespace umt5
