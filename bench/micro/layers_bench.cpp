// Per-layer microbenchmarks of the decode path (Google Benchmark): every Linear shape of a umt5-small decoder step
// at M = 1 in each precision, with the bytes of weights streamed per call reported as a rate, so the numbers can be
// set against the machine's memory bandwidth, which BM_ReadBandwidth measures for buffers of several sizes
// (bench/README.md). Each row's label names the kernel that ran it (Linear::kernel()); ONEDNN_MAX_CPU_ISA=AVX2
// measures the AVX2 path on an AVX-512 machine.
//
//   build: cmake -DUMT5_BUILD_BENCH=ON ...; run: OMP_NUM_THREADS=2 bench/micro/umt5-layers-bench
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "core/engine/linear.h"
#include "core/engine/precision_support.h"
#include "core/engine/runtime.h"

namespace {

umt5::Tensor random_weight(int64_t out, int64_t in) {
    umt5::Tensor w({out, in}, umt5::DType::F32);
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 0.05f);
    for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = normal(rng);
    return w;
}

// Arguments: out features, in features, precision (0 fp32, 1 bf16, 2 int8), rows.
void BM_Linear(benchmark::State& state) {
    const int64_t out = state.range(0), in = state.range(1), rows = state.range(3);
    const auto precision = static_cast<umt5::Precision>(state.range(2));
    // A precision this CPU cannot run (bf16 below AVX-512) is reported as skipped, with the reason.
    if (const umt5::PrecisionSupport& support = umt5::precision_support(precision); !support.runs) {
        state.SkipWithError(support.reason.c_str());
        return;
    }
    const umt5::Linear linear(random_weight(out, in), precision);
    std::vector<float> x(static_cast<size_t>(rows * in), 0.5f), y(static_cast<size_t>(rows * out));
    linear.forward(x.data(), rows, y.data());
    for (auto _ : state) {
        linear.forward(x.data(), rows, y.data());
        benchmark::DoNotOptimize(y.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(linear.weight_bytes()));
    state.SetLabel(std::string(umt5::precision_name(precision)) + ", " + linear.kernel());
}

void decoder_shapes(benchmark::internal::Benchmark* b) {
    // umt5-small: d_model 512, heads x d_kv = 384, d_ff 1024, vocabulary 256384.
    const int64_t shapes[][2] = {{384, 512}, {512, 384}, {1024, 512}, {512, 1024}, {256384, 512}};
    for (int precision = 0; precision < 3; ++precision)
        for (const auto& s : shapes) b->Args({s[0], s[1], precision, 1});
    for (int precision = 0; precision < 3; ++precision)
        for (int64_t rows : {48, 512}) b->Args({1024, 512, precision, rows});
}

// Reads a buffer of state.range(0) MiB with every OpenMP thread (a summing loop): the bandwidth a weight-streaming
// decoder step can hope for when its weights are about that size. Small buffers stay in the last-level cache.
void BM_ReadBandwidth(benchmark::State& state) {
    const auto count = static_cast<int64_t>(state.range(0)) * (1 << 20) / static_cast<int64_t>(sizeof(float));
    std::vector<float> buffer(static_cast<size_t>(count), 1.0f);
    const float* data = buffer.data();
    constexpr int64_t kLanes = 64;  // independent partial sums, so the adds never wait on each other
    for (auto _ : state) {
        float sum = 0;
#pragma omp parallel reduction(+ : sum)
        {
            float partial[kLanes] = {};
#pragma omp for
            for (int64_t i = 0; i < count; i += kLanes)
                for (int64_t j = 0; j < kLanes; ++j) partial[j] += data[i + j];
            for (float p : partial) sum += p;
        }
        benchmark::DoNotOptimize(sum);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * count * static_cast<int64_t>(sizeof(float)));
}

}  // namespace

BENCHMARK(BM_ReadBandwidth)->ArgName("MiB")->Arg(32)->Arg(64)->Arg(128)->Arg(256)->Arg(512)->UseRealTime();
BENCHMARK(BM_Linear)->Apply(decoder_shapes)->ArgNames({"out", "in", "prec", "rows"})->UseRealTime();

BENCHMARK_MAIN();
