#include "core/engine/runtime.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>

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

void set_num_threads(int threads) {
    if (threads > 0) omp_set_num_threads(std::min(threads, omp_get_thread_limit()));
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace umt5
