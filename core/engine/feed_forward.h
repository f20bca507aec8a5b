#pragma once
// umT5 feed-forward: wo(act(wi_0 x) * wi_1 x) when gated ("gated-gelu"), wo(act(wi x)) otherwise.
#include "core/formats/config.h"
#include "core/engine/linear.h"
#include "core/engine/workspace.h"

namespace umt5 {

struct FeedForwardWeights {
    Tensor wi_0;  // "<prefix>.DenseReluDense.wi_0.weight" [d_ff, d_model] (gated), or wi.weight (not gated)
    Tensor wi_1;  // "<prefix>.DenseReluDense.wi_1.weight" [d_ff, d_model]; empty when not gated
    Tensor wo;    // "<prefix>.DenseReluDense.wo.weight" [d_model, d_ff]
};

class FeedForward {
public:
    FeedForward(FeedForwardWeights weights, const ModelConfig& config, Precision precision = Precision::F32);
    // residual [rows, d_model] += FF(x [rows, d_model])
    void forward(const float* x, int64_t rows, float* residual, Workspace& ws) const;

private:
    Linear wi_0_, wi_1_, wo_;  // the activation is fused into wi_0_
    bool gated_;
    int64_t d_ff_;
};

}  // namespace umt5
