#include "core/engine/feed_forward.h"

#include <algorithm>

#include "core/engine/ops.h"

namespace umt5 {

namespace {
Activation activation_of(const ModelConfig& config) {
    if (config.dense_act_fn == "relu") return Activation::Relu;
    if (config.dense_act_fn == "gelu") return Activation::GeluErf;
    return Activation::GeluTanh;
}
}  // namespace

FeedForward::FeedForward(FeedForwardWeights weights, const ModelConfig& config, Precision precision)
    : wi_0_(std::move(weights.wi_0), precision, activation_of(config)),
      wo_(std::move(weights.wo), precision),
      gated_(config.is_gated_act),
      d_ff_(config.d_ff) {
    if (gated_) wi_1_ = Linear(std::move(weights.wi_1), precision);
}

void FeedForward::forward(const float* x, int64_t rows, float* residual, Workspace& ws) const {
    const size_t count = static_cast<size_t>(rows * d_ff_);
    // hidden [rows, d_ff] = act(x wi_0^T) (* x wi_1^T); the activation runs inside the matmul
    float* hidden = ws.get(Workspace::FeedGate, count);
    wi_0_.forward(x, rows, hidden);
    if (gated_) {
        float* linear = ws.get(Workspace::FeedLinear, count);
        wi_1_.forward(x, rows, linear);
        for (size_t i = 0; i < count; ++i) hidden[i] *= linear[i];
    }
    // residual += hidden wo^T
    wo_.forward(hidden, rows, residual, /*accumulate=*/true);
}

}  // namespace umt5
