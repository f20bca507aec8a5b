#pragma once
// Bounds on the work one request may ask of the decoder, checked before anything is allocated, so that a long
// answer or a long teacher-forced sequence is refused with a sentence instead of growing until std::bad_alloc:
// `umt5 score` with 20,000 decoder ids grew to 6.5 GB (self-attention scores grow with the square of the length)
// before it died.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/formats/config.h"

namespace umt5 {

// Longest decoder sequence (the start id and every answer token) that generation builds and `score` accepts.
// Twice the encoder's limit (Model::kMaxEncoderTokens): an answer is rarely longer than its prompt, and at 4096
// positions one teacher-forced pass of umt5-small needs about 4.8 GB by decoder_pass_bytes (4.2 GB of logits).
constexpr int64_t kMaxDecoderTokens = 4096;

// Bytes that one decoder pass of `rows` new positions needs at its peak, after which the sequence holds
// `positions` positions, over an encoder output of `prompt_rows` rows, writing `logit_rows` rows of logits:
// attention scores, layer scratch, logits, and the self- and cross-attention K/V (counted twice when `cached`:
// the cache grows by doubling, and copies while it does).
size_t decoder_pass_bytes(const ModelConfig& config, int64_t prompt_rows, int64_t rows, int64_t positions,
                          int64_t logit_rows, bool cached);

// MemAvailable of /proc/meminfo (0 when unknown).
size_t available_memory_bytes();

// Throws umt5::Error "<what> needs about N MiB of memory, but only M MiB are available" when `bytes` exceeds
// the memory available now (nothing is checked when that is unknown).
void check_memory(size_t bytes, const std::string& what);

// Checks a teacher-forced pass of `decoder_ids` decoder ids over `input_ids` encoder ids (umt5 score): the
// length limit, then memory. Throws umt5::Error with a one-line message.
void check_score_limits(const ModelConfig& config, int64_t input_ids, int64_t decoder_ids);

// Checks a generation call that may add `max_new_tokens` tokens to an answer of `generated` tokens over
// `prompt_rows` encoder ids, with the cache on or off: the length limit, then memory.
void check_generation_limits(const ModelConfig& config, int64_t prompt_rows, int64_t generated, int64_t max_new_tokens,
                             bool use_cache);

}  // namespace umt5
