#include "core/engine/encoder.h"

#include "core/engine/ops.h"

namespace umt5 {

EncoderBlock::EncoderBlock(EncoderBlockWeights weights, const ModelConfig& config, Precision precision)
    : self_attention_(std::move(weights.self_attention), config, /*bidirectional=*/true, precision),
      self_attention_norm_(std::move(weights.self_attention_norm)),
      feed_forward_(std::move(weights.feed_forward), config, precision),
      feed_forward_norm_(std::move(weights.feed_forward_norm)),
      d_model_(config.d_model),
      heads_(config.num_heads),
      head_dim_(config.d_kv),
      eps_(static_cast<float>(config.layer_norm_epsilon)) {}

void EncoderBlock::forward(float* hidden, int64_t rows, Workspace& ws) const {
    float* normed = ws.get(Workspace::Normed, static_cast<size_t>(rows * d_model_));

    // hidden += SelfAttention(norm(hidden)); every position sees every other
    rms_norm(hidden, rows, d_model_, self_attention_norm_.data<float>(), eps_, normed);
    KVBuffer& kv = ws.scratch_kv(heads_, head_dim_);
    self_attention_.append_kv(normed, rows, kv, ws);
    self_attention_.attend(normed, rows, 0, kv, /*causal=*/false, hidden, ws);

    // hidden += FeedForward(norm(hidden))
    rms_norm(hidden, rows, d_model_, feed_forward_norm_.data<float>(), eps_, normed);
    feed_forward_.forward(normed, rows, hidden, ws);
}

Encoder::Encoder(Tensor embedding, std::vector<EncoderBlock> blocks, Tensor final_norm, const ModelConfig& config)
    : embedding_(std::move(embedding)),
      blocks_(std::move(blocks)),
      final_norm_(std::move(final_norm)),
      d_model_(config.d_model),
      eps_(static_cast<float>(config.layer_norm_epsilon)) {}

Tensor Encoder::forward(const std::vector<int>& ids, Workspace& ws, const std::atomic<bool>* stop) const {
    const auto rows = static_cast<int64_t>(ids.size());
    const int64_t vocab = embedding_.dim(0);
    Tensor hidden({rows, d_model_}, DType::F32);
    float* h = hidden.data<float>();

    // hidden [rows, d_model] = shared[ids] (T5 does not scale embeddings)
    for (int64_t i = 0; i < rows; ++i) {
        if (ids[i] < 0 || ids[i] >= vocab)
            throw Error("token id " + std::to_string(ids[i]) + " is outside the vocabulary of " +
                        std::to_string(vocab));
        row_to_f32(embedding_, ids[i], h + i * d_model_);
    }
    for (const EncoderBlock& block : blocks_) {
        if (stop && stop->load(std::memory_order_relaxed)) throw Cancelled();
        block.forward(h, rows, ws);
    }
    Tensor out({rows, d_model_}, DType::F32);
    rms_norm(h, rows, d_model_, final_norm_.data<float>(), eps_, out.data<float>());
    return out;
}

}  // namespace umt5
