#pragma once
// Internal to core/engine/kernels.cpp: the instruction-set specific loops (kernels_avx2.cpp). Each computes the
// outputs of column blocks [begin, end) (16 columns each) for every row of its task; only call them after
// kernels::supported() said yes.
#include <cstdint>

namespace umt5::kernels::avx2 {

// F32 and bf16: x [m, k] F32 (bf16 kernels: already rounded to bf16), w the packed blocks, y [m, n].
struct FloatTask {
    const float* x;
    const void* w;
    float* y;
    int64_t m, k, n;
    bool accumulate;
};

// Int8: x [m, groups] the quantized rows, 2 (AVX2) or 4 (AVX-VNNI) int8 values of one row per int32.
struct Int8Task {
    const int32_t* x;
    const int8_t* w;
    float* y;
    const float* row_scales;     // [m]
    const float* weight_scales;  // [blocks * 16], 0 past n
    const int32_t* compensation;  // AVX-VNNI: [blocks * 16], 128 * each column's weight sum
    int64_t m, groups, n;
    bool accumulate;
};

// Declared with the same target attributes as defined (in C++ a different one would declare another version).
#define UMT5_AVX2 __attribute__((target("avx2,fma")))
#define UMT5_AVX_VNNI __attribute__((target("avx2,fma,avxvnni")))

UMT5_AVX2 void f32_blocks(const FloatTask& task, int64_t begin, int64_t end);
UMT5_AVX2 void bf16_blocks(const FloatTask& task, int64_t begin, int64_t end);
UMT5_AVX2 void int8_blocks(const Int8Task& task, int64_t begin, int64_t end);
UMT5_AVX_VNNI void vnni_blocks(const Int8Task& task, int64_t begin, int64_t end);

}  // namespace umt5::kernels::avx2
