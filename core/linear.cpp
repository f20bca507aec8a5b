#include "core/linear.h"

#include "core/runtime.h"

namespace umt5 {

namespace {
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
}  // namespace

Linear::Linear(Tensor weight) {
    if (weight.rank() != 2 || weight.dtype() != DType::F32)
        throw Error("linear layer needs an F32 [out, in] weight, got " + dtype_name(weight.dtype()) + " " +
                    shape_string(weight.shape()));
    out_ = weight.dim(0);
    in_ = weight.dim(1);
    // The layout the matmul wants for one row (a decoder step); the same kernels take it for every row count.
    const dnnl::memory::desc any({in_, out_}, dt::f32, tag::any);
    const dnnl::matmul::primitive_desc pd(
        dnnl::matmul::desc({{1, in_}, dt::f32, tag::ab}, any, {{1, out_}, dt::f32, tag::ab}), cpu_engine());
    dnnl::memory plain(plain_desc(), cpu_engine(), const_cast<void*>(weight.raw()));
    weights_ = dnnl::memory(pd.weights_desc(), cpu_engine());
    dnnl::stream& stream = thread_stream();
    dnnl::reorder(plain, weights_).execute(stream, plain, weights_);
    stream.wait();
}

Linear::Linear(Linear&& other) noexcept
    : in_(other.in_), out_(other.out_), weights_(std::move(other.weights_)), primitives_(std::move(other.primitives_)) {}

Linear& Linear::operator=(Linear&& other) noexcept {
    in_ = other.in_;
    out_ = other.out_;
    weights_ = std::move(other.weights_);
    primitives_ = std::move(other.primitives_);
    return *this;
}

dnnl::memory::desc Linear::plain_desc() const { return {{in_, out_}, dt::f32, tag::ba}; }

const Linear::Primitive& Linear::primitive(int64_t m, bool accumulate) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto key = std::make_pair(m, accumulate);
    auto it = primitives_.find(key);
    if (it != primitives_.end()) return it->second;
    const dnnl::memory::desc src({m, in_}, dt::f32, tag::ab);
    const dnnl::memory::desc dst({m, out_}, dt::f32, tag::ab);
    dnnl::primitive_attr attr;
    if (accumulate) {
        dnnl::post_ops ops;
        ops.append_sum(1.0f);
        attr.set_post_ops(ops);
    }
    Primitive p;
    try {
        p.matmul = dnnl::matmul({dnnl::matmul::desc(src, weights_.get_desc(), dst), attr, cpu_engine()});
    } catch (const dnnl::error&) {
        p.matmul = dnnl::matmul({dnnl::matmul::desc(src, plain_desc(), dst), attr, cpu_engine()});
        p.on_packed = false;
    }
    return primitives_.emplace(key, std::move(p)).first->second;
}

void Linear::forward(const float* x, int64_t m, float* y, bool accumulate) const {
    if (m <= 0) return;
    const Primitive& prim = primitive(m, accumulate);
    dnnl::engine& engine = cpu_engine();
    dnnl::stream& stream = thread_stream();
    dnnl::memory src({{m, in_}, dt::f32, tag::ab}, engine, const_cast<float*>(x));
    dnnl::memory dst({{m, out_}, dt::f32, tag::ab}, engine, y);
    dnnl::memory wei = weights_;
    if (!prim.on_packed) {
        wei = dnnl::memory(plain_desc(), engine);
        dnnl::reorder(weights_, wei).execute(stream, const_cast<dnnl::memory&>(weights_), wei);
    }
    prim.matmul.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
    stream.wait();
}

BatchedMatmul::BatchedMatmul(bool b_transposed) : b_transposed_(b_transposed) {
    // A unit stride in the innermost dimension of each operand lets oneDNN pick its JIT gemm rather than the
    // reference kernel that fully runtime strides fall back to.
    const auto rt = DNNL_RUNTIME_DIM_VAL;
    const dnnl::memory::dims dims{rt, rt, rt};
    const dnnl::memory::desc row_major(dims, dt::f32, dnnl::memory::dims{rt, rt, 1});
    const dnnl::memory::desc column_major(dims, dt::f32, dnnl::memory::dims{rt, 1, rt});
    primitive_ = dnnl::matmul(dnnl::matmul::primitive_desc(
        dnnl::matmul::desc(row_major, b_transposed ? column_major : row_major, row_major), cpu_engine()));
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
    primitive_.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
    stream.wait();
}

}  // namespace umt5
