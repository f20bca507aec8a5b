#pragma once
// A small tensor: shape, dtype, and either owned 64-byte-aligned storage or a borrowed pointer
// (for example a caller's buffer). Accessors check dtype and rank and throw umt5::Error.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"

namespace umt5 {

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, Bool };

size_t dtype_size(DType dtype);
std::string dtype_name(DType dtype);  // safetensors spelling: "F32", "BF16", ...

using Shape = std::vector<int64_t>;
std::string shape_string(const Shape& shape);  // "[3, 16, 64]"
// Number of elements; throws if a dimension is negative or the product overflows int64.
int64_t shape_numel(const Shape& shape);

float bf16_to_f32(uint16_t value);
uint16_t f32_to_bf16(float value);  // round to nearest even
float f16_to_f32(uint16_t value);

class Tensor {
public:
    Tensor() = default;
    // Owned, zero-initialised storage.
    Tensor(Shape shape, DType dtype);
    // Borrowed storage: the caller keeps `data` alive for the tensor's lifetime.
    static Tensor borrow(const void* data, Shape shape, DType dtype);

    const Shape& shape() const { return shape_; }
    int rank() const { return static_cast<int>(shape_.size()); }
    int64_t dim(int axis) const;  // negative axes count from the end
    int64_t numel() const { return numel_; }
    DType dtype() const { return dtype_; }
    size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
    bool empty() const { return numel_ == 0; }
    bool owns_storage() const { return static_cast<bool>(storage_); }

    template <typename T> T* data() { check_type(sizeof(T)); return static_cast<T*>(data_); }
    template <typename T> const T* data() const { check_type(sizeof(T)); return static_cast<const T*>(data_); }
    void* raw() { return data_; }
    const void* raw() const { return data_; }

    // Same storage, new shape with the same element count.
    Tensor reshaped(Shape shape) const;
    // A deep copy with owned storage.
    Tensor clone() const;
    // Owned F32 copy converted from F32, F16 or BF16 storage.
    Tensor to_f32() const;

private:
    void check_type(size_t element_size) const;

    Shape shape_;
    int64_t numel_ = 0;
    DType dtype_ = DType::F32;
    std::shared_ptr<void> storage_;  // null when borrowed
    void* data_ = nullptr;
};

}  // namespace umt5
