#include "core/engine/ops.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace umt5 {

void rms_norm(const float* x, int64_t rows, int64_t width, const float* weight, float eps, float* y) {
    for (int64_t r = 0; r < rows; ++r) {
        const float* in = x + r * width;
        float* out = y + r * width;
        double sum_squares = 0.0;
        for (int64_t i = 0; i < width; ++i) sum_squares += static_cast<double>(in[i]) * in[i];
        const float variance = static_cast<float>(sum_squares / static_cast<double>(width));
        const float inv_rms = 1.0f / std::sqrt(variance + eps);
        for (int64_t i = 0; i < width; ++i) out[i] = weight[i] * (in[i] * inv_rms);
    }
}

float gelu_tanh(float x) {
    constexpr float kSqrt2OverPi = 0.7978845608028654f;
    return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

float gelu_erf(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f)); }

int64_t relative_position_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets,
                                 int64_t max_distance) {
    int64_t bucket = 0;
    if (bidirectional) {
        num_buckets /= 2;
        if (relative_position > 0) bucket += num_buckets;
        relative_position = relative_position < 0 ? -relative_position : relative_position;
    } else {
        relative_position = relative_position < 0 ? -relative_position : 0;
    }
    // Half the buckets are exact offsets; the rest grow logarithmically up to max_distance. The float32
    // arithmetic and the truncation follow torch's computation so boundaries land on the same buckets.
    const int64_t max_exact = num_buckets / 2;
    if (relative_position < max_exact) return bucket + relative_position;
    const float scaled = std::log(static_cast<float>(relative_position) / static_cast<float>(max_exact)) /
                         static_cast<float>(std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact))) *
                         static_cast<float>(num_buckets - max_exact);
    const int64_t large = std::min<int64_t>(max_exact + static_cast<int64_t>(scaled), num_buckets - 1);
    return bucket + large;
}

void softmax(float* row, int64_t n) {
    float max_value = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i) max_value = std::max(max_value, row[i]);
    if (max_value == -std::numeric_limits<float>::infinity()) {
        std::fill(row, row + n, 0.0f);
        return;
    }
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
        row[i] = std::exp(row[i] - max_value);
        sum += row[i];
    }
    const float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; ++i) row[i] *= inv;
}

}  // namespace umt5
