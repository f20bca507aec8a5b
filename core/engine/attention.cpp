#include "core/engine/attention.h"

#include <algorithm>
#include <limits>

#include "core/engine/ops.h"

namespace umt5 {

Attention::Attention(AttentionWeights weights, const ModelConfig& config, bool bidirectional, Precision precision)
    : q_(std::move(weights.q), precision),
      k_(std::move(weights.k), precision),
      v_(std::move(weights.v), precision),
      o_(std::move(weights.o), precision),
      bias_table_(std::move(weights.relative_attention_bias)),
      heads_(config.num_heads),
      head_dim_(config.d_kv),
      num_buckets_(config.relative_attention_num_buckets),
      max_distance_(config.relative_attention_max_distance),
      bidirectional_(bidirectional) {
    // Buckets of every relative position in [-reach, reach]; beyond max_distance they no longer change, and
    // positions past the table (odd configurations only) fall back to the formula.
    if (bias_table_.empty()) return;
    bucket_reach_ = std::max<int64_t>(max_distance_, 1) + num_buckets_;
    bucket_table_.resize(static_cast<size_t>(2 * bucket_reach_ + 1));
    for (int64_t rel = -bucket_reach_; rel <= bucket_reach_; ++rel)
        bucket_table_[static_cast<size_t>(rel + bucket_reach_)] =
            static_cast<int32_t>(relative_position_bucket(rel, bidirectional_, num_buckets_, max_distance_));
}

int64_t Attention::bucket(int64_t relative_position) const {
    if (relative_position < -bucket_reach_ || relative_position > bucket_reach_)
        return relative_position_bucket(relative_position, bidirectional_, num_buckets_, max_distance_);
    return bucket_table_[static_cast<size_t>(relative_position + bucket_reach_)];
}

void Attention::append_kv(const float* x, int64_t rows, KVBuffer& kv, Workspace& ws) const {
    const int64_t inner = heads_ * head_dim_;
    float* keys = ws.get(Workspace::Key, static_cast<size_t>(rows * inner));
    float* values = ws.get(Workspace::Value, static_cast<size_t>(rows * inner));
    k_.forward(x, rows, keys);
    v_.forward(x, rows, values);
    kv.append(keys, values, rows);
}

void Attention::attend(const float* x, int64_t rows, int64_t first_position, const KVBuffer& kv, bool causal,
                       float* residual, Workspace& ws) const {
    const int64_t inner = heads_ * head_dim_;
    const int64_t key_count = kv.length();
    float* query = ws.get(Workspace::Query, static_cast<size_t>(rows * inner));
    float* scores = ws.get(Workspace::Scores, static_cast<size_t>(heads_ * rows * key_count));
    float* context = ws.get(Workspace::Context, static_cast<size_t>(rows * inner));

    // query [rows, heads * d_kv] = x W_q^T
    q_.forward(x, rows, query);

    // scores [heads, rows, keys] = Q K^T per head (no 1/sqrt(d_kv) scaling in T5)
    scores_product_.run(heads_, rows, head_dim_, key_count, {query, head_dim_, inner, 1},
                        {kv.keys(), kv.head_stride(), 1, head_dim_}, scores, rows * key_count, key_count);

    // + relative position bias (self-attention only), causal mask, softmax over keys
    const bool has_bias = !bias_table_.empty();
    const float* table = has_bias ? bias_table_.data<float>() : nullptr;
    // Buckets depend only on key - query, which ranges over [-(first_position + rows - 1), key_count - 1].
    const int64_t min_relative = -(first_position + rows - 1);
    float* bucket_of = has_bias ? ws.get(Workspace::Buckets, static_cast<size_t>(key_count - min_relative)) : nullptr;
    if (has_bias)
        for (int64_t rel = min_relative; rel < key_count; ++rel)
            bucket_of[rel - min_relative] = static_cast<float>(bucket(rel));
    constexpr float kMasked = -std::numeric_limits<float>::infinity();
    for (int64_t h = 0; h < heads_; ++h) {
        for (int64_t i = 0; i < rows; ++i) {
            float* row = scores + (h * rows + i) * key_count;
            const int64_t position = first_position + i;
            if (has_bias)
                for (int64_t j = 0; j < key_count; ++j) {
                    const auto bucket = static_cast<int64_t>(bucket_of[j - position - min_relative]);
                    row[j] += table[bucket * heads_ + h];
                }
            if (causal)
                for (int64_t j = position + 1; j < key_count; ++j) row[j] = kMasked;
            softmax(row, key_count);
        }
    }

    // context [rows, heads * d_kv] = P V per head
    context_product_.run(heads_, rows, key_count, head_dim_, {scores, rows * key_count, key_count, 1},
                         {kv.values(), kv.head_stride(), head_dim_, 1}, context, head_dim_, inner);

    // residual += context W_o^T
    o_.forward(context, rows, residual, /*accumulate=*/true);
}

}  // namespace umt5
