#pragma once
// A small tensor: shape, dtype, and either owned 64-byte-aligned storage, a borrowed pointer (for example a
// caller's buffer) or a shared read-only view (memory kept alive by a shared owner, for example a weight file
// mapped by Checkpoint::get_mapped). Accessors check dtype and rank and throw umt5::Error.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/formats/error.h"

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
    // Shared read-only view: `data` stays valid as long as `owner` (or a copy of it) lives; every copy and reshape
    // of the tensor holds a reference to it. The memory may not be writable (a PROT_READ file mapping), so the
    // mutable accessors data<T>() and raw() throw on such a tensor; read it through a const Tensor.
    static Tensor view(const void* data, Shape shape, DType dtype, std::shared_ptr<const void> owner);

    const Shape& shape() const { return shape_; }
    int rank() const { return static_cast<int>(shape_.size()); }
    int64_t dim(int axis) const;  // negative axes count from the end
    int64_t numel() const { return numel_; }
    DType dtype() const { return dtype_; }
    size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
    bool empty() const { return numel_ == 0; }
    bool owns_storage() const { return static_cast<bool>(storage_); }
    bool is_shared_view() const { return static_cast<bool>(owner_); }

    template <typename T> T* data() { check_writable(); check_type(sizeof(T)); return static_cast<T*>(data_); }
    template <typename T> const T* data() const { check_type(sizeof(T)); return static_cast<const T*>(data_); }
    void* raw() { check_writable(); return data_; }
    const void* raw() const { return data_; }

    // Same storage, new shape with the same element count.
    Tensor reshaped(Shape shape) const;
    // A deep copy with owned storage.
    Tensor clone() const;
    // Owned F32 copy converted from F32, F16 or BF16 storage.
    Tensor to_f32() const;

private:
    void check_type(size_t element_size) const;
    void check_writable() const;

    Shape shape_;
    int64_t numel_ = 0;
    DType dtype_ = DType::F32;
    std::shared_ptr<void> storage_;  // owned storage; null when borrowed or a shared view
    // Shared views only: keeps the viewed memory alive; null otherwise. Guard: the memory behind a shared view is
    // read-only (writing a PROT_READ mapping would crash), hence check_writable() in the mutable accessors.
    std::shared_ptr<const void> owner_;
    void* data_ = nullptr;
};

// Row `row` of a rank-2 F32, F16 or BF16 tensor, converted to F32 into out[0, dim(1)); F32 rows are copied as is.
// Throws umt5::Error for another dtype or rank, or a row out of range.
void row_to_f32(const Tensor& matrix, int64_t row, float* out);

}  // namespace umt5
