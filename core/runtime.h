#pragma once
// The process-wide oneDNN CPU engine, a stream per thread, and thread-count control.
#include <dnnl.hpp>

namespace umt5 {

dnnl::engine& cpu_engine();
// A CPU stream for the calling thread (oneDNN streams must not be shared between threads).
dnnl::stream& thread_stream();
// Sets the number of OpenMP threads oneDNN uses (0 = leave the default: one per core).
void set_num_threads(int threads);
int num_threads();

}  // namespace umt5
