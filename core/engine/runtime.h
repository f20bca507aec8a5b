#pragma once
// The process-wide oneDNN CPU engine, a stream per thread, and thread-count control.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <dnnl.hpp>

namespace umt5 {

// The engine. Created on first use, after capping oneDNN's kernels at AVX-512 BF16 unless ONEDNN_MAX_CPU_ISA
// (or DNNL_MAX_CPU_ISA) is set (AMX kernels are slower for single-row decoder steps; see runtime.cpp).
dnnl::engine& cpu_engine();
// The instruction set oneDNN's kernels use, e.g. "avx512_core_bf16" (for reports and benchmarks).
std::string kernel_isa();
// A CPU stream for the calling thread (oneDNN streams must not be shared between threads).
dnnl::stream& thread_stream();

// The thread setting of the calling thread (OpenMP thread counts belong to the thread that calls oneDNN).
//   threads > 0: exactly that many OpenMP threads (within OMP_THREAD_LIMIT).
//   threads = 0: automatic, the default. Each decoder step runs with the count a ThreadGovernor picks between 1
//     and max_threads() from the times of the steps before it (thread_governor.h): all threads on an idle
//     machine, fewer when other programs take cores and waiting for them at every product costs more than it
//     brings. Results do not depend on the count.
// Setting it (again) starts the automatic choice afresh.
void set_num_threads(int threads);
bool automatic_threads();
// The OpenMP thread count the calling thread's next oneDNN call runs with.
int num_threads();
// OpenMP's default count (one per core, or OMP_NUM_THREADS) within OMP_THREAD_LIMIT: the most threads the
// automatic setting uses.
int max_threads();
// Runs `work` at every thread count the calling thread's setting is likely to use (the fixed count; with the
// automatic setting 1 and max_threads()), then restores the current count. Model loading warms up its kernels so:
// oneDNN primitives are made for one thread count (linear.h), and making them during a timed step would both
// delay that token and mislead the governor.
void for_each_likely_thread_count(const std::function<void()>& work);

// One decoder step of the generation loop. Under the automatic setting, the constructor sets this step's thread
// count and finished() reports the step's time to the governor; afterwards (also when the step throws) the
// chosen count is set again, so work between steps (the encoder) runs with it. With a fixed count it does nothing.
class DecoderStepThreads {
public:
    DecoderStepThreads();
    ~DecoderStepThreads();
    DecoderStepThreads(const DecoderStepThreads&) = delete;
    DecoderStepThreads& operator=(const DecoderStepThreads&) = delete;
    void finished(double ms);

private:
    bool active_;
};

// Decoder steps run at each thread count (index = count) on the calling thread since its setting was last set,
// for benchmark reports.
std::vector<int64_t> decoder_steps_per_thread_count();

}  // namespace umt5
