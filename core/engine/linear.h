#pragma once
// A bias-free linear layer y = x W^T. The Hugging Face weight [out, in] is packed once at construction for the
// kernel that runs it, chosen for this CPU at run time (core/engine/kernels.h, preferred()):
//   - oneDNN's matmul (AVX-512 CPUs, and wherever the project has no kernel of its own): the {in, out} matrix is
//     reordered into the layout the matmul prefers (on AVX-512 a blocked one), because a matmul given the plain
//     layout repacks the whole matrix on every call, which made single-row decoder steps several times slower.
//     One primitive per row bucket (M = 1 for decoder steps; longer inputs rounded up to a multiple of 8, or of 64
//     above 128 rows, and padded) and thread count is created on first use and reused: a oneDNN primitive splits
//     its work for the OpenMP thread count of its creation and runs with that many threads whatever the count is
//     later, so the automatic thread setting (runtime.h) needs one per count.
//   - the project's own AVX2 / AVX-VNNI kernels (CPUs below AVX-512, or ONEDNN_MAX_CPU_ISA=AVX2), where oneDNN 2.6
//     has no bf16 matmul and a slow int8 one, for every row count.
// Either way a row's outputs do not depend on the other rows of the call (test_kernels checks it bit for bit).
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <dnnl.hpp>

#include "core/engine/kernels.h"
#include "core/formats/tensor.h"

namespace umt5 {

// How a layer's weights are stored and multiplied.
//   F32:  exact (the reference mode).
//   BF16: weights and activations rounded to bfloat16, products accumulated in F32 (oneDNN's AVX-512 BF16 kernels,
//         or the own AVX2 one, which widens the bf16 weights to F32 in registers).
//   Int8: weights quantized at load to int8 with one scale per output feature (per row of the Hugging Face
//         [out, in] weight); activations quantized per call with one scale per input row (round to nearest even);
//         int32 accumulation, then y = (row scale * weight scale) * sum.
enum class Precision { F32, BF16, Int8 };
const char* precision_name(Precision precision);  // "fp32", "bf16", "int8"
// Parses "fp32", "bf16" or "int8"; throws umt5::Error otherwise.
Precision parse_precision(const std::string& name);

// An element-wise function applied to a layer's output, fused into the matmul as a oneDNN post-op.
enum class Activation {
    None,
    GeluTanh,  // "gelu_new": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    GeluErf,   // "gelu": 0.5 x (1 + erf(x / sqrt(2)))
    Relu,
};

class Linear {
public:
    Linear() = default;
    // `weight`: F32 [out_features, in_features]; converted to `precision`, packed into the layer's own memory and
    // then released. `activation` is applied to every output (not together with accumulate).
    // Throws UnsupportedPrecision (core/engine/precision_support.h) when this CPU has no kernel for `precision`.
    explicit Linear(Tensor weight, Precision precision = Precision::F32, Activation activation = Activation::None);
    Linear(Linear&& other) noexcept;
    Linear& operator=(Linear&& other) noexcept;

    int64_t in_features() const { return in_; }
    int64_t out_features() const { return out_; }
    Precision precision() const { return precision_; }
    size_t weight_bytes() const;
    // The kernel that runs this layer on this CPU: "own avx2 bf16", "own avx2_vnni int8", ... or "oneDNN " and
    // oneDNN's implementation name for a one-row product, e.g. "oneDNN brg:avx512_core_bf16".
    std::string kernel() const;

    // y[m, out] = x[m, in] W^T; with `accumulate`, y += x W^T (a oneDNN sum post-op: fused residual add).
    void forward(const float* x, int64_t m, float* y, bool accumulate = false) const;

private:
    struct Primitive {
        dnnl::matmul matmul;
        bool on_packed = true;  // false: no kernel takes the packed layout for this M; unpacked per call
        std::string implementation;  // oneDNN's name for it
    };
    const Primitive& primitive(int64_t m, bool accumulate) const;
    dnnl::memory::desc plain_desc() const;
    dnnl::primitive_attr attributes(bool accumulate) const;

    int64_t in_ = 0;
    int64_t out_ = 0;
    Precision precision_ = Precision::F32;
    Activation activation_ = Activation::None;
    void pack_own(kernels::Kernel kernel, const Tensor& weight, const Tensor& quantized);
    void apply_activation(float* y, int64_t count) const;

    std::vector<float> weight_scales_;  // Int8: dequantization scale of each output feature
    std::unique_ptr<kernels::PackedWeights> own_;  // set when the project's own kernel runs the layer
    std::shared_ptr<void> storage_;  // oneDNN's packed weights (kernels::weight_storage)
    dnnl::memory weights_;           // oneDNN's packed weights, in the layout of weights_.get_desc()
    mutable std::mutex mutex_;
    mutable std::map<std::tuple<int64_t, bool, int>, Primitive> primitives_;  // (rows, accumulate, threads)
};

// A batch of matrices in memory: element (b, i, j) of operand X is X.data[b * batch_stride + i * row_stride + j *
// col_stride].
struct StridedMatrix {
    const float* data;
    int64_t batch_stride;
    int64_t row_stride;
    int64_t col_stride;
};

// Batched products for attention, C[b] = A[b] (m x k) * B[b] (k x n), with sizes and strides given at run time
// (one primitive, created once). A and C have unit column stride; B has unit column stride, or with
// `b_transposed` unit row stride (B is then the transpose of a row-major matrix, as K is in Q K^T).
class BatchedMatmul {
public:
    explicit BatchedMatmul(bool b_transposed);
    BatchedMatmul(BatchedMatmul&& other) noexcept;
    BatchedMatmul& operator=(BatchedMatmul&& other) noexcept;
    void run(int64_t batch, int64_t m, int64_t k, int64_t n, StridedMatrix a, StridedMatrix b, float* c,
             int64_t c_batch_stride, int64_t c_row_stride) const;

private:
    const dnnl::matmul& primitive() const;  // for the calling thread's thread count

    bool b_transposed_;
    mutable std::mutex mutex_;
    mutable std::map<int, dnnl::matmul> primitives_;  // by thread count
};

}  // namespace umt5
