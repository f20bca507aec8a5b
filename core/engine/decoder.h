#pragma once
// The umT5 decoder: blocks of causal self-attention (own position bias per block), cross-attention over the
// encoder output (no position bias) and feed-forward, each behind an RMS norm with a residual; a final RMS norm
// and the output projection (lm_head, or the tied embedding scaled by d_model^-0.5).
#include <vector>

#include "core/engine/attention.h"
#include "core/engine/feed_forward.h"
#include "core/engine/kv_cache.h"

namespace umt5 {

struct DecoderBlockWeights {
    AttentionWeights self_attention;   // "decoder.block.N.layer.0.SelfAttention"
    Tensor self_attention_norm;        // "decoder.block.N.layer.0.layer_norm.weight" [d_model]
    AttentionWeights cross_attention;  // "decoder.block.N.layer.1.EncDecAttention"
    Tensor cross_attention_norm;       // "decoder.block.N.layer.1.layer_norm.weight" [d_model]
    FeedForwardWeights feed_forward;   // "decoder.block.N.layer.2.DenseReluDense"
    Tensor feed_forward_norm;          // "decoder.block.N.layer.2.layer_norm.weight" [d_model]
};

class DecoderBlock {
public:
    DecoderBlock(DecoderBlockWeights weights, const ModelConfig& config, Precision precision);
    // Fills `cross` with this block's cross-attention keys and values of the encoder output [rows, d_model].
    void compute_cross(const float* encoder_out, int64_t rows, KVBuffer& cross, Workspace& ws) const;
    // hidden [rows, d_model] at decoder positions layer.self_attention.length() + i, updated in place; appends
    // their self-attention K/V to `layer`.
    void forward(float* hidden, int64_t rows, KVCache::Layer& layer, Workspace& ws) const;

private:
    Attention self_attention_;
    Tensor self_attention_norm_;
    Attention cross_attention_;
    Tensor cross_attention_norm_;
    FeedForward feed_forward_;
    Tensor feed_forward_norm_;
    int64_t d_model_;
    float eps_;
};

class Decoder {
public:
    // `embedding`: "shared.weight" [vocab, d_model] in F32, F16 or BF16 (usually a view of the mapped file), rows
    // converted to F32 on lookup; `final_norm`: "decoder.final_layer_norm.weight"; `lm_head`: F32
    // "lm_head.weight" [vocab, d_model], or shared.weight with `tied` (output scaled by d_model^-0.5).
    // With Int8 the output projection is int8 too (it dominates decoding time), and the best candidates of each
    // row are then rescored from `rescoring_weights`: the same projection's weights as the file holds them
    // (F32, F16 or BF16, [vocab, d_model]; usually a view of the mapped file, and for a tied model the mapped
    // shared.weight, which the scaled input then scales alike), each candidate's row converted to F32. The argmax
    // thus follows the file's own projection whenever its winner is among the int8 candidates. Ignored (may be
    // empty) with F32 and BF16.
    Decoder(Tensor embedding, std::vector<DecoderBlock> blocks, Tensor final_norm, Tensor lm_head,
            Tensor rescoring_weights, bool tied, const ModelConfig& config, Precision precision = Precision::F32);

    int64_t layer_count() const { return static_cast<int64_t>(blocks_.size()); }
    int64_t vocab_size() const { return lm_head_.out_features(); }

    // Replaces the cache's cross-attention K/V with those of `encoder_out` [rows, d_model].
    void compute_cross(const float* encoder_out, int64_t rows, KVCache& cache, Workspace& ws) const;
    // Runs `rows` tokens at positions cache.length(), cache.length() + 1, ... and appends their self-attention K/V.
    // Writes logits [logit_rows, vocab] of the last `logit_rows` of them (0 = none).
    void forward(const int* ids, int64_t rows, KVCache& cache, Workspace& ws, float* logits, int64_t logit_rows) const;

private:
    // Int8: replaces the largest logits of one row by their values with the file's weights (rescoring_weights_).
    void rescore_best(const float* normed, float* logits, Workspace& ws) const;

    Tensor embedding_;  // [vocab, d_model], F32, F16 or BF16, read-only
    std::vector<DecoderBlock> blocks_;
    Tensor final_norm_;
    // Int8 only (empty otherwise): the output projection's weights in the file's dtype [vocab, d_model], read-only
    Tensor rescoring_weights_;
    Linear lm_head_;
    float output_scale_;
    int64_t d_model_;
    float eps_;
};

}  // namespace umt5
