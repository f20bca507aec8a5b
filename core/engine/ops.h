#pragma once
// Element-wise pieces of the umT5 forward pass, exactly as Hugging Face's T5/umT5 modules compute them.
#include <cstdint>

namespace umt5 {

// T5LayerNorm: y = weight * x / sqrt(mean(x^2) + eps), no mean subtraction, no bias. x, y: [rows, width].
void rms_norm(const float* x, int64_t rows, int64_t width, const float* weight, float eps, float* y);

// "gelu_new": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
float gelu_tanh(float x);
// "gelu": 0.5 x (1 + erf(x / sqrt(2))).
float gelu_erf(float x);

// T5's relative position bucket for relative_position = key_position - query_position.
int64_t relative_position_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets,
                                 int64_t max_distance);

// In-place softmax over `n` entries; entries equal to -infinity get probability 0.
void softmax(float* row, int64_t n);

}  // namespace umt5
