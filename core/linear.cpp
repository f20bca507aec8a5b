#include "core/linear.h"

#include "core/runtime.h"

namespace umt5 {

namespace {
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
}  // namespace

Linear::Linear(Tensor weight) : weight_(std::move(weight)) {
    if (weight_.rank() != 2 || weight_.dtype() != DType::F32)
        throw Error("linear layer needs an F32 [out, in] weight, got " + dtype_name(weight_.dtype()) + " " +
                    shape_string(weight_.shape()));
}

Linear::Linear(Linear&& other) noexcept : weight_(std::move(other.weight_)), primitives_(std::move(other.primitives_)) {}

Linear& Linear::operator=(Linear&& other) noexcept {
    weight_ = std::move(other.weight_);
    primitives_ = std::move(other.primitives_);
    return *this;
}

const dnnl::matmul& Linear::primitive(int64_t m, bool accumulate) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto key = std::make_pair(m, accumulate);
    auto it = primitives_.find(key);
    if (it != primitives_.end()) return it->second;
    const dnnl::memory::desc src({m, in_features()}, dt::f32, tag::ab);
    const dnnl::memory::desc wei({in_features(), out_features()}, dt::f32, tag::ba);
    const dnnl::memory::desc dst({m, out_features()}, dt::f32, tag::ab);
    dnnl::primitive_attr attr;
    if (accumulate) {
        dnnl::post_ops ops;
        ops.append_sum(1.0f);
        attr.set_post_ops(ops);
    }
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, dst), attr, cpu_engine());
    return primitives_.emplace(key, dnnl::matmul(pd)).first->second;
}

void Linear::forward(const float* x, int64_t m, float* y, bool accumulate) const {
    if (m <= 0) return;
    const dnnl::matmul& prim = primitive(m, accumulate);
    dnnl::engine& engine = cpu_engine();
    dnnl::memory src({{m, in_features()}, dt::f32, tag::ab}, engine, const_cast<float*>(x));
    dnnl::memory wei({{in_features(), out_features()}, dt::f32, tag::ba}, engine,
                     const_cast<void*>(weight_.raw()));
    dnnl::memory dst({{m, out_features()}, dt::f32, tag::ab}, engine, y);
    dnnl::stream& stream = thread_stream();
    prim.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
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
