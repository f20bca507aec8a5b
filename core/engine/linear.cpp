#include "core/engine/linear.h"

#include "core/engine/ops.h"
#include "core/engine/precision_support.h"
#include "core/engine/runtime.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <tuple>

namespace umt5 {

namespace {
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
}  // namespace

const char* precision_name(Precision precision) {
    switch (precision) {
    case Precision::F32: return "fp32";
    case Precision::BF16: return "bf16";
    case Precision::Int8: return "int8";
    }
    return "?";
}

Precision parse_precision(const std::string& name) {
    if (name == "fp32" || name == "f32") return Precision::F32;
    if (name == "bf16") return Precision::BF16;
    if (name == "int8") return Precision::Int8;
    throw Error("unknown precision \"" + name + "\" (use fp32, bf16 or int8)");
}

namespace {

dt weight_type(Precision p) { return p == Precision::F32 ? dt::f32 : p == Precision::BF16 ? dt::bf16 : dt::s8; }
dt source_type(Precision p) { return weight_type(p); }

// Per-thread buffers for converted activations and int8 results, so a forward pass allocates nothing once warm.
struct ConversionScratch {
    std::vector<uint16_t> bf16;
    std::vector<int8_t> int8;
    std::vector<float> product;
    std::vector<float> row_scales;
    std::vector<float> padded_source;  // F32 rows padded to the primitive's row count
    std::vector<float> padded_output;
};

// Row counts above one are rounded up to a bucket, so a growing prefix (uncached decoding, encoder inputs of any
// length) reuses a few primitives instead of creating one per length. Rows are independent in a matmul, so the
// padding rows only cost their share of the product.
int64_t row_bucket(int64_t m) {
    if (m <= 1) return m;
    const int64_t step = m <= 128 ? 8 : 64;
    return (m + step - 1) / step * step;
}
// The per-call bf16 conversion, written so the compiler vectorizes it (`omp simd`).

// y[i] = bfloat16(x[i]), rounded to nearest even; NaN stays a quiet NaN (as f32_to_bf16).
void convert_to_bf16(const float* x, int64_t n, uint16_t* y) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
        uint32_t bits;
        std::memcpy(&bits, &x[i], 4);
        const uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
        const uint32_t quiet_nan = (bits >> 16) | 0x40u;
        y[i] = static_cast<uint16_t>((bits & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
    }
}

// A plain row-major [rows, cols] matrix descriptor of this thread pointing at `data`. The memory objects are
// kept per thread and shape (and role, so a layer's source and destination never share one) and only get a new
// data handle per call: creating three of them per call cost about 1 us, some 2 % of an int8 decoder step.
dnnl::memory& plain_matrix(int role, int64_t rows, int64_t cols, dt type, void* data) {
    thread_local std::map<std::tuple<int, int64_t, int64_t, dt>, dnnl::memory> matrices;
    const auto key = std::make_tuple(role, rows, cols, type);
    auto it = matrices.find(key);
    if (it == matrices.end())
        it = matrices.emplace(key, dnnl::memory({{rows, cols}, type, tag::ab}, cpu_engine(), DNNL_MEMORY_NONE)).first;
    it->second.set_data_handle(data);
    return it->second;
}

std::string layer_words(Precision precision, int64_t out, int64_t in) {
    return std::string(precision_name(precision)) + " linear layer [" + std::to_string(out) + ", " +
           std::to_string(in) + "]";
}

ConversionScratch& conversion_scratch() {
    thread_local ConversionScratch scratch;
    return scratch;
}

}  // namespace

Linear::Linear(Tensor weight, Precision precision, Activation activation)
    : precision_(precision), activation_(activation) {
    if (weight.rank() != 2 || weight.dtype() != DType::F32)
        throw Error("linear layer needs an F32 [out, in] weight, got " + dtype_name(weight.dtype()) + " " +
                    shape_string(weight.shape()));
    out_ = weight.dim(0);
    in_ = weight.dim(1);

    // Int8: one symmetric scale per output feature (row of the [out, in] weight), quantized before packing.
    Tensor quantized;
    if (precision_ == Precision::Int8) {
        quantized = Tensor({out_, in_}, DType::I8);
        weight_scales_.resize(static_cast<size_t>(out_));
        const float* w = weight.data<float>();
        int8_t* q = quantized.data<int8_t>();
        for (int64_t n = 0; n < out_; ++n) {
            float max_abs = 0;
            for (int64_t k = 0; k < in_; ++k) max_abs = std::max(max_abs, std::fabs(w[n * in_ + k]));
            const float scale = max_abs > 0 ? max_abs / 127.0f : 1.0f;
            weight_scales_[static_cast<size_t>(n)] = scale;
            for (int64_t k = 0; k < in_; ++k)
                q[n * in_ + k] = static_cast<int8_t>(std::lrint(std::clamp(w[n * in_ + k] / scale, -127.0f, 127.0f)));
        }
    }

    if (const std::optional<kernels::Kernel> own = kernels::preferred(precision_)) {
        pack_own(*own, weight, quantized);
        return;
    }
    // The layout the matmul wants for one row (a decoder step); the same kernels take it for every row count.
    // Where oneDNN has no kernel for this precision on this CPU, the project's own runs it if it can; otherwise the
    // precision is refused here, in words (bf16 below AVX-512 without F16C/AVX2, say).
    const dnnl::memory::desc any({in_, out_}, weight_type(precision_), tag::any);
    std::optional<dnnl::matmul::primitive_desc> pd;
    try {
        pd.emplace(dnnl::matmul::desc({{1, in_}, source_type(precision_), tag::ab}, any, {{1, out_}, dt::f32, tag::ab}),
                   attributes(false), cpu_engine());
    } catch (const dnnl::error& e) {
        const std::optional<kernels::Kernel> own = kernels::fallback(precision_);
        if (!own)
            throw UnsupportedPrecision(unsupported_reason(precision_, e.what()), layer_words(precision_, out_, in_));
        pack_own(*own, weight, quantized);
        return;
    }
    const dnnl::memory::desc plain_f32({in_, out_}, dt::f32, tag::ba);
    dnnl::memory plain = precision_ == Precision::Int8
                             ? dnnl::memory(plain_desc(), cpu_engine(), quantized.raw())
                             : dnnl::memory(plain_f32, cpu_engine(), weight.raw());
    storage_ = kernels::weight_storage(pd->weights_desc().get_size(), precision_);
    weights_ = dnnl::memory(pd->weights_desc(), cpu_engine(), storage_.get());
    dnnl::stream& stream = thread_stream();
    dnnl::reorder(plain, weights_).execute(stream, plain, weights_);  // converts F32 -> BF16 on the way
    stream.wait();
}

void Linear::pack_own(kernels::Kernel kernel, const Tensor& weight, const Tensor& quantized) {
    own_ = precision_ == Precision::Int8
               ? std::make_unique<kernels::PackedWeights>(kernel, quantized.data<int8_t>(), weight_scales_.data(),
                                                          out_, in_)
               : std::make_unique<kernels::PackedWeights>(kernel, weight.data<float>(), out_, in_);
}

Linear::Linear(Linear&& other) noexcept
    : in_(other.in_),
      out_(other.out_),
      precision_(other.precision_),
      activation_(other.activation_),
      weight_scales_(std::move(other.weight_scales_)),
      own_(std::move(other.own_)),
      storage_(std::move(other.storage_)),
      weights_(std::move(other.weights_)),
      primitives_(std::move(other.primitives_)) {}

Linear& Linear::operator=(Linear&& other) noexcept {
    in_ = other.in_;
    out_ = other.out_;
    precision_ = other.precision_;
    activation_ = other.activation_;
    weight_scales_ = std::move(other.weight_scales_);
    own_ = std::move(other.own_);
    weights_ = std::move(other.weights_);  // before the storage it points into is released
    storage_ = std::move(other.storage_);
    primitives_ = std::move(other.primitives_);
    return *this;
}

size_t Linear::weight_bytes() const {
    if (own_) return own_->bytes();
    return weights_ ? weights_.get_desc().get_size() : 0;
}

std::string Linear::kernel() const {
    if (own_) return kernels::kernel_name(own_->kernel());
    if (!weights_) return "none";
    return "oneDNN " + primitive(1, false).implementation;
}

dnnl::memory::desc Linear::plain_desc() const { return {{in_, out_}, weight_type(precision_), tag::ba}; }

dnnl::primitive_attr Linear::attributes(bool accumulate) const {
    dnnl::primitive_attr attr;
    // Int8: the weight and activation scales, the residual add and the activation are applied after the product.
    // No output-scale attribute: fixed per-layer scales would make every layer's primitive distinct, so oneDNN
    // would generate its kernels once per layer instead of once per shape (about 36 ms more before the first
    // token of umt5-small), and runtime scales push it off its fast int8 kernels.
    if (precision_ == Precision::Int8) return attr;
    dnnl::post_ops ops;
    if (accumulate) ops.append_sum(1.0f);
    switch (activation_) {
    case Activation::None: break;
    case Activation::GeluTanh: ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_tanh, 0.0f, 0.0f); break;
    case Activation::GeluErf: ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f); break;
    case Activation::Relu: ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f); break;
    }
    attr.set_post_ops(ops);
    return attr;
}

