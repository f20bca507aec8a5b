#include "core/engine/kernels.h"

#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "core/engine/cpu.h"
#include "core/engine/kernels_avx2.h"
#include "core/engine/linear.h"
#include "core/formats/tensor.h"

namespace umt5::kernels {

namespace {

constexpr int64_t kBlock = 16;  // output columns per packed block
constexpr int64_t kGroup = 4;   // blocks one thread's share is rounded to (kernels_avx2.cpp walks them together)

bool has_feature(const char* name) {
    const std::vector<std::string>& features = cpu_info().features;
    return std::find(features.begin(), features.end(), name) != features.end();
}

// bfloat16(x) as an F32, rounded to nearest even; NaN stays a quiet NaN (as Linear's oneDNN path converts).
float round_to_bf16(float x) {
    uint32_t bits;
    std::memcpy(&bits, &x, 4);
    const uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
    const uint32_t quiet_nan = (bits >> 16) | 0x40u;
    const uint32_t result = ((bits & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded) << 16;
    float value;
    std::memcpy(&value, &result, 4);
    return value;
}

// Per-thread activation buffers, so a warm forward pass allocates nothing.
struct Scratch {
    std::vector<float> rounded;
    std::vector<int8_t> quantized;
    std::vector<int32_t> grouped;
    std::vector<float> row_scales;
};
Scratch& scratch() {
    thread_local Scratch s;
    return s;
}

template <class T>
T* grow(std::vector<T>& v, size_t count) {
    if (v.size() < count) v.resize(count);
    return v.data();
}

// Runs `blocks(begin, end)` over [0, block_count) split between the OpenMP threads in whole groups of blocks:
// each output column is computed by one thread, so the thread count does not change any result.
template <class Blocks>
void parallel_over_columns(int64_t block_count, Blocks blocks) {
    const int64_t groups = (block_count + kGroup - 1) / kGroup;
    const int threads = static_cast<int>(std::min<int64_t>(omp_get_max_threads(), groups));
    if (threads <= 1) {
        blocks(0, block_count);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        const int64_t id = omp_get_thread_num(), count = omp_get_num_threads();
        const int64_t begin = groups * id / count * kGroup;
        const int64_t end = std::min(block_count, groups * (id + 1) / count * kGroup);
        if (begin < end) blocks(begin, end);
    }
}

bool is_int8(Kernel kernel) { return kernel == Kernel::Int8Avx2 || kernel == Kernel::Int8AvxVnni; }
// int8 values of one row per int32 group, and so the k padding of the packed weights.
int64_t group_size(Kernel kernel) { return kernel == Kernel::Int8AvxVnni ? 4 : kernel == Kernel::Int8Avx2 ? 2 : 1; }

}  // namespace

const char* kernel_name(Kernel kernel) {
    switch (kernel) {
    case Kernel::F32Avx2: return "own avx2 f32";
    case Kernel::Bf16Avx2: return "own avx2 bf16";
    case Kernel::Int8Avx2: return "own avx2 int8";
    case Kernel::Int8AvxVnni: return "own avx2_vnni int8";
    }
    return "?";
}

Precision kernel_precision(Kernel kernel) {
    switch (kernel) {
    case Kernel::F32Avx2: return Precision::F32;
    case Kernel::Bf16Avx2: return Precision::BF16;
    case Kernel::Int8Avx2:
    case Kernel::Int8AvxVnni: return Precision::Int8;
    }
    return Precision::F32;
}

bool supported(Kernel kernel) {
    // Isa::avx2 is AVX2 with FMA. The ladder puts avx2_vnni below avx512_core, but AVX-512 CPUs before Sapphire
    // Rapids lack the VEX-encoded VNNI instructions, so the feature itself is checked as well.
    if (kernel == Kernel::Int8AvxVnni) return cpu_allows(Isa::avx2_vnni) && has_feature("AVX-VNNI");
    return cpu_allows(Isa::avx2);
}

std::optional<Kernel> preferred(Precision precision) {
    if (cpu_allows(Isa::avx512_core) || !cpu_allows(Isa::avx2)) return std::nullopt;
    switch (precision) {
    case Precision::F32: return Kernel::F32Avx2;
    case Precision::BF16: return Kernel::Bf16Avx2;
    case Precision::Int8: return supported(Kernel::Int8AvxVnni) ? Kernel::Int8AvxVnni : Kernel::Int8Avx2;
    }
    return std::nullopt;
}

std::optional<Kernel> fallback(Precision precision) {
    const Kernel kernel = precision == Precision::F32    ? Kernel::F32Avx2
                          : precision == Precision::BF16 ? Kernel::Bf16Avx2
                          : supported(Kernel::Int8AvxVnni) ? Kernel::Int8AvxVnni
                                                           : Kernel::Int8Avx2;
    if (!supported(kernel)) return std::nullopt;
    return kernel;
}

float quantize_row(const float* x, int64_t n, int8_t* q) {
    float largest = 0;
#pragma omp simd reduction(max : largest)
    for (int64_t i = 0; i < n; ++i) largest = std::max(largest, std::fabs(x[i]));
    const float scale = largest > 0 ? largest / 127.0f : 1.0f;
    const float inverse = 1.0f / scale;
    // Adding and subtracting 1.5 * 2^23 rounds |v| <= 2^22 to an integer in the current (nearest-even) mode.
    constexpr float kRound = 12582912.0f;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
        const float v = std::clamp(x[i] * inverse, -127.0f, 127.0f);
        q[i] = static_cast<int8_t>(static_cast<int>((v + kRound) - kRound));
    }
    return scale;
}

std::shared_ptr<void> weight_storage(size_t bytes, Precision precision) {
    // Large bf16 and int8 weights (the output projection) go on 2 MiB pages where the kernel allows it
    // (transparent huge pages in "madvise" mode): a decode step streams all of them, and umt5-small decodes
    // 12-18 % (bf16) and 5-9 % (int8) faster than on 4 KiB pages, at the cost of a few milliseconds at most on the
    // first token of a request that follows a long one. In fp32 the gain was 4 % and the first-token cost up to
    // 20 ms (bench/README.md), so fp32 keeps ordinary pages, as do small weights: rounding them up to 2 MiB would
    // waste more than it saves.
    constexpr size_t kHugePage = size_t{2} << 20;
    constexpr size_t kLine = 64;
    const bool huge = precision != Precision::F32 && bytes >= 4 * kHugePage;
    const size_t alignment = huge ? kHugePage : kLine;
    const size_t rounded = (std::max<size_t>(bytes, 1) + alignment - 1) / alignment * alignment;
    void* storage = std::aligned_alloc(alignment, rounded);
    if (!storage) throw std::bad_alloc();
    if (huge) madvise(storage, rounded, MADV_HUGEPAGE);  // advice only: on failure the pages stay small
    return std::shared_ptr<void>(storage, [](void* p) { std::free(p); });
}

void PackedWeights::allocate(size_t bytes) {
    bytes_ = bytes;
    storage_ = weight_storage(bytes, kernel_precision(kernel_));
}

PackedWeights::PackedWeights(Kernel kernel, const float* w, int64_t out, int64_t in)
    : kernel_(kernel), out_(out), in_(in), blocks_((out + kBlock - 1) / kBlock) {
    if (is_int8(kernel)) throw Error(std::string(kernel_name(kernel)) + " needs int8 weights");
    const bool bf16 = kernel == Kernel::Bf16Avx2;
    allocate(static_cast<size_t>(blocks_ * in_ * kBlock) * (bf16 ? 2 : 4));
    // Block b holds columns [16 b, 16 b + 16) for k = 0, 1, ...: 16 values per k, zero past the last column.
    // bf16 blocks interleave columns j and j + 8 in each 32-bit pair (the AVX2 loop widens them with a shift and
    // a mask).
    for (int64_t b = 0; b < blocks_; ++b)
        for (int64_t j = 0; j < kBlock; ++j) {
            const int64_t column = b * kBlock + j;
            const int64_t position = bf16 ? (j < 8 ? 2 * j : 2 * (j - 8) + 1) : j;
            for (int64_t k = 0; k < in_; ++k) {
                const float value = column < out_ ? w[column * in_ + k] : 0.0f;
                const size_t index = static_cast<size_t>((b * in_ + k) * kBlock + position);
                if (bf16)
                    static_cast<uint16_t*>(storage_.get())[index] = f32_to_bf16(value);
                else
                    static_cast<float*>(storage_.get())[index] = value;
            }
        }
}

PackedWeights::PackedWeights(Kernel kernel, const int8_t* q, const float* scales, int64_t out, int64_t in)
    : kernel_(kernel), out_(out), in_(in), blocks_((out + kBlock - 1) / kBlock) {
    if (!is_int8(kernel)) throw Error(std::string(kernel_name(kernel)) + " needs F32 weights");
    const int64_t group = group_size(kernel);
    const int64_t groups = (in_ + group - 1) / group;
    const int64_t padded = blocks_ * kBlock;
    allocate(static_cast<size_t>(blocks_ * groups * group * kBlock));
    scales_ = std::make_unique<float[]>(static_cast<size_t>(padded));
    std::fill_n(scales_.get(), padded, 0.0f);
    std::copy(scales, scales + out_, scales_.get());
    if (kernel == Kernel::Int8AvxVnni) {
        compensation_ = std::make_unique<int32_t[]>(static_cast<size_t>(padded));
        std::fill_n(compensation_.get(), padded, 0);
    }
    // Block b, k-group g: `group` bytes per column, columns 0-7 then 8-15 of the block; zero past the last
    // column and past in_.
    int8_t* packed = static_cast<int8_t*>(storage_.get());
    for (int64_t b = 0; b < blocks_; ++b)
        for (int64_t j = 0; j < kBlock; ++j) {
            const int64_t column = b * kBlock + j;
            int32_t sum = 0;
            for (int64_t g = 0; g < groups; ++g)
                for (int64_t e = 0; e < group; ++e) {
                    const int64_t k = g * group + e;
                    const int8_t value = column < out_ && k < in_ ? q[column * in_ + k] : int8_t{0};
                    sum += value;
                    packed[(b * groups + g) * group * kBlock + j * group + e] = value;
                }
            if (compensation_) compensation_[static_cast<size_t>(column)] = 128 * sum;
        }
}

void PackedWeights::multiply(const float* x, int64_t m, float* y, bool accumulate) const {
    if (m <= 0) return;
    Scratch& s = scratch();
    if (!is_int8(kernel_)) {
        avx2::FloatTask task{x, storage_.get(), y, m, in_, out_, accumulate};
        if (kernel_ == Kernel::Bf16Avx2) {
            // Activations rounded to bf16 as in oneDNN's bf16 matmul: each product is then exact in F32.
            const auto count = static_cast<size_t>(m * in_);
            float* rounded = grow(s.rounded, count);
            for (size_t i = 0; i < count; ++i) rounded[i] = round_to_bf16(x[i]);
            task.x = rounded;
            parallel_over_columns(blocks_, [&](int64_t begin, int64_t end) { avx2::bf16_blocks(task, begin, end); });
        } else {
            parallel_over_columns(blocks_, [&](int64_t begin, int64_t end) { avx2::f32_blocks(task, begin, end); });
        }
        return;
    }

    // Each row quantized with its own scale (so its result does not depend on the other rows), then grouped:
    // AVX2 pairs as two int16 halves, AVX-VNNI quads of q + 128 as four bytes; padding holds the value of q = 0.
    const int64_t group = group_size(kernel_);
    const int64_t groups = (in_ + group - 1) / group;
    int8_t* q = grow(s.quantized, static_cast<size_t>(groups * group));
    int32_t* grouped = grow(s.grouped, static_cast<size_t>(m * groups));
    float* row_scales = grow(s.row_scales, static_cast<size_t>(m));
    for (int64_t r = 0; r < m; ++r) {
        row_scales[r] = quantize_row(x + r * in_, in_, q);
        std::fill(q + in_, q + groups * group, int8_t{0});
        int32_t* row = grouped + r * groups;
        if (kernel_ == Kernel::Int8AvxVnni) {
            for (int64_t g = 0; g < groups; ++g) {
                uint32_t word = 0;
                for (int64_t e = 0; e < 4; ++e)
                    word |= static_cast<uint32_t>(static_cast<uint8_t>(q[g * 4 + e] + 128)) << (8 * e);
                row[g] = static_cast<int32_t>(word);
            }
        } else {
            for (int64_t g = 0; g < groups; ++g)
                row[g] = static_cast<int32_t>(static_cast<uint16_t>(q[2 * g]) |
                                              (static_cast<uint32_t>(static_cast<uint16_t>(q[2 * g + 1])) << 16));
        }
    }
    const avx2::Int8Task task{grouped,        static_cast<const int8_t*>(storage_.get()),
                              y,              row_scales,
                              scales_.get(),  compensation_.get(),
                              m,              groups,
                              out_,           accumulate};
    if (kernel_ == Kernel::Int8AvxVnni)
        parallel_over_columns(blocks_, [&](int64_t begin, int64_t end) { avx2::vnni_blocks(task, begin, end); });
    else
        parallel_over_columns(blocks_, [&](int64_t begin, int64_t end) { avx2::int8_blocks(task, begin, end); });
}

}  // namespace umt5::kernels
