#include "core/chat/sampling.h"

#include "core/formats/error.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <locale>
#include <numeric>
#include <sstream>
#include <string>

namespace umt5 {

namespace {

std::string number(double value) {
    if (std::isnan(value)) return "NaN";
    std::string text = std::to_string(value);
    // to_string prints six decimals; drop the trailing zeros.
    if (text.find('.') != std::string::npos) {
        while (text.back() == '0') text.pop_back();
        if (text.back() == '.') text.pop_back();
    }
    return text;
}

}  // namespace

Sampler::Sampler(const SamplingOptions& options) : options_(options), rng_(options.seed) {
    if (!std::isfinite(options.temperature) || options.temperature < 0.0f)
        throw Error("sampling temperature must be a finite number >= 0 (got " + number(options.temperature) + ")");
    if (!(options.top_p > 0.0f && options.top_p <= 1.0f))
        throw Error("top-p must be greater than 0 and at most 1 (got " + number(options.top_p) + ")");
    if (options.top_k < 0) throw Error("top-k must be >= 0 (got " + std::to_string(options.top_k) + ")");
    if (!std::isfinite(options.repetition_penalty) || options.repetition_penalty <= 0.0f)
        throw Error("repetition penalty must be a finite number > 0 (got " + number(options.repetition_penalty) +
                    ")");
}

std::string Sampler::rng_state() const {
    std::ostringstream out;
    out.imbue(std::locale::classic());
    out << rng_;
    return out.str();
}

void Sampler::set_rng_state(const std::string& state) {
    std::istringstream in(state);
    in.imbue(std::locale::classic());
    std::mt19937_64 engine;
    in >> engine;
    const bool parsed = !in.fail();
    in >> std::ws;
    if (!parsed || !in.eof()) throw Error("the saved random generator state of the sampler is not valid");
    rng_ = engine;
}

int Sampler::next(float* logits, int64_t vocab, const std::vector<int>& previous) {
    if (vocab <= 0 || vocab > INT_MAX)
        throw Error("cannot choose a token from a vocabulary of " + std::to_string(vocab) + " logits");

    const float penalty = options_.repetition_penalty;
    if (penalty != 1.0f && !previous.empty()) {
        // Each distinct id is penalised once, however often it occurred.
        penalized_.resize(static_cast<size_t>(vocab), 0);
        for (int id : previous) {
            if (id < 0 || id >= vocab || penalized_[id]) continue;
            penalized_[id] = 1;
            logits[id] = logits[id] > 0.0f ? logits[id] / penalty : logits[id] * penalty;
        }
        for (int id : previous)
            if (id >= 0 && id < vocab) penalized_[id] = 0;
    }

    if (options_.temperature == 0.0f) return greedy(logits, vocab);
    return sample(logits, vocab);
}

int Sampler::greedy(const float* logits, int64_t vocab) const {
    // The largest value first (a vectorized pass; NaN never compares greater), then its lowest id, so ties keep
    // the lower id. If every logit is -inf, the first one that is not NaN wins.
    float largest = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : largest)
    for (int64_t id = 0; id < vocab; ++id) largest = logits[id] > largest ? logits[id] : largest;
    for (int64_t id = 0; id < vocab; ++id)
        if (logits[id] == largest) return static_cast<int>(id);
    throw Error("every logit is NaN");
}

int Sampler::sample(float* logits, int64_t vocab) {
    const int count = static_cast<int>(vocab);
    // Scale, and turn NaN into -inf so it sorts and weighs as an impossible token.
    const float impossible = -std::numeric_limits<float>::infinity();
    for (int id = 0; id < count; ++id)
        logits[id] = std::isnan(logits[id]) ? impossible : logits[id] / options_.temperature;

    // Candidates are ordered most likely first, ties to the lower id, so the order is fully determined. Only as
    // much of the order is sorted as top-k and top-p need: order_[0, sorted) is sorted, the rest is not.
    const auto more_likely = [logits](int a, int b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    };
    order_.resize(static_cast<size_t>(count));
    std::iota(order_.begin(), order_.end(), 0);
    int candidates = count;
    int sorted = 0;
    if (options_.top_k > 0 && options_.top_k < count) {
        candidates = options_.top_k;
        std::partial_sort(order_.begin(), order_.begin() + candidates, order_.end(), more_likely);
        sorted = candidates;
    }

    float max_logit = impossible;
    if (sorted > 0) {
        max_logit = logits[order_[0]];
    } else {
        for (int id = 0; id < count; ++id) max_logit = std::max(max_logit, logits[id]);
    }
    if (max_logit == impossible) throw Error("every logit is -inf or NaN");

    // Softmax numerators by id, with the maximum subtracted; +inf logits share all the probability.
    probs_.resize(static_cast<size_t>(count));
    double total = 0.0;
    for (int j = 0; j < candidates; ++j) {
        const int id = order_[j];
        const float value = logits[id];
        const float p = std::isinf(max_logit) ? (value == max_logit ? 1.0f : 0.0f)
                                              : std::exp(value - max_logit);
        probs_[id] = p;
        total += p;
    }

    // Nucleus: the shortest most-likely-first prefix whose probability reaches top_p, at least one token. The
    // order is extended in doubling chunks, which gives the same prefix as sorting everything.
    int kept = candidates;
    double kept_total = total;
    if (options_.top_p < 1.0f) {
        const double threshold = double(options_.top_p) * total;
        double cumulative = 0.0;
        kept = 0;
        while (kept < candidates) {
            if (kept == sorted) {
                const int next = std::min(candidates, std::max(64, 2 * sorted));
                if (next < candidates)
                    std::nth_element(order_.begin() + sorted, order_.begin() + next, order_.begin() + candidates,
                                     more_likely);
                std::sort(order_.begin() + sorted, order_.begin() + next, more_likely);
                sorted = next;
            }
            cumulative += probs_[order_[kept]];
            ++kept;
            if (cumulative >= threshold) break;
        }
        kept_total = cumulative;
    }

    // A uniform draw in [0, 1) from the top 53 bits, so the result does not depend on the standard library.
    const double uniform = double(rng_() >> 11) * 0x1.0p-53;
    const double target = uniform * kept_total;
    double cumulative = 0.0;
    int last_possible = order_[0];
    for (int j = 0; j < kept; ++j) {
        const float p = probs_[order_[j]];
        if (p <= 0.0f) continue;
        cumulative += p;
        last_possible = order_[j];
        if (target < cumulative) return order_[j];
    }
    return last_possible;  // rounding left the target at the very end
}

}  // namespace umt5
