#pragma once
// Choosing the next token from logits: greedy, or sampling with temperature, top-k and top-p, plus a
// repetition penalty (CTRL / Hugging Face convention: positive logits divided by it, negative multiplied).
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace umt5 {

struct SamplingOptions {
    float temperature = 0.0f;         // 0 = greedy (argmax); > 0 scales logits before sampling
    int top_k = 0;                    // keep only the k most likely tokens; 0 = no limit
    float top_p = 1.0f;               // keep the smallest set whose probability reaches top_p; 1 = no limit
    float repetition_penalty = 1.0f;  // > 1 discourages tokens already generated; 1 = off
    uint64_t seed = 0;                // random seed for sampling; same seed and settings give the same tokens
};

class Sampler {
public:
    explicit Sampler(const SamplingOptions& options);
    // Picks the next id from `logits` (modified in place by the penalty and temperature; when sampling, NaN
    // becomes -inf). `previous` holds the ids generated so far, for the repetition penalty. Ties in greedy mode
    // go to the lowest id.
    int next(float* logits, int64_t vocab, const std::vector<int>& previous);
    const SamplingOptions& options() const { return options_; }
    // The random generator's state as text (the standard's portable textual form), to continue a run later.
    std::string rng_state() const;
    // Restores a state from rng_state(); throws umt5::Error when `state` is not one.
    void set_rng_state(const std::string& state);

private:
    SamplingOptions options_;
    std::mt19937_64 rng_;
    int greedy(const float* logits, int64_t vocab) const;
    int sample(float* logits, int64_t vocab);

    std::vector<int> order_;  // scratch, reused between calls
    std::vector<float> probs_;
    std::vector<unsigned char> penalized_;  // marks ids already penalised during one call
};

}  // namespace umt5
