#include "core/engine/kv_cache.h"

#include <algorithm>
#include <cstring>

#include "core/formats/error.h"

namespace umt5 {

void KVBuffer::reserve(int64_t rows) {
    if (rows <= capacity_) return;
    const int64_t new_capacity = std::max<int64_t>(rows, std::max<int64_t>(16, capacity_ * 2));
    std::vector<float> new_keys(static_cast<size_t>(heads_ * new_capacity * head_dim_));
    std::vector<float> new_values(new_keys.size());
    for (int64_t h = 0; h < heads_; ++h) {
        const size_t used = static_cast<size_t>(length_ * head_dim_) * sizeof(float);
        if (used == 0) continue;
        std::memcpy(new_keys.data() + h * new_capacity * head_dim_, keys_.data() + h * capacity_ * head_dim_, used);
        std::memcpy(new_values.data() + h * new_capacity * head_dim_, values_.data() + h * capacity_ * head_dim_, used);
    }
    keys_.swap(new_keys);
    values_.swap(new_values);
    capacity_ = new_capacity;
}

void KVBuffer::append(const float* keys, const float* values, int64_t rows) {
    reserve(length_ + rows);
    const int64_t width = heads_ * head_dim_;
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t h = 0; h < heads_; ++h) {
            const size_t dst = static_cast<size_t>((h * capacity_ + length_ + r) * head_dim_);
            std::memcpy(keys_.data() + dst, keys + r * width + h * head_dim_, head_dim_ * sizeof(float));
            std::memcpy(values_.data() + dst, values + r * width + h * head_dim_, head_dim_ * sizeof(float));
        }
    }
    length_ += rows;
}

void KVBuffer::truncate(int64_t rows) {
    if (rows < 0) throw Error("cannot truncate a cache to a negative length");
    length_ = std::min(length_, rows);
}

void KVBuffer::release() {
    std::vector<float>().swap(keys_);
    std::vector<float>().swap(values_);
    capacity_ = 0;
    length_ = 0;
}

namespace {
std::vector<float> export_rows(const std::vector<float>& storage, int64_t heads, int64_t capacity, int64_t head_dim,
                               int64_t length) {
    std::vector<float> out(static_cast<size_t>(length * heads * head_dim));
    for (int64_t r = 0; r < length; ++r)
        for (int64_t h = 0; h < heads; ++h)
            std::memcpy(out.data() + (r * heads + h) * head_dim, storage.data() + (h * capacity + r) * head_dim,
                        head_dim * sizeof(float));
    return out;
}
}  // namespace

std::vector<float> KVBuffer::export_keys() const { return export_rows(keys_, heads_, capacity_, head_dim_, length_); }
std::vector<float> KVBuffer::export_values() const { return export_rows(values_, heads_, capacity_, head_dim_, length_); }

KVCache::KVCache(int64_t layers, int64_t heads, int64_t head_dim) {
    layers_.reserve(static_cast<size_t>(layers));
    for (int64_t i = 0; i < layers; ++i) layers_.push_back({KVBuffer(heads, head_dim), KVBuffer(heads, head_dim)});
}

void KVCache::truncate(int64_t positions) {
    for (Layer& l : layers_) l.self_attention.truncate(positions);
}

void KVCache::clear() {
    for (Layer& l : layers_) {
        l.self_attention.clear();
        l.cross_attention.clear();
    }
}

void KVCache::release() {
    for (Layer& l : layers_) {
        l.self_attention.release();
        l.cross_attention.release();
    }
}

size_t KVCache::bytes() const {
    size_t total = 0;
    for (const Layer& l : layers_) total += l.self_attention.bytes() + l.cross_attention.bytes();
    return total;
}

}  // namespace umt5
