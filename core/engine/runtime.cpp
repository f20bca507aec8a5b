#include "core/engine/runtime.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <optional>

#include "core/engine/thread_governor.h"

namespace umt5 {

namespace {

// oneDNN sizes a primitive's work split by omp_get_max_threads() of the thread that creates it, and asks for that
// many threads when it runs. If OMP_THREAD_LIMIT caps the team below that number, the missing threads' share of
// the work is silently skipped and the results are wrong. So, on every thread that touches the engine, the
// OpenMP thread count is first brought within the limit.
void respect_thread_limit() {
    thread_local const bool clamped = [] {
        if (omp_get_max_threads() > omp_get_thread_limit()) omp_set_num_threads(omp_get_thread_limit());
        return true;
    }();
    (void)clamped;
}

// Decoding runs one row at a time, and there oneDNN 2.6's AMX kernels stream weights more slowly than its
// AVX-512 BF16/VNNI ones: on this project's benchmark machine (umt5-small, 2 threads) int8 decoded 125 tok/s with
// AMX and 158 without, bf16 62 and 77 (bench/README.md). AMX wins only on many rows at once (long prompts, decoding
// without a cache), which matter far less. So unless the user chose with ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA),
// kernels are capped at AVX-512 BF16 before the first primitive exists (the cap is process-wide and fixed from then
// on). On CPUs without AMX the cap changes nothing.
void prefer_single_row_kernels() {
    if (std::getenv("ONEDNN_MAX_CPU_ISA") || std::getenv("DNNL_MAX_CPU_ISA")) return;
    // Fails only when it is too late (a primitive already exists) or the build has no ISA control: oneDNN's
    // choice then stays, which is correct, only slower.
    (void)dnnl::set_max_cpu_isa(dnnl::cpu_isa::avx512_core_bf16);
}

}  // namespace

dnnl::engine& cpu_engine() {
    respect_thread_limit();
    static dnnl::engine engine = [] {
        prefer_single_row_kernels();
        return dnnl::engine(dnnl::engine::kind::cpu, 0);
    }();
    return engine;
}

std::string kernel_isa() {
    switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::sse41: return "sse41";
    default: return "other";
    }
}

dnnl::stream& thread_stream() {
    respect_thread_limit();
    thread_local dnnl::stream stream(cpu_engine());
    return stream;
}

namespace {

// OpenMP's default count, read before anything here changes a thread's count. Threads started later (the app's
// worker) begin with it too; omp_get_max_threads() on such a thread after a change would not tell it any more.
int openmp_default_threads() {
    static const int threads = omp_get_max_threads();
    return threads;
}
[[maybe_unused]] const int read_at_startup = openmp_default_threads();

struct ThreadSetting {
    bool automatic = true;
    std::optional<ThreadGovernor> governor;  // automatic only, made on first use
    std::vector<int64_t> steps;              // decoder steps per thread count
};

ThreadSetting& thread_setting() {
    thread_local ThreadSetting setting;
    return setting;
}

ThreadGovernor& governor(ThreadSetting& setting) {
    if (!setting.governor) setting.governor.emplace(max_threads());
    return *setting.governor;
}

}  // namespace

void set_num_threads(int threads) {
    respect_thread_limit();
    ThreadSetting& setting = thread_setting();
    setting.automatic = threads <= 0;
    setting.governor.reset();
    setting.steps.clear();
    omp_set_num_threads(setting.automatic ? max_threads() : std::min(threads, omp_get_thread_limit()));
}

bool automatic_threads() { return thread_setting().automatic; }

int num_threads() {
    respect_thread_limit();
    return omp_get_max_threads();
}

int max_threads() { return std::max(1, std::min(openmp_default_threads(), omp_get_thread_limit())); }

void for_each_likely_thread_count(const std::function<void()>& work) {
    const int current = num_threads();
    if (!automatic_threads() || max_threads() == 1) {
        work();
        return;
    }
    for (int threads : {max_threads(), 1}) {
        omp_set_num_threads(threads);
        work();
    }
    omp_set_num_threads(current);
}

DecoderStepThreads::DecoderStepThreads() : active_(automatic_threads()) {
    if (active_) omp_set_num_threads(governor(thread_setting()).threads());
}

void DecoderStepThreads::finished(double ms) {
    if (!active_) return;
    ThreadSetting& setting = thread_setting();
    ThreadGovernor& g = governor(setting);
    const auto used = static_cast<size_t>(g.threads());
    if (setting.steps.size() <= used) setting.steps.resize(used + 1, 0);
    ++setting.steps[used];
    g.record(ms);
}

DecoderStepThreads::~DecoderStepThreads() {
    if (active_) omp_set_num_threads(governor(thread_setting()).chosen());
}

std::vector<int64_t> decoder_steps_per_thread_count() { return thread_setting().steps; }

}  // namespace umt5
