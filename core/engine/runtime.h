#pragma once
// The process-wide oneDNN CPU engine, a stream per thread, and thread-count control.
#include <string>

#include <dnnl.hpp>

namespace umt5 {

// The engine. Created on first use, after capping oneDNN's kernels at AVX-512 BF16 unless ONEDNN_MAX_CPU_ISA
// (or DNNL_MAX_CPU_ISA) is set (AMX kernels are slower for single-row decoder steps; see runtime.cpp).
dnnl::engine& cpu_engine();
// The instruction set oneDNN's kernels use, e.g. "avx512_core_bf16" (for reports and benchmarks).
std::string kernel_isa();
// A CPU stream for the calling thread (oneDNN streams must not be shared between threads).
dnnl::stream& thread_stream();
// Sets the number of OpenMP threads oneDNN uses (0 = leave the default: one per core).
void set_num_threads(int threads);
int num_threads();

}  // namespace umt5
