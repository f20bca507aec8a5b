#include "core/chat/generation_json.h"

#include <charconv>

namespace umt5 {

double float_for_json(float value) {
    char buffer[64];
    const auto written = std::to_chars(buffer, buffer + sizeof buffer, value);
    double out = value;
    std::from_chars(buffer, written.ptr, out);
    return out;
}

nlohmann::ordered_json settings_json(const GenerationOptions& o) {
    return {{"max_new_tokens", o.max_new_tokens},
            {"use_cache", o.use_cache},
            {"ignore_eos", o.ignore_eos},
            {"temperature", float_for_json(o.sampling.temperature)},
            {"top_k", o.sampling.top_k},
            {"top_p", float_for_json(o.sampling.top_p)},
            {"repetition_penalty", float_for_json(o.sampling.repetition_penalty)},
            {"seed", o.sampling.seed}};
}

nlohmann::ordered_json stats_json(const GenerationStats& s) {
    return {{"encode_ms", s.encode_ms},         {"first_token_ms", s.first_token_ms},
            {"decode_ms", s.decode_ms},         {"tokens", s.tokens},
            {"tokens_per_s", s.tokens_per_s},   {"cache", s.cache},
            {"encoder_reused", s.encoder_reused}};
}

}  // namespace umt5
