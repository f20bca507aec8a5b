#pragma once
// A bias-free linear layer y = x W^T on a oneDNN matmul. The Hugging Face weight [out, in] is an {in, out} matrix
// with format tag `ba`; at construction it is reordered once into the layout oneDNN's matmul prefers (on AVX-512
// a blocked one), because a matmul given the plain layout repacks the whole matrix on every call, which made
// single-row decoder steps several times slower. One primitive per row bucket (M = 1 for decoder steps; longer inputs
// rounded up to a multiple of 8, or of 64 above 128 rows, and padded) and thread count is created on first use and
// reused: a oneDNN primitive splits its work for the OpenMP thread count of its creation and runs with that many
// threads whatever the count is later, so the automatic thread setting (runtime.h) needs one per count.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <dnnl.hpp>

#include "core/formats/tensor.h"

namespace umt5 {

// How a layer's weights are stored and multiplied.
//   F32:  exact (the reference mode).
//   BF16: weights and activations rounded to bfloat16, products accumulated in F32 (AVX-512 BF16 / AMX kernels).
//   Int8: weights quantized at load to int8 with one scale per output feature (per row of the Hugging Face
//         [out, in] weight); activations quantized per call with one scale for the whole input; int32 accumulation.
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
    explicit Linear(Tensor weight, Precision precision = Precision::F32, Activation activation = Activation::None);
    Linear(Linear&& other) noexcept;
    Linear& operator=(Linear&& other) noexcept;

    int64_t in_features() const { return in_; }
    int64_t out_features() const { return out_; }
    Precision precision() const { return precision_; }
    size_t weight_bytes() const { return weights_ ? weights_.get_desc().get_size() : 0; }

    // y[m, out] = x[m, in] W^T; with `accumulate`, y += x W^T (a oneDNN sum post-op: fused residual add).
    void forward(const float* x, int64_t m, float* y, bool accumulate = false) const;

private:
    struct Primitive {
        dnnl::matmul matmul;
        bool on_packed = true;  // false: no kernel takes the packed layout for this M; unpacked per call
    };
    const Primitive& primitive(int64_t m, bool accumulate) const;
    dnnl::memory::desc plain_desc() const;
    dnnl::primitive_attr attributes(bool accumulate) const;

    int64_t in_ = 0;
    int64_t out_ = 0;
    Precision precision_ = Precision::F32;
    Activation activation_ = Activation::None;
    std::vector<float> weight_scales_;  // Int8: dequantization scale of each output feature
    std::shared_ptr<void> huge_page_storage_;  // large bf16/int8 weights: their storage, on 2 MiB pages
    dnnl::memory weights_;  // the weights in the layout of weights_.get_desc(); owns them unless huge_page_storage_
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
