#pragma once
// A loaded umT5 model: configuration, tokenizer, encoder and decoder. Immutable after loading and safe to share
// between threads; every mutable state (KV cache, workspace) belongs to the caller.
#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/formats/config.h"
#include "core/engine/decoder.h"
#include "core/engine/encoder.h"
#include "core/formats/tokenizer.h"

namespace umt5 {

struct LoadOptions {
    // The calling thread's thread setting (runtime.h, set_num_threads): > 0 that many threads, 0 automatic;
    // -1 keeps the current setting (automatic unless set otherwise).
    int threads = -1;
    Precision precision = Precision::F32;  // weight precision of the linear layers (see core/linear.h)
    // Called with the fraction of weights loaded, in [0, 1]; may be empty.
    std::function<void(double)> progress;
    // When set to true during loading, load() throws umt5::Cancelled.
    const std::atomic<bool>* stop = nullptr;
};

class Model {
public:
    // Loads config.json, the weights and spiece.model from a Hugging Face checkpoint directory.
    // Throws umt5::Error with a one-line message naming the file and tensor at fault.
    static std::shared_ptr<const Model> load(const std::filesystem::path& dir, const LoadOptions& options = {});
    // The embedded demo model's directory (next to the installed binary, or in the source tree).
    static std::filesystem::path default_model_dir();

    const ModelConfig& config() const { return config_; }
    const Tokenizer& tokenizer() const { return tokenizer_; }
    const std::filesystem::path& dir() const { return dir_; }
    std::string name() const;  // directory name, e.g. "demo-umt5"
    // Fingerprint of the architecture and the weights: caches and sessions saved with one model refuse another.
    // The precision is part of it: a cache computed with BF16 weights does not continue an F32 run exactly.
    const std::string& identity() const { return identity_; }
    Precision precision() const { return precision_; }
    int64_t parameter_count() const { return parameter_count_; }
    size_t weight_bytes() const { return weight_bytes_; }
    // What loading found suspicious but not fatal, one line each, e.g.
    // "DIR/model.safetensors: tensor shared.weight has 3 NaN or infinite values (of 196608)". The first one is
    // also printed to stderr while loading.
    const std::vector<std::string>& warnings() const { return warnings_; }

    // Longest encoder input accepted: attention memory grows with its square.
    static constexpr int64_t kMaxEncoderTokens = 2048;
    // Longest prompt text tokenized at all (far more than kMaxEncoderTokens tokens of any real text), so that a
    // pasted file is refused before tokenizing it costs time and memory.
    static constexpr size_t kMaxPromptBytes = size_t{1} << 20;
    // The encoder input for a prompt: its sentencepiece ids followed by eos. Throws umt5::Error for an empty or
    // invalid UTF-8 prompt, one over kMaxPromptBytes bytes, or one longer than kMaxEncoderTokens tokens.
    std::vector<int> prompt_ids(const std::string& prompt) const;

    // Encoder output [ids, d_model] for one unpadded sequence of at most kMaxEncoderTokens ids.
    Tensor encode(const std::vector<int>& ids, Workspace& ws, const std::atomic<bool>* stop = nullptr) const;
    // A cache shaped for this model, empty.
    KVCache make_cache() const;
    // Fills the cache's cross-attention K/V from the encoder output and clears its self-attention rows.
    void start_decoding(const Tensor& encoder_out, KVCache& cache, Workspace& ws) const;
    // Runs `ids` through the decoder after the cached positions, appending their K/V; writes the logits of the
    // last `logit_rows` positions to `logits` [logit_rows, vocab].
    void decode(const std::vector<int>& ids, KVCache& cache, Workspace& ws, float* logits, int64_t logit_rows = 1) const;
    // Teacher-forced logits of every position [ids, vocab] in one pass.
    Tensor decode_all(const std::vector<int>& decoder_ids, const Tensor& encoder_out, Workspace& ws) const;

    int64_t vocab_size() const { return config_.vocab_size; }

private:
    Model() = default;
    // Runs a short input through the encoder and one decoder step, so that the kernels are generated at load.
    void warm_up() const;

    std::filesystem::path dir_;
    ModelConfig config_;
    Tokenizer tokenizer_;
    std::unique_ptr<Encoder> encoder_;
    std::unique_ptr<Decoder> decoder_;
    std::string identity_;
    Precision precision_ = Precision::F32;
    int64_t parameter_count_ = 0;
    size_t weight_bytes_ = 0;
    std::vector<std::string> warnings_;
};

}  // namespace umt5
