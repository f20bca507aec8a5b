// The AVX2 / AVX-VNNI halves of core/engine/kernels.h: every function here is compiled for its instruction set
// with a `target` attribute and only called after cpu.h said the CPU has it (kernels.cpp). This file is built with
// -ffp-contract=off, so only the FMAs written out below are fused, and each output is rounded the same way whatever
// code path computed its neighbours.
#include "core/engine/kernels_avx2.h"

#include <immintrin.h>

namespace umt5::kernels::avx2 {

namespace {

constexpr int kBlock = 16;  // output columns per packed block (two 8-lane registers)

// Writes 16 results of one row to y[col, col + 16), or only the first `valid` of them at the matrix's edge.
UMT5_AVX2 inline void store(float* y, int64_t valid, __m256 lo, __m256 hi, bool accumulate) {
    if (valid >= kBlock) {
        if (accumulate) {
            lo = _mm256_add_ps(_mm256_loadu_ps(y), lo);
            hi = _mm256_add_ps(_mm256_loadu_ps(y + 8), hi);
        }
        _mm256_storeu_ps(y, lo);
        _mm256_storeu_ps(y + 8, hi);
        return;
    }
    alignas(32) float tile[kBlock];
    _mm256_store_ps(tile, lo);
    _mm256_store_ps(tile + 8, hi);
    for (int64_t j = 0; j < valid; ++j) y[j] = accumulate ? y[j] + tile[j] : tile[j];
}

// Integer sums of one row for 16 columns -> y = (row scale * weight scale) * sum, the order of operations of
// Linear's oneDNN int8 path, so both give the same floats for the same sums.
UMT5_AVX2 inline void store_int8(float* y, int64_t valid, __m256i lo, __m256i hi, float row_scale,
                                 const float* weight_scales, bool accumulate) {
    const __m256 s = _mm256_set1_ps(row_scale);
    const __m256 lo_f = _mm256_mul_ps(_mm256_mul_ps(s, _mm256_loadu_ps(weight_scales)), _mm256_cvtepi32_ps(lo));
    const __m256 hi_f = _mm256_mul_ps(_mm256_mul_ps(s, _mm256_loadu_ps(weight_scales + 8)), _mm256_cvtepi32_ps(hi));
    store(y, valid, lo_f, hi_f, accumulate);
}

// The weights of one k for 16 columns as two 8-float registers.
struct F32Weights {
    using Element = float;
    UMT5_AVX2 static void load(const float* w, __m256& lo, __m256& hi) {
        lo = _mm256_load_ps(w);
        hi = _mm256_load_ps(w + 8);
    }
};
// bf16 pairs: each 32-bit lane holds column j in its low half and column j + 8 in its high half (kernels.cpp packs
// them so), and a bf16 is the high half of its f32.
struct Bf16Weights {
    using Element = uint16_t;
    UMT5_AVX2 static void load(const uint16_t* w, __m256& lo, __m256& hi) {
        const __m256i v = _mm256_load_si256(reinterpret_cast<const __m256i*>(w));
        lo = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
        hi = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
    }
};

// R rows x P column blocks: out[r][c] = sum over k of x[r][k] * w[k][c], one FMA chain per output, k ascending.
template <class W, int R, int P>
UMT5_AVX2 void float_tile(const FloatTask& t, const typename W::Element* w, const float* x, float* y, int64_t col) {
    __m256 acc[R][P][2];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p) acc[r][p][0] = acc[r][p][1] = _mm256_setzero_ps();
    const int64_t k = t.k, block_stride = k * kBlock;
    for (int64_t i = 0; i < k; ++i) {
        __m256 lo[P], hi[P];
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p) W::load(w + p * block_stride + i * kBlock, lo[p], hi[p]);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const __m256 xv = _mm256_broadcast_ss(x + r * k + i);
#pragma GCC unroll 16
            for (int p = 0; p < P; ++p) {
                acc[r][p][0] = _mm256_fmadd_ps(xv, lo[p], acc[r][p][0]);
                acc[r][p][1] = _mm256_fmadd_ps(xv, hi[p], acc[r][p][1]);
            }
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p)
            store(y + r * t.n + col + p * kBlock, t.n - col - p * kBlock, acc[r][p][0], acc[r][p][1], t.accumulate);
}

// s8 x s8 for R rows x P blocks. A block's k-pair holds 32 bytes: columns 0-7 then 8-15, each (w[k], w[k + 1]);
// vpmovsxbw widens 16 of them and vpmaddwd multiplies them by the row's (x[k], x[k + 1]) and adds each pair:
// |sum| <= 2 * 127 * 127, exact in int32, as is the whole sum for any in_features below 66000.
template <int R, int P>
UMT5_AVX2 void int8_tile(const Int8Task& t, const int8_t* w, const int32_t* x, float* y, const float* row_scales,
                         int64_t col) {
    __m256i acc[R][P][2];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p) acc[r][p][0] = acc[r][p][1] = _mm256_setzero_si256();
    const int64_t groups = t.groups, block_stride = groups * 2 * kBlock;
    for (int64_t i = 0; i < groups; ++i) {
        __m256i lo[P], hi[P];
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p) {
            const int8_t* b = w + p * block_stride + i * 2 * kBlock;
            lo[p] = _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(b)));
            hi[p] = _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(b + 16)));
        }
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const __m256i xv = _mm256_set1_epi32(x[r * groups + i]);
#pragma GCC unroll 16
            for (int p = 0; p < P; ++p) {
                acc[r][p][0] = _mm256_add_epi32(acc[r][p][0], _mm256_madd_epi16(lo[p], xv));
                acc[r][p][1] = _mm256_add_epi32(acc[r][p][1], _mm256_madd_epi16(hi[p], xv));
            }
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p)
            store_int8(y + r * t.n + col + p * kBlock, t.n - col - p * kBlock, acc[r][p][0], acc[r][p][1],
                       row_scales[r], t.weight_scales + col + p * kBlock, t.accumulate);
}

