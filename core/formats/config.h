#pragma once
// Model hyper-parameters, read from a Hugging Face config.json (T5/umT5 field names and defaults).
#include <cstdint>
#include <filesystem>
#include <string>

namespace umt5 {

struct ModelConfig {
    int64_t vocab_size = 32128;              // "vocab_size": rows of shared.weight and lm_head.weight
    int64_t d_model = 512;                   // "d_model": hidden width
    int64_t d_kv = 64;                       // "d_kv": width of one attention head
    int64_t d_ff = 2048;                     // "d_ff": feed-forward inner width
    int64_t num_heads = 8;                   // "num_heads"
    int64_t num_layers = 6;                  // "num_layers": encoder blocks
    int64_t num_decoder_layers = 6;          // "num_decoder_layers": decoder blocks (defaults to num_layers)
    int64_t relative_attention_num_buckets = 32;   // "relative_attention_num_buckets"
    int64_t relative_attention_max_distance = 128; // "relative_attention_max_distance"
    double layer_norm_epsilon = 1e-6;        // "layer_norm_epsilon"
    bool is_gated_act = true;                // from "feed_forward_proj": "gated-gelu" -> true, "relu" -> false
    std::string dense_act_fn = "gelu_new";   // "gelu_new" (tanh GELU), "gelu" (erf GELU) or "relu"
    bool tie_word_embeddings = true;         // "tie_word_embeddings": output through shared.weight * d_model^-0.5
    int64_t pad_token_id = 0;                // "pad_token_id"
    int64_t eos_token_id = 1;                // "eos_token_id"
    int64_t decoder_start_token_id = 0;      // "decoder_start_token_id"

    int64_t inner_dim() const { return num_heads * d_kv; }

    // Parses and validates; errors name the file and the field.
    static ModelConfig from_file(const std::filesystem::path& path);
    static ModelConfig from_json(const std::string& text, const std::string& origin = "config.json");
    // Throws umt5::Error when a value is zero, negative, absurd or inconsistent.
    void validate(const std::string& origin = "config.json") const;
    // Stable text form of the architecture fields, used to tie caches and sessions to a model.
    std::string canonical() const;
};

}  // namespace umt5