const Linear::Primitive& Linear::primitive(int64_t m, bool accumulate) const {
    if (precision_ == Precision::Int8) accumulate = false;  // done by forward() after scaling
    std::lock_guard<std::mutex> lock(mutex_);
    auto key = std::make_tuple(m, accumulate, num_threads());
    auto it = primitives_.find(key);
    if (it != primitives_.end()) return it->second;
    const dnnl::memory::desc src({m, in_}, source_type(precision_), tag::ab);
    const dnnl::memory::desc dst({m, out_}, dt::f32, tag::ab);
    const dnnl::primitive_attr attr = attributes(accumulate);
    Primitive p;
    std::optional<dnnl::matmul::primitive_desc> pd;
    try {
        pd.emplace(dnnl::matmul::desc(src, weights_.get_desc(), dst), attr, cpu_engine());
    } catch (const dnnl::error&) {
        try {
            pd.emplace(dnnl::matmul::desc(src, plain_desc(), dst), attr, cpu_engine());
        } catch (const dnnl::error& e) {
            throw UnsupportedPrecision(unsupported_reason(precision_, e.what()),
                                       layer_words(precision_, out_, in_) + " with " + std::to_string(m) + " rows");
        }
        p.on_packed = false;
    }
    p.matmul = dnnl::matmul(*pd);
    p.implementation = pd->impl_info_str();
    return primitives_.emplace(key, std::move(p)).first->second;
}

