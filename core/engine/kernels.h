#pragma once
// The project's own matrix kernels for Linear, y[m, n] = x[m, k] W^T, on AVX2 CPUs, where oneDNN 2.6 has no bf16
// matmul at all and runs int8 through its generic gemm (the 1 x 512 * 512 x 256384 output projection took about
// 460 ms per decode step on an AVX2 EPYC, issue 15). Weights are packed once, in column blocks of 16 that a
// decode step streams front to back; products are split over output columns between the OpenMP threads.
//
// Every output element is computed by the same instructions in the same order whatever the row count and however
// the rows are grouped (an FMA chain over k per column, or exact integer sums), so a row's result never depends on
// the rows computed with it: a decode step (1 row) and the same position inside a prefix agree bit for bit.
// Kernels are compiled for their instruction set with `target` attributes and chosen at run time (core/engine/cpu.h),
// so the binary still runs on CPUs without them.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

namespace umt5 {

enum class Precision;

namespace kernels {

enum class Kernel {
    F32Avx2,      // FMA over f32
    Bf16Avx2,     // bf16 weights widened to f32 in registers, activations rounded to bf16, FMA over f32
    Int8Avx2,     // s8 x s8: vpmovsxbw + vpmaddwd, int32 sums
    Int8AvxVnni,  // u8 x s8 with vpdpbusd (AVX-VNNI), activations shifted by 128 and the shift subtracted per column
};
const char* kernel_name(Kernel kernel);  // "own avx2 f32", "own avx2 bf16", "own avx2 int8", "own avx2_vnni int8"
Precision kernel_precision(Kernel kernel);
// Whether this CPU, within the ONEDNN_MAX_CPU_ISA cap, can run `kernel`.
bool supported(Kernel kernel);

// The own kernel Linear uses for `precision` on this CPU, or none when oneDNN's kernels are the better choice.
// On AVX-512 CPUs oneDNN's brgemm kernels stream the weights as fast as memory allows and do not depend on the row
// count, so they stay; below AVX-512 every precision runs here (f32 too, because oneDNN's AVX2 gemm sums in an
// order that depends on the row count).
std::optional<Kernel> preferred(Precision precision);
// The own kernel for `precision` when oneDNN has none for this CPU (bf16 below AVX-512 BF16), if the CPU has one.
std::optional<Kernel> fallback(Precision precision);

// Symmetric int8 quantization of one row, as Linear's int8 precision defines it: scale = max |x| / 127 (1 for an
// all-zero row), q[i] = round-to-nearest-even(clamp(x[i] / scale, -127, 127)). Returns the scale.
float quantize_row(const float* x, int64_t n, int8_t* q);

// 64-byte aligned memory for `bytes` of packed weights; large bf16 and int8 ones on 2 MiB pages (kernels.cpp says
// why). Shared by the own kernels and Linear's oneDNN layouts.
std::shared_ptr<void> weight_storage(size_t bytes, Precision precision);

// A weight matrix packed for one kernel.
class PackedWeights {
public:
    // F32 and BF16 kernels: `w` is the F32 [out, in] weight. Int8 kernels: `q` the [out, in] int8 weight and
    // `scales` its dequantization scale per output feature (both as Linear quantizes them).
    PackedWeights(Kernel kernel, const float* w, int64_t out, int64_t in);
    PackedWeights(Kernel kernel, const int8_t* q, const float* scales, int64_t out, int64_t in);

    Kernel kernel() const { return kernel_; }
    size_t bytes() const { return bytes_; }

    // y[m, out] = x[m, in] W^T (y += with `accumulate`). Int8: y = (row scale * weight scale) * integer sum.
    void multiply(const float* x, int64_t m, float* y, bool accumulate) const;

private:
    void allocate(size_t bytes);

    Kernel kernel_;
    int64_t out_ = 0;
    int64_t in_ = 0;
    int64_t blocks_ = 0;  // column blocks of 16
    size_t bytes_ = 0;
    std::shared_ptr<void> storage_;  // the packed blocks, on 2 MiB pages when large
    std::unique_ptr<float[]> scales_;          // Int8: per output feature, padded to whole blocks with 0
    std::unique_ptr<int32_t[]> compensation_;  // Int8AvxVnni: 128 * sum over k of each column's weights
};

}  // namespace kernels
}  // namespace umt5
