#pragma once
// Scratch buffers reused across forward passes, so the per-token loop allocates nothing once they have grown to
// their working size. One Workspace per thread of generation; never shared between concurrent calls.
#include <algorithm>
#include <array>
#include <cstddef>
#include <vector>

#include "core/engine/kv_cache.h"

namespace umt5 {

class Workspace {
public:
    enum Slot { Hidden, Normed, Query, Key, Value, Context, Scores, FeedGate, FeedLinear, Buckets, Logits, Encoder, Rescoring, SlotCount };

    // At least `count` floats for `slot`; contents are unspecified. Pointers stay valid until the slot grows.
    // Slots grow geometrically: the attention scores gain a key every decoding step, and growing them to the exact
    // size reallocated them at every step.
    float* get(Slot slot, size_t count) {
        std::vector<float>& buffer = buffers_[slot];
        if (buffer.size() < count) buffer.resize(std::max(count, buffer.size() * 2));
        return buffer.data();
    }

    // An empty K/V buffer for attention whose keys are not cached (encoder self-attention, the uncached decoder).
    KVBuffer& scratch_kv(int64_t heads, int64_t head_dim, int64_t index = 0) {
        if (scratch_kv_.size() <= static_cast<size_t>(index)) scratch_kv_.resize(static_cast<size_t>(index) + 1);
        KVBuffer& kv = scratch_kv_[static_cast<size_t>(index)];
        if (kv.heads() != heads || kv.head_dim() != head_dim) kv = KVBuffer(heads, head_dim);
        kv.clear();
        return kv;
    }

private:
    std::vector<KVBuffer> scratch_kv_;
    std::array<std::vector<float>, SlotCount> buffers_;
};

}  // namespace umt5
