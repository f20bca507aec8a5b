#pragma once
// Keys and values of attention, stored head-major so each head's rows are contiguous: [heads, capacity, d_kv].
#include <cstddef>
#include <cstdint>
#include <vector>

namespace umt5 {

class KVBuffer {
public:
    KVBuffer() = default;
    KVBuffer(int64_t heads, int64_t head_dim) : heads_(heads), head_dim_(head_dim) {}

    int64_t heads() const { return heads_; }
    int64_t head_dim() const { return head_dim_; }
    int64_t length() const { return length_; }      // rows in use
    int64_t capacity() const { return capacity_; }
    // Ensures room for `rows` rows without reallocation (existing rows are kept).
    void reserve(int64_t rows);
    // Appends `rows` rows given as [rows, heads * head_dim] row-major keys and values.
    void append(const float* keys, const float* values, int64_t rows);
    void truncate(int64_t rows);  // keeps the first `rows` rows
    void clear() { length_ = 0; }
    // Releases the storage.
    void release();

    const float* keys() const { return keys_.data(); }     // [heads, capacity, head_dim]
    const float* values() const { return values_.data(); }
    int64_t head_stride() const { return capacity_ * head_dim_; }
    size_t bytes() const { return (keys_.capacity() + values_.capacity()) * sizeof(float); }

    // Row-major copies of the used rows, [length, heads * head_dim], for saving.
    std::vector<float> export_keys() const;
    std::vector<float> export_values() const;

private:
    int64_t heads_ = 0;
    int64_t head_dim_ = 0;
    int64_t length_ = 0;
    int64_t capacity_ = 0;
    std::vector<float> keys_;
    std::vector<float> values_;
};

// The decoder cache of one conversation: for every decoder layer, self-attention K/V that grow by one row per
// generated position, and cross-attention K/V computed once per encoder input.
class KVCache {
public:
    struct Layer {
        KVBuffer self_attention;   // decoder positions so far
        KVBuffer cross_attention;  // encoder positions, fixed per input
    };

    KVCache() = default;
    KVCache(int64_t layers, int64_t heads, int64_t head_dim);

    int64_t layer_count() const { return static_cast<int64_t>(layers_.size()); }
    Layer& layer(int64_t i) { return layers_[static_cast<size_t>(i)]; }
    const Layer& layer(int64_t i) const { return layers_[static_cast<size_t>(i)]; }

    // Decoder positions cached (the decoder start token counts as position 0).
    int64_t length() const { return layers_.empty() ? 0 : layers_.front().self_attention.length(); }
    bool has_cross() const { return !layers_.empty() && layers_.front().cross_attention.length() > 0; }
    // Drops self-attention rows past `positions`; the cross-attention K/V stay.
    void truncate(int64_t positions);
    // Drops everything, cross-attention included.
    void clear();
    // Frees the memory too.
    void release();
    size_t bytes() const;

private:
    std::vector<Layer> layers_;
};

}  // namespace umt5
