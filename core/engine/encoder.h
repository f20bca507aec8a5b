#pragma once
// The umT5 encoder: embedding lookup, blocks of (RMS norm, self-attention with bidirectional position bias,
// residual) and (RMS norm, feed-forward, residual), then a final RMS norm.
#include <atomic>
#include <vector>

#include "core/engine/attention.h"
#include "core/engine/feed_forward.h"

namespace umt5 {

struct EncoderBlockWeights {
    AttentionWeights self_attention;  // "encoder.block.N.layer.0.SelfAttention"
    Tensor self_attention_norm;       // "encoder.block.N.layer.0.layer_norm.weight" [d_model]
    FeedForwardWeights feed_forward;  // "encoder.block.N.layer.1.DenseReluDense"
    Tensor feed_forward_norm;         // "encoder.block.N.layer.1.layer_norm.weight" [d_model]
};

class EncoderBlock {
public:
    EncoderBlock(EncoderBlockWeights weights, const ModelConfig& config, Precision precision);
    // hidden [rows, d_model] updated in place.
    void forward(float* hidden, int64_t rows, Workspace& ws) const;

private:
    Attention self_attention_;
    Tensor self_attention_norm_;
    FeedForward feed_forward_;
    Tensor feed_forward_norm_;
    int64_t d_model_;
    int64_t heads_;
    int64_t head_dim_;
    float eps_;
};

class Encoder {
public:
    // `embedding`: "shared.weight" [vocab, d_model] in F32, F16 or BF16 (usually a view of the mapped file), rows
    // converted to F32 on lookup; `final_norm`: "encoder.final_layer_norm.weight". The blocks
    // are built (their weights packed) as they are read, so a model's F32 weights are never all in memory at once.
    Encoder(Tensor embedding, std::vector<EncoderBlock> blocks, Tensor final_norm, const ModelConfig& config);
    // Encoder output [ids, d_model] for one unpadded sequence. Checks `stop` between blocks and throws
    // umt5::Cancelled when it is set.
    Tensor forward(const std::vector<int>& ids, Workspace& ws, const std::atomic<bool>* stop = nullptr) const;

private:
    Tensor embedding_;  // [vocab, d_model], F32, F16 or BF16, read-only
    std::vector<EncoderBlock> blocks_;
    Tensor final_norm_;
    int64_t d_model_;
    float eps_;
};

}  // namespace umt5
