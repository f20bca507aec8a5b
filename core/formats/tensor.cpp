#include "core/formats/tensor.h"

#include "core/formats/mapped_file.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>

namespace umt5 {

size_t dtype_size(DType dtype) {
    switch (dtype) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::I8: case DType::U8: case DType::Bool: return 1;
    }
    throw Error("unknown dtype");
}

std::string dtype_name(DType dtype) {
    switch (dtype) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::Bool: return "BOOL";
    }
    return "?";
}

std::string shape_string(const Shape& shape) {
    std::ostringstream out;
    out << '[';
    for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
    out << ']';
    return out.str();
}

int64_t shape_numel(const Shape& shape) {
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d < 0) throw Error("negative dimension in shape " + shape_string(shape));
        if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
            throw Error("shape " + shape_string(shape) + " has too many elements");
        n *= d;
    }
    return n;
}

float bf16_to_f32(uint16_t value) {
    uint32_t bits = static_cast<uint32_t>(value) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t f32_to_bf16(float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // quiet NaN
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return static_cast<uint16_t>(bits >> 16);
}

float f16_to_f32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    uint32_t bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            exponent = 127 - 15 + 1;
            while (!(mantissa & 0x400u)) { mantissa <<= 1; --exponent; }
            mantissa &= 0x3ffu;
            bits = sign | (exponent << 23) | (mantissa << 13);
        }
    } else if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

namespace {
std::shared_ptr<void> allocate_aligned(size_t nbytes) {
    const size_t rounded = ((nbytes + 63) / 64) * 64;
    void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (!p) throw Error("out of memory allocating " + std::to_string(nbytes) + " bytes");
    std::memset(p, 0, rounded == 0 ? 64 : rounded);
    return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}
}  // namespace

Tensor::Tensor(Shape shape, DType dtype) : shape_(std::move(shape)), numel_(shape_numel(shape_)), dtype_(dtype) {
    if (static_cast<uint64_t>(numel_) > std::numeric_limits<size_t>::max() / dtype_size(dtype_))
        throw Error("tensor of shape " + shape_string(shape_) + " is too large");
    storage_ = allocate_aligned(nbytes());
    data_ = storage_.get();
}

Tensor Tensor::borrow(const void* data, Shape shape, DType dtype) {
    Tensor t;
    t.shape_ = std::move(shape);
    t.numel_ = shape_numel(t.shape_);
    t.dtype_ = dtype;
    t.data_ = const_cast<void*>(data);
    return t;
}

Tensor Tensor::view(const void* data, Shape shape, DType dtype, std::shared_ptr<const void> owner) {
    if (!owner) throw Error("a shared tensor view needs an owner");
    Tensor t = borrow(data, std::move(shape), dtype);
    t.owner_ = std::move(owner);
    return t;
}

int64_t Tensor::dim(int axis) const {
    const int r = rank();
    const int a = axis < 0 ? axis + r : axis;
    if (a < 0 || a >= r)
        throw Error("axis " + std::to_string(axis) + " out of range for shape " + shape_string(shape_));
    return shape_[a];
}

void Tensor::check_type(size_t element_size) const {
    if (element_size != dtype_size(dtype_))
        throw Error("tensor of dtype " + dtype_name(dtype_) + " accessed with an element of " +
                    std::to_string(element_size) + " bytes");
}

void Tensor::check_writable() const {
    if (owner_) throw Error("tensor of shape " + shape_string(shape_) + " is a read-only view and cannot be written");
}

Tensor Tensor::reshaped(Shape shape) const {
    if (shape_numel(shape) != numel_)
        throw Error("cannot reshape " + shape_string(shape_) + " to " + shape_string(shape));
    Tensor t = *this;
    t.shape_ = std::move(shape);
    return t;
}

Tensor Tensor::clone() const {
    Tensor t(shape_, dtype_);
    if (nbytes()) std::memcpy(t.data_, data_, nbytes());
    return t;
}

Tensor Tensor::to_f32() const {
    Tensor out(shape_, DType::F32);
    float* dst = out.data<float>();
    switch (dtype_) {
    case DType::F32:
        if (nbytes()) std::memcpy(dst, data_, nbytes());
        break;
    case DType::BF16: {
        const auto* src = static_cast<const uint16_t*>(data_);
        for (int64_t i = 0; i < numel_; ++i) dst[i] = bf16_to_f32(src[i]);
        break;
    }
    case DType::F16: {
        const auto* src = static_cast<const uint16_t*>(data_);
        for (int64_t i = 0; i < numel_; ++i) dst[i] = f16_to_f32(src[i]);
        break;
    }
    case DType::F64: {
        const auto* src = static_cast<const double*>(data_);
        for (int64_t i = 0; i < numel_; ++i) dst[i] = static_cast<float>(src[i]);
        break;
    }
    default:
        throw Error("cannot convert a " + dtype_name(dtype_) + " tensor to F32");
    }
    return out;
}

void row_to_f32(const Tensor& matrix, int64_t row, float* out) {
    if (matrix.rank() != 2) throw Error("row lookup in a tensor of shape " + shape_string(matrix.shape()));
    if (row < 0 || row >= matrix.dim(0))
        throw Error("row " + std::to_string(row) + " is outside a tensor of shape " + shape_string(matrix.shape()));
    const int64_t n = matrix.dim(1);
    switch (matrix.dtype()) {
    case DType::F32:
        std::memcpy(out, matrix.data<float>() + row * n, static_cast<size_t>(n) * sizeof(float));
        break;
    case DType::BF16: {
        const uint16_t* src = matrix.data<uint16_t>() + row * n;
        for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(src[i]);
        break;
    }
    case DType::F16: {
        const uint16_t* src = matrix.data<uint16_t>() + row * n;
        for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(src[i]);
        break;
    }
    default:
        throw Error("row lookup in a " + dtype_name(matrix.dtype()) + " tensor (F32, F16 or BF16 expected)");
    }
    // A memory-mapped table (Checkpoint::get_mapped) whose file was truncated meanwhile read zeros: refuse them.
    if (matrix.is_shared_view()) check_mapped_read(matrix.raw());
}

}  // namespace umt5