void Linear::apply_activation(float* y, int64_t count) const {
    switch (activation_) {
    case Activation::None: break;
    case Activation::GeluTanh: for (int64_t i = 0; i < count; ++i) y[i] = gelu_tanh(y[i]); break;
    case Activation::GeluErf: for (int64_t i = 0; i < count; ++i) y[i] = gelu_erf(y[i]); break;
    case Activation::Relu: for (int64_t i = 0; i < count; ++i) y[i] = std::max(y[i], 0.0f); break;
    }
}

void Linear::forward(const float* x, int64_t m, float* y, bool accumulate) const {
    if (m <= 0) return;
    if (own_) {
        own_->multiply(x, m, y, accumulate);
        apply_activation(y, m * out_);
        return;
    }
    const int64_t rows = row_bucket(m);
    const Primitive& prim = primitive(rows, accumulate);
    dnnl::engine& engine = cpu_engine();
    dnnl::stream& stream = thread_stream();
    const auto count = static_cast<size_t>(m * in_);
    const auto padded_count = static_cast<size_t>(rows * in_);
    ConversionScratch& scratch = conversion_scratch();

    // Source in the layer's precision, with rows - m zero rows of padding.
    void* source = const_cast<float*>(x);
    if (precision_ == Precision::F32 && rows != m) {
        if (scratch.padded_source.size() < padded_count) scratch.padded_source.resize(padded_count);
        std::copy(x, x + count, scratch.padded_source.begin());
        std::fill(scratch.padded_source.begin() + static_cast<std::ptrdiff_t>(count),
                  scratch.padded_source.begin() + static_cast<std::ptrdiff_t>(padded_count), 0.0f);
        source = scratch.padded_source.data();
    } else if (precision_ == Precision::BF16) {
        if (scratch.bf16.size() < padded_count) scratch.bf16.resize(padded_count);
        convert_to_bf16(x, static_cast<int64_t>(count), scratch.bf16.data());
        std::fill(scratch.bf16.begin() + static_cast<std::ptrdiff_t>(count),
                  scratch.bf16.begin() + static_cast<std::ptrdiff_t>(padded_count), uint16_t{0});
        source = scratch.bf16.data();
    } else if (precision_ == Precision::Int8) {
        // One symmetric scale per input row; it is applied to the row's outputs after the product.
        if (scratch.int8.size() < padded_count) scratch.int8.resize(padded_count);
        std::fill(scratch.int8.begin() + static_cast<std::ptrdiff_t>(count),
                  scratch.int8.begin() + static_cast<std::ptrdiff_t>(padded_count), int8_t{0});
        if (scratch.row_scales.size() < static_cast<size_t>(m)) scratch.row_scales.resize(static_cast<size_t>(m));
        for (int64_t r = 0; r < m; ++r)
            scratch.row_scales[static_cast<size_t>(r)] =
                kernels::quantize_row(x + r * in_, in_, scratch.int8.data() + r * in_);
        source = scratch.int8.data();
    }
    // Destination: y itself when no padding is needed; otherwise a padded buffer (holding y's rows first when the
    // product is added to them).
    const auto outputs = static_cast<size_t>(m * out_);
    const auto padded_outputs = static_cast<size_t>(rows * out_);
    float* product = y;
    if (precision_ == Precision::Int8) {
        if (scratch.product.size() < padded_outputs) scratch.product.resize(padded_outputs);
        product = scratch.product.data();
    } else if (rows != m) {
        if (scratch.padded_output.size() < padded_outputs) scratch.padded_output.resize(padded_outputs);
        if (accumulate) std::copy(y, y + outputs, scratch.padded_output.begin());
        product = scratch.padded_output.data();
    }

    dnnl::memory& src = plain_matrix(0, rows, in_, source_type(precision_), source);
    dnnl::memory& dst = plain_matrix(1, rows, out_, dt::f32, product);
    dnnl::memory wei = weights_;
    if (!prim.on_packed) {
        wei = dnnl::memory(plain_desc(), engine);
        dnnl::reorder(weights_, wei).execute(stream, const_cast<dnnl::memory&>(weights_), wei);
    }
    prim.matmul.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
    stream.wait();
    if (precision_ != Precision::Int8 && product != y) std::copy(product, product + outputs, y);

    // Int8: y[r] (+)= activation(row scale * weight scale * q_x q_w^T).
    if (precision_ == Precision::Int8) {
        const float* weight_scale = weight_scales_.data();
        for (int64_t r = 0; r < m; ++r) {
            const float scale = scratch.row_scales[static_cast<size_t>(r)];
            const float* p = product + r * out_;
            float* out = y + r * out_;
            if (accumulate) {
#pragma omp simd
                for (int64_t i = 0; i < out_; ++i) out[i] += scale * weight_scale[i] * p[i];
            } else {
#pragma omp simd
                for (int64_t i = 0; i < out_; ++i) out[i] = scale * weight_scale[i] * p[i];
            }
            apply_activation(out, out_);
        }
    }
}

