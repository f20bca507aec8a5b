#pragma once
// JSON forms of generation settings and statistics, shared by session files, transcripts and the umt5 tool so
// the three spell every field the same way.
#include <nlohmann/json.hpp>

#include "core/chat/generation.h"

namespace umt5 {

// {"max_new_tokens", "use_cache", "ignore_eos", "temperature", "top_k", "top_p", "repetition_penalty", "seed"};
// floats are written in their shortest form (0.7, not 0.699999988).
nlohmann::ordered_json settings_json(const GenerationOptions& options);
// {"encode_ms", "first_token_ms", "decode_ms", "tokens", "tokens_per_s", "cache", "encoder_reused"}.
nlohmann::ordered_json stats_json(const GenerationStats& stats);
// The shortest decimal that reads back as `value`, as a double.
double float_for_json(float value);

}  // namespace umt5
