#pragma once
// umT5 multi-head attention: no 1/sqrt(d_kv) scaling; in self-attention every layer has its own relative
// position bias table (bidirectional buckets in the encoder, causal in the decoder); cross-attention has none.
#include <vector>

#include "core/formats/config.h"
#include "core/engine/kv_cache.h"
#include "core/engine/linear.h"
#include "core/engine/workspace.h"

namespace umt5 {

struct AttentionWeights {
    Tensor q;  // "<prefix>.q.weight" [inner_dim, d_model]
    Tensor k;  // "<prefix>.k.weight" [inner_dim, d_model]
    Tensor v;  // "<prefix>.v.weight" [inner_dim, d_model]
    Tensor o;  // "<prefix>.o.weight" [d_model, inner_dim]
    Tensor relative_attention_bias;  // "<prefix>.relative_attention_bias.weight" [num_buckets, num_heads]; empty in cross-attention
};

class Attention {
public:
    Attention(AttentionWeights weights, const ModelConfig& config, bool bidirectional,
              Precision precision = Precision::F32);

    // Projects `rows` rows of x [rows, d_model] to keys and values and appends them to `kv`.
    void append_kv(const float* x, int64_t rows, KVBuffer& kv, Workspace& ws) const;

    // Queries from x [rows, d_model] at positions first_position, first_position + 1, ... attend over every row
    // of `kv`; with `causal`, query i sees keys up to its own position. The output projection is added to
    // residual [rows, d_model].
    void attend(const float* x, int64_t rows, int64_t first_position, const KVBuffer& kv, bool causal,
                float* residual, Workspace& ws) const;

private:
    // T5's relative position bucket of key position - query position.
    int64_t bucket(int64_t relative_position) const;

    Linear q_, k_, v_, o_;
    Tensor bias_table_;  // [num_buckets, num_heads] or empty
    int64_t heads_;
    int64_t head_dim_;
    int64_t num_buckets_;
    int64_t max_distance_;
    bool bidirectional_;
    int64_t bucket_reach_ = 0;           // bucket_table_ covers relative positions [-reach, reach]
    std::vector<int32_t> bucket_table_;  // relative position + reach -> bucket (with a bias table only)
    BatchedMatmul scores_product_{true};    // Q K^T
    BatchedMatmul context_product_{false};  // P V
};

}  // namespace umt5