BatchedMatmul::BatchedMatmul(bool b_transposed) : b_transposed_(b_transposed) { primitive(); }

BatchedMatmul::BatchedMatmul(BatchedMatmul&& other) noexcept
    : b_transposed_(other.b_transposed_), primitives_(std::move(other.primitives_)) {}

BatchedMatmul& BatchedMatmul::operator=(BatchedMatmul&& other) noexcept {
    b_transposed_ = other.b_transposed_;
    primitives_ = std::move(other.primitives_);
    return *this;
}

const dnnl::matmul& BatchedMatmul::primitive() const {
    std::lock_guard<std::mutex> lock(mutex_);
    const int threads = num_threads();
    auto it = primitives_.find(threads);
    if (it != primitives_.end()) return it->second;
    // A unit stride in the innermost dimension of each operand lets oneDNN pick its JIT gemm rather than the
    // reference kernel that fully runtime strides fall back to.
    const auto rt = DNNL_RUNTIME_DIM_VAL;
    const dnnl::memory::dims dims{rt, rt, rt};
    const dnnl::memory::desc row_major(dims, dt::f32, dnnl::memory::dims{rt, rt, 1});
    const dnnl::memory::desc column_major(dims, dt::f32, dnnl::memory::dims{rt, 1, rt});
    dnnl::matmul matmul(dnnl::matmul::primitive_desc(
        dnnl::matmul::desc(row_major, b_transposed_ ? column_major : row_major, row_major), cpu_engine()));
    return primitives_.emplace(threads, std::move(matmul)).first->second;
}

void BatchedMatmul::run(int64_t batch, int64_t m, int64_t k, int64_t n, StridedMatrix a, StridedMatrix b, float* c,
                        int64_t c_batch_stride, int64_t c_row_stride) const {
    if (batch <= 0 || m <= 0 || n <= 0 || k <= 0) return;
    if (a.col_stride != 1 || (b_transposed_ ? b.row_stride : b.col_stride) != 1)
        throw Error("batched matmul: operand strides do not match the primitive's layout");
    dnnl::engine& engine = cpu_engine();
    dnnl::memory src({{batch, m, k}, dt::f32, {a.batch_stride, a.row_stride, a.col_stride}}, engine,
                     const_cast<float*>(a.data));
    dnnl::memory wei({{batch, k, n}, dt::f32, {b.batch_stride, b.row_stride, b.col_stride}}, engine,
                     const_cast<float*>(b.data));
    dnnl::memory dst({{batch, m, n}, dt::f32, {c_batch_stride, c_row_stride, 1}}, engine, c);
    dnnl::stream& stream = thread_stream();
    primitive().execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
    stream.wait();
}

}  // namespace umt5
