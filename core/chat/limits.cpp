#include "core/chat/limits.h"

#include <algorithm>
#include <fstream>

#include "core/formats/error.h"

namespace umt5 {

size_t decoder_pass_bytes(const ModelConfig& c, int64_t prompt_rows, int64_t rows, int64_t positions,
                          int64_t logit_rows, bool cached) {
    const auto inner = static_cast<double>(c.inner_dim());
    const auto layers = static_cast<double>(c.num_decoder_layers);
    // In floats; double so that absurd requests cannot overflow before they are compared.
    const double scores = static_cast<double>(c.num_heads) * rows * std::max(positions, prompt_rows);
    const double scratch = static_cast<double>(rows) * (2.0 * c.d_model + 4.0 * inner + 2.0 * c.d_ff);
    const double logits = static_cast<double>(logit_rows) * c.vocab_size;
    const double self_kv = layers * 2.0 * positions * inner * (cached ? 2.0 : 1.0);
    const double cross_kv = layers * 2.0 * prompt_rows * inner;
    const double bytes = 4.0 * (scores + scratch + logits + self_kv + cross_kv);
    return bytes >= 1e18 ? size_t{1} << 60 : static_cast<size_t>(bytes);
}

size_t available_memory_bytes() {
    std::ifstream meminfo("/proc/meminfo");
    std::string key, unit;
    size_t kib = 0;
    while (meminfo >> key >> kib >> unit)
        if (key == "MemAvailable:") return kib * 1024;
    return 0;
}

void check_memory(size_t bytes, const std::string& what) {
    const size_t available = available_memory_bytes();
    if (available != 0 && bytes > available)
        throw Error(what + " needs about " + std::to_string((bytes + (1u << 20) - 1) >> 20) +
                    " MiB of memory, but only " + std::to_string(available >> 20) + " MiB are available");
}

void check_score_limits(const ModelConfig& config, int64_t input_ids, int64_t decoder_ids) {
    if (decoder_ids > kMaxDecoderTokens)
        throw Error("the decoder input is " + std::to_string(decoder_ids) + " tokens long; the limit is " +
                    std::to_string(kMaxDecoderTokens));
    check_memory(decoder_pass_bytes(config, input_ids, decoder_ids, decoder_ids, decoder_ids, false),
                 "scoring " + std::to_string(decoder_ids) + " decoder ids");
}

void check_generation_limits(const ModelConfig& config, int64_t prompt_rows, int64_t generated, int64_t max_new_tokens,
                             bool use_cache) {
    // The decoder sees the start id and every answer token but the last: as many positions as answer tokens.
    const int64_t room = kMaxDecoderTokens - generated;
    if (max_new_tokens > room) {
        if (generated == 0)
            throw Error("an answer can have at most " + std::to_string(kMaxDecoderTokens) + " tokens (asked for " +
                        std::to_string(max_new_tokens) + ")");
        throw Error("the answer has " + std::to_string(generated) + " tokens and can have at most " +
                    std::to_string(kMaxDecoderTokens) + ": " + std::to_string(std::max<int64_t>(room, 0)) +
                    " more, not " + std::to_string(max_new_tokens));
    }
    const int64_t positions = generated + max_new_tokens;
    // With the cache, one step feeds one position (or, after a restore, every missing one at once: at most
    // `generated`); without it, every step recomputes the whole prefix.
    const int64_t rows = use_cache ? std::max<int64_t>(generated, 1) : positions;
    check_memory(decoder_pass_bytes(config, prompt_rows, rows, positions, 1, use_cache),
                 "generating " + std::to_string(max_new_tokens) + " tokens");
}

}  // namespace umt5
