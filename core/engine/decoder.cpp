#include "core/engine/decoder.h"

#include <cmath>

#include "core/engine/ops.h"

namespace umt5 {

DecoderBlock::DecoderBlock(DecoderBlockWeights weights, const ModelConfig& config, Precision precision)
    : self_attention_(std::move(weights.self_attention), config, /*bidirectional=*/false, precision),
      self_attention_norm_(std::move(weights.self_attention_norm)),
      cross_attention_(std::move(weights.cross_attention), config, /*bidirectional=*/false, precision),
      cross_attention_norm_(std::move(weights.cross_attention_norm)),
      feed_forward_(std::move(weights.feed_forward), config, precision),
      feed_forward_norm_(std::move(weights.feed_forward_norm)),
      d_model_(config.d_model),
      eps_(static_cast<float>(config.layer_norm_epsilon)) {}

void DecoderBlock::compute_cross(const float* encoder_out, int64_t rows, KVBuffer& cross, Workspace& ws) const {
    cross.clear();
    cross_attention_.append_kv(encoder_out, rows, cross, ws);
}

void DecoderBlock::forward(float* hidden, int64_t rows, KVCache::Layer& layer, Workspace& ws) const {
    float* normed = ws.get(Workspace::Normed, static_cast<size_t>(rows * d_model_));
    const int64_t first_position = layer.self_attention.length();

    // hidden += SelfAttention(norm(hidden)) over positions [0, own position]
    rms_norm(hidden, rows, d_model_, self_attention_norm_.data<float>(), eps_, normed);
    self_attention_.append_kv(normed, rows, layer.self_attention, ws);
    self_attention_.attend(normed, rows, first_position, layer.self_attention, /*causal=*/true, hidden, ws);

    // hidden += CrossAttention(norm(hidden), encoder output)
    rms_norm(hidden, rows, d_model_, cross_attention_norm_.data<float>(), eps_, normed);
    cross_attention_.attend(normed, rows, first_position, layer.cross_attention, /*causal=*/false, hidden, ws);

    // hidden += FeedForward(norm(hidden))
    rms_norm(hidden, rows, d_model_, feed_forward_norm_.data<float>(), eps_, normed);
    feed_forward_.forward(normed, rows, hidden, ws);
}

Decoder::Decoder(Tensor embedding, std::vector<DecoderBlock> blocks, Tensor final_norm, Tensor lm_head,
                 Tensor rescoring_weights, bool tied, const ModelConfig& config, Precision precision)
    : embedding_(std::move(embedding)),
      blocks_(std::move(blocks)),
      final_norm_(std::move(final_norm)),
      rescoring_weights_(precision == Precision::Int8 ? std::move(rescoring_weights) : Tensor()),
      lm_head_(std::move(lm_head), precision),
      output_scale_(tied ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(config.d_model))) : 1.0f),
      d_model_(config.d_model),
      eps_(static_cast<float>(config.layer_norm_epsilon)) {
    if (precision == Precision::Int8 && rescoring_weights_.shape() != Shape{lm_head_.out_features(), d_model_})
        throw Error("the int8 rescoring weights have shape " + shape_string(rescoring_weights_.shape()) +
                    ", expected " + shape_string({lm_head_.out_features(), d_model_}));
}

void Decoder::compute_cross(const float* encoder_out, int64_t rows, KVCache& cache, Workspace& ws) const {
    for (int64_t i = 0; i < layer_count(); ++i)
        blocks_[static_cast<size_t>(i)].compute_cross(encoder_out, rows, cache.layer(i).cross_attention, ws);
}

void Decoder::forward(const int* ids, int64_t rows, KVCache& cache, Workspace& ws, float* logits,
                      int64_t logit_rows) const {
    if (cache.layer_count() != layer_count()) throw Error("the KV cache does not belong to this model");
    if (!cache.has_cross()) throw Error("the KV cache has no encoder output");
    const int64_t vocab = embedding_.dim(0);
    float* hidden = ws.get(Workspace::Hidden, static_cast<size_t>(rows * d_model_));

    // hidden [rows, d_model] = shared[ids]
    for (int64_t i = 0; i < rows; ++i) {
        if (ids[i] < 0 || ids[i] >= vocab)
            throw Error("token id " + std::to_string(ids[i]) + " is outside the vocabulary of " +
                        std::to_string(vocab));
        row_to_f32(embedding_, ids[i], hidden + i * d_model_);
    }
    for (int64_t i = 0; i < layer_count(); ++i) blocks_[static_cast<size_t>(i)].forward(hidden, rows, cache.layer(i), ws);
    if (logit_rows <= 0) return;

    // logits [logit_rows, vocab] = lm_head(norm(hidden[last rows])) (* d_model^-0.5 when tied)
    const float* last = hidden + (rows - logit_rows) * d_model_;
    float* normed = ws.get(Workspace::Normed, static_cast<size_t>(logit_rows * d_model_));
    rms_norm(last, logit_rows, d_model_, final_norm_.data<float>(), eps_, normed);
    if (output_scale_ != 1.0f)
        for (int64_t i = 0; i < logit_rows * d_model_; ++i) normed[i] *= output_scale_;
    lm_head_.forward(normed, logit_rows, logits);
    if (!rescoring_weights_.empty())
        for (int64_t r = 0; r < logit_rows; ++r) rescore_best(normed + r * d_model_, logits + r * vocab, ws);
}

void Decoder::rescore_best(const float* normed, float* logits, Workspace& ws) const {
    // The kRescored largest int8 logits are replaced by dot products with the file's weights, converted to F32;
    // the rest keep their int8 values.
    constexpr int kRescored = 8;
    const int64_t vocab = lm_head_.out_features();
    int64_t best[kRescored];
    int found = 0;
    int weakest = 0;  // index into best[] of the smallest kept logit, once best[] is full
    auto find_weakest = [&] {
        weakest = 0;
        for (int j = 1; j < kRescored; ++j)
            if (logits[best[j]] < logits[best[weakest]]) weakest = j;
    };
    for (int64_t i = 0; i < vocab; ++i) {
        if (found < kRescored) {
            best[found++] = i;
            if (found == kRescored) find_weakest();
        } else if (logits[i] > logits[best[weakest]]) {
            best[weakest] = i;
            find_weakest();
        }
    }
    float* row = ws.get(Workspace::Rescoring, static_cast<size_t>(d_model_));
    for (int j = 0; j < found; ++j) {
        row_to_f32(rescoring_weights_, best[j], row);
        float sum = 0;
        for (int64_t k = 0; k < d_model_; ++k) sum += normed[k] * row[k];
        logits[best[j]] = sum;
    }
}

}  // namespace umt5
