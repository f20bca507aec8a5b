#include "core/chat/generation.h"

#include "core/chat/limits.h"
#include "core/engine/runtime.h"

#include <algorithm>

namespace umt5 {

namespace {
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }
}  // namespace

const char* finish_reason_name(FinishReason reason) {
    switch (reason) {
    case FinishReason::Length: return "length";
    case FinishReason::Eos: return "eos";
    case FinishReason::Stopped: return "stopped";
    case FinishReason::InputLength: return "input_length";
    case FinishReason::Repetition: return "repetition";
    }
    return "?";
}

std::optional<FinishReason> finish_reason_from_name(const std::string& name) {
    for (FinishReason reason : {FinishReason::Length, FinishReason::Eos, FinishReason::Stopped,
                                FinishReason::InputLength, FinishReason::Repetition})
        if (name == finish_reason_name(reason)) return reason;
    return std::nullopt;
}

bool is_translate_prompt(const std::string& prompt) {
    // "translate <source> to <target>: ...", the task prefix umT5/T5 translation models are trained with.
    static const std::string prefix = "translate ";
    if (prompt.compare(0, prefix.size(), prefix) != 0) return false;
    const size_t colon = prompt.find(':', prefix.size());
    const size_t to = prompt.find(" to ", prefix.size());
    return colon != std::string::npos && to != std::string::npos && to < colon &&
           prompt.find('\n') > colon;
}

double default_length_ratio(const std::string& prompt) {
    return is_translate_prompt(prompt) ? kTranslateLengthRatio : 0.0;
}

int input_length_limit(const GenerationOptions& options, size_t input_tokens) {
    if (!(options.length_ratio > 0)) return -1;
    const double limit = options.length_ratio * static_cast<double>(input_tokens) + std::max(0, options.length_offset);
    return static_cast<int>(std::min(limit, 1e9));
}

int repeated_ngram(const std::vector<int>& ids, int repeats) {
    if (repeats < 2) return 0;
    const size_t size = ids.size();
    for (int n = 1; n <= kMaxRepeatNgram; ++n) {
        const size_t span = static_cast<size_t>(n) * static_cast<size_t>(repeats);
        if (span > size) break;
        // The last `span` ids repeat with period n.
        bool periodic = true;
        for (size_t i = size - span; i + n < size && periodic; ++i) periodic = ids[i] == ids[i + n];
        if (periodic) return n;
    }
    return 0;
}

void ensure_encoded(const Model& model, DecodingState& state, Workspace& ws, GenerationStats& stats,
                    const std::atomic<bool>* stop) {
    if (!state.encoder_out.empty()) {
        stats.encoder_reused = true;
        return;
    }
    const auto t0 = Clock::now();
    state.encoder_out = model.encode(state.prompt_ids, ws, stop);
    stats.encode_ms = ms_since(t0);
    state.cache = model.make_cache();
}

namespace {

// The code point at `text[i]` (advancing i past it), or -1 for a byte that does not start valid UTF-8 (the
// tokenizer reports those, with their position).
int32_t next_code_point(const std::string& text, size_t& i) {
    const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char lead = byte(i);
    int length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xe ? 3 : (lead >> 3) == 0x1e ? 4 : 0;
    if (length == 0 || i + length > text.size()) return -1;
    int32_t cp = length == 1 ? lead : lead & (0x7f >> length);
    for (int k = 1; k < length; ++k) {
        if ((byte(i + k) & 0xc0) != 0x80) return -1;
        cp = (cp << 6) | (byte(i + k) & 0x3f);
    }
    i += static_cast<size_t>(length);
    return cp;
}

// Unicode's White_Space characters, the C0/C1 controls and the invisible format characters that sentencepiece's
// normalisation turns into nothing or into one space.
bool invisible(int32_t cp) {
    return cp <= 0x20 || (cp >= 0x7f && cp <= 0xa0) || cp == 0xad || cp == 0x1680 || cp == 0x180e ||
           (cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) || (cp >= 0x205f && cp <= 0x2064) ||
           cp == 0x3000 || cp == 0xfeff;
}

}  // namespace

void check_prompt_text(const std::string& prompt) {
    for (size_t i = 0; i < prompt.size();) {
        const int32_t cp = next_code_point(prompt, i);
        if (cp < 0 || !invisible(cp)) return;
    }
    // Plain ASCII blanks keep the engine's message ("the prompt is empty"); this one names what was there.
    if (prompt.find_first_not_of(" \t\r\n") == std::string::npos) return;
    throw Error("the prompt is empty: it holds only white space or invisible characters");
}