// u8 x s8 with vpdpbusd for R rows x P blocks. A block's k-quad holds 64 bytes: columns 0-7 then 8-15, each
// w[k..k + 3]; the row's activations are q + 128 (unsigned), so each column's sum exceeds the true one by
// 128 * sum of its weights, which is subtracted before scaling. vpdpbusd adds four products to int32 without
// intermediate saturation, so the result equals the AVX2 kernel's.
template <int R, int P>
UMT5_AVX_VNNI void vnni_tile(const Int8Task& t, const int8_t* w, const int32_t* x, float* y, const float* row_scales,
                             int64_t col) {
    __m256i acc[R][P][2];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p) acc[r][p][0] = acc[r][p][1] = _mm256_setzero_si256();
    const int64_t groups = t.groups, block_stride = groups * 4 * kBlock;
    for (int64_t i = 0; i < groups; ++i) {
        __m256i lo[P], hi[P];
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p) {
            const int8_t* b = w + p * block_stride + i * 4 * kBlock;
            lo[p] = _mm256_load_si256(reinterpret_cast<const __m256i*>(b));
            hi[p] = _mm256_load_si256(reinterpret_cast<const __m256i*>(b + 32));
        }
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const __m256i xv = _mm256_set1_epi32(x[r * groups + i]);
#pragma GCC unroll 16
            for (int p = 0; p < P; ++p) {
                acc[r][p][0] = _mm256_dpbusd_avx_epi32(acc[r][p][0], xv, lo[p]);
                acc[r][p][1] = _mm256_dpbusd_avx_epi32(acc[r][p][1], xv, hi[p]);
            }
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p) {
            const int32_t* c = t.compensation + col + p * kBlock;
            const __m256i lo = _mm256_sub_epi32(acc[r][p][0], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c)));
            const __m256i hi =
                _mm256_sub_epi32(acc[r][p][1], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + 8)));
            store_int8(y + r * t.n + col + p * kBlock, t.n - col - p * kBlock, lo, hi, row_scales[r],
                       t.weight_scales + col + p * kBlock, t.accumulate);
        }
}

// Walks blocks [begin, end) in groups of 4 (64 columns: with one row, 8 independent FMA chains keep both FMA units
// busy), and within a group all rows, 4 at a time, so the group's weights are read from memory once and then from
// cache. Tiles are 1 x 4, 2 x 2 or R x 1 blocks: at most 8 accumulators, which with the weights fit in 16 registers.
// Grouping changes only which outputs are computed together, never how one output is computed.
constexpr int kGroup = 4;

template <class Tile>
UMT5_AVX2 void walk(int64_t m, int64_t begin, int64_t end, Tile tile) {
    for (int64_t g = begin; g < end; g += kGroup) {
        const int64_t blocks = end - g < kGroup ? end - g : kGroup;
        for (int64_t r = 0; r < m; r += 4) {
            const int64_t rows = m - r < 4 ? m - r : 4;
            if (blocks == kGroup && rows == 1) {
                tile.template run<1, 4>(r, g);
            } else if (blocks == kGroup && rows == 2) {
                tile.template run<2, 2>(r, g);
                tile.template run<2, 2>(r, g + 2);
            } else {
                for (int64_t b = g; b < g + blocks; ++b) switch (rows) {
                    case 1: tile.template run<1, 1>(r, b); break;
                    case 2: tile.template run<2, 1>(r, b); break;
                    case 3: tile.template run<3, 1>(r, b); break;
                    default: tile.template run<4, 1>(r, b); break;
                    }
            }
        }
    }
}

template <class W>
struct FloatTile {
    const FloatTask& t;
    const typename W::Element* w;
    template <int R, int P>
    UMT5_AVX2 void run(int64_t row, int64_t block) const {
        float_tile<W, R, P>(t, w + block * t.k * kBlock, t.x + row * t.k, t.y + row * t.n, block * kBlock);
    }
};

struct Int8Tile {
    const Int8Task& t;
    template <int R, int P>
    UMT5_AVX2 void run(int64_t row, int64_t block) const {
        int8_tile<R, P>(t, t.w + block * t.groups * 2 * kBlock, t.x + row * t.groups, t.y + row * t.n,
                        t.row_scales + row, block * kBlock);
    }
};

struct VnniTile {
    const Int8Task& t;
    template <int R, int P>
    UMT5_AVX_VNNI void run(int64_t row, int64_t block) const {
        vnni_tile<R, P>(t, t.w + block * t.groups * 4 * kBlock, t.x + row * t.groups, t.y + row * t.n,
                        t.row_scales + row, block * kBlock);
    }
};

}  // namespace

UMT5_AVX2 void f32_blocks(const FloatTask& t, int64_t begin, int64_t end) {
    walk(t.m, begin, end, FloatTile<F32Weights>{t, static_cast<const float*>(t.w)});
}

UMT5_AVX2 void bf16_blocks(const FloatTask& t, int64_t begin, int64_t end) {
    walk(t.m, begin, end, FloatTile<Bf16Weights>{t, static_cast<const uint16_t*>(t.w)});
}

UMT5_AVX2 void int8_blocks(const Int8Task& t, int64_t begin, int64_t end) { walk(t.m, begin, end, Int8Tile{t}); }

UMT5_AVX_VNNI void vnni_blocks(const Int8Task& t, int64_t begin, int64_t end) { walk(t.m, begin, end, VnniTile{t}); }

}  // namespace umt5::kernels::avx2
