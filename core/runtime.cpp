#include "core/runtime.h"

#include <omp.h>

#include <algorithm>

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

}  // namespace

dnnl::engine& cpu_engine() {
    respect_thread_limit();
    static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    return engine;
}

dnnl::stream& thread_stream() {
    respect_thread_limit();
    thread_local dnnl::stream stream(cpu_engine());
    return stream;
}

void set_num_threads(int threads) {
    if (threads > 0) omp_set_num_threads(std::min(threads, omp_get_thread_limit()));
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace umt5