GenerationResult continue_generation(const Model& model, DecodingState& state, Sampler& sampler,
                                     const GenerationOptions& options, const TokenCallback& on_token, Workspace& ws,
                                     Clock::time_point started) {
    if (options.max_new_tokens < 0) throw Error("max new tokens must not be negative");
    if (!(options.length_ratio >= 0) || options.length_ratio > 1000)
        throw Error("the length ratio must be between 0 and 1000");
    if (options.stop_repeats < 0) throw Error("the number of repeats that stops generation must not be negative");
    check_generation_limits(model.config(), static_cast<int64_t>(state.prompt_ids.size()),
                            static_cast<int64_t>(state.output_ids.size()), options.max_new_tokens, options.use_cache);
    GenerationResult result;
    result.stats.cache = options.use_cache;
    ensure_encoded(model, state, ws, result.stats, options.stop);
    const int input_limit = input_length_limit(options, state.prompt_ids.size());

    const int start_id = static_cast<int>(model.config().decoder_start_token_id);
    const int eos_id = static_cast<int>(model.config().eos_token_id);
    const int64_t vocab = model.vocab_size();
    float* logits = ws.get(Workspace::Logits, static_cast<size_t>(vocab));

    // Decoder inputs so far: the start id, then every generated id.
    std::vector<int> inputs;
    inputs.reserve(state.output_ids.size() + static_cast<size_t>(options.max_new_tokens) + 1);
    inputs.push_back(start_id);
    inputs.insert(inputs.end(), state.output_ids.begin(), state.output_ids.end());

    StreamingDecoder stream(model.tokenizer());
    for (int id : state.output_ids) stream.push(id);  // text already shown stays shown

    // Logits for the position after `inputs`.
    std::vector<int> pending;
    auto next_logits = [&]() {
        if (options.use_cache) {
            if (state.cache.layer_count() == 0) state.cache = model.make_cache();
            if (!state.cache.has_cross()) model.start_decoding(state.encoder_out, state.cache, ws);
            const auto known = static_cast<int64_t>(inputs.size()) - 1;
            if (state.cache.length() > known) state.cache.truncate(known);
            pending.assign(inputs.begin() + state.cache.length(), inputs.end());
            model.decode(pending, state.cache, ws, logits, 1);
        } else {
            KVCache scratch = model.make_cache();
            model.start_decoding(state.encoder_out, scratch, ws);
            model.decode(inputs, scratch, ws, logits, 1);
        }
    };

    const auto decode_started = Clock::now();
    for (int produced = 0; produced < options.max_new_tokens; ++produced) {
        if (options.stop && options.stop->load(std::memory_order_relaxed)) {
            result.finish = FinishReason::Stopped;
            break;
        }
        const auto t0 = Clock::now();
        DecoderStepThreads threads;  // the automatic thread setting learns from each step's time
        next_logits();
        int id = 0;
        try {
            id = sampler.next(logits, vocab, inputs);
        } catch (const Error& e) {
            // Logits with no number in them come from the weights: name the model they were read from.
            throw Error(model.dir().string() + ": " + e.what() + " (the weights hold NaN or infinite values, or "
                        "overflow; check the model's load warnings)");
        }
        inputs.push_back(id);
        state.output_ids.push_back(id);
        result.output_ids.push_back(id);
        const double step_ms = ms_since(t0);
        threads.finished(step_ms);
        result.stats.per_token_ms.push_back(step_ms);
        if (result.stats.tokens++ == 0) result.stats.first_token_ms = ms_since(started);
        const bool eos = id == eos_id && !options.ignore_eos;
        std::string text = stream.push(id);
        // After eos, bytes held back for an incomplete character go out as the tokenizer decodes them; a call cut
        // by a limit leaves them out (result.text too), so the answer never ends in U+FFFD.
        if (eos) text += stream.flush();
        TokenEvent event{id, static_cast<int>(state.output_ids.size()) - 1, std::move(text), step_ms};
        const bool keep_going = on_token ? on_token(event) : true;
        if (eos) {
            result.finish = FinishReason::Eos;
            break;
        }
        if (!keep_going) {
            result.finish = FinishReason::Stopped;
            break;
        }
        if (input_limit >= 0 && result.stats.tokens >= input_limit && produced + 1 < options.max_new_tokens) {
            result.finish = FinishReason::InputLength;
            break;
        }
        if (repeated_ngram(result.output_ids, options.stop_repeats) > 0) {
            result.finish = FinishReason::Repetition;
            break;
        }
    }
    result.stats.decode_ms = ms_since(decode_started);
    if (result.stats.tokens > 0 && result.stats.decode_ms > 0)
        result.stats.tokens_per_s = result.stats.tokens * 1000.0 / result.stats.decode_ms;
    result.prompt_ids = state.prompt_ids;
    result.text = model.tokenizer().decode_complete(result.output_ids);
    return result;
}

GenerationResult generate(const Model& model, const std::string& prompt, const GenerationOptions& options,
                          const TokenCallback& on_token) {
    const auto started = Clock::now();
    Workspace ws;
    DecodingState state;
    check_prompt_text(prompt);
    state.prompt_ids = model.prompt_ids(prompt);
    Sampler sampler(options.sampling);
    return continue_generation(model, state, sampler, options, on_token, ws, started);
}

}  // namespace umt5
