#pragma once
// Cache on versus cache off: the same prompt decoded for a forced number of tokens (eos ignored) with the decoder
// KV cache and without it (every step recomputes the whole decoder prefix, cross-attention included). Runs
// alternate between the modes and never overlap; every token is reported as it is produced, and a stop flag
// cancels between tokens.
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "core/engine/model.h"
#include "core/chat/sampling.h"

namespace umt5 {

struct BenchmarkOptions {
    std::string prompt;
    int new_tokens = 32;                      // tokens forced in every run
    int repeat = 1;                           // runs per mode; statistics are medians over them
    SamplingOptions sampling;                 // greedy by default; every run restarts from the same seed
    bool warmup = true;                       // one short untimed run per mode first (oneDNN kernels, page faults)
    const std::atomic<bool>* stop = nullptr;  // set from any thread to cancel at the next token
};

enum class BenchmarkMode { CacheOn, CacheOff };
const char* benchmark_mode_name(BenchmarkMode mode);  // "cache_on", "cache_off"

struct BenchmarkTokenEvent {
    BenchmarkMode mode;
    int run;           // 0-based run of this mode
    int position;      // 0-based index of the token in its run
    double ms;         // time this token took
    int id;            // the generated id
    std::string text;  // UTF-8 text that became complete with this token (may be empty)
};
// Called on the benchmarking thread for every timed token (warm-up tokens are not reported).
using BenchmarkCallback = std::function<void(const BenchmarkTokenEvent&)>;

struct BenchmarkModeResult {
    int runs = 0;                         // completed runs (a cancelled run does not count)
    double tokens_per_s = 0;              // new_tokens / median decode time (encoder excluded)
    double ms_per_token_median = 0;       // median of every token latency of every run
    double first_token_ms = 0;            // median from the start of a run to its first token, encoder included
    double total_ms = 0;                  // median wall time of a run: encoder and every token
    std::vector<double> per_position_ms;  // per token position, the median over runs
    std::vector<int> output_ids;          // ids of the first run
    std::string text;                     // decoded output of the first run
};

struct BenchmarkResult {
    int prompt_tokens = 0;  // encoder input length, eos included
    int new_tokens = 0;
    int repeat = 0;
    BenchmarkModeResult cache_on;
    BenchmarkModeResult cache_off;
    double speedup = 0;      // cache-off decode time per token over cache-on (0 unless both modes ran)
    bool identical = false;  // every completed run of both modes produced the same ids
    bool stopped = false;    // cancelled through the stop flag before every run completed
};

// Runs options.repeat runs per mode, alternating cache on / cache off. Throws umt5::Error for invalid options.
BenchmarkResult run_benchmark(const Model& model, const BenchmarkOptions& options,
                              const BenchmarkCallback& on_token = {});

}  // namespace umt5
