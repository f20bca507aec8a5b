#include "core/chat/conversation.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "core/formats/checkpoint.h"
#include "core/formats/input_file.h"
#include "core/chat/generation_json.h"
#include "core/chat/limits.h"

namespace umt5 {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// nlohmann's message without its "[json.exception.<kind>.<id>] " prefix, e.g. "number overflow parsing '1e999'".
std::string json_reason(const std::exception& e) {
    std::string text = e.what();
    const size_t end = text.find("] ");
    if (text.rfind("[json.exception.", 0) == 0 && end != std::string::npos) text.erase(0, end + 2);
    return text;
}

constexpr const char* kFormatName = "umt5-session";

int64_t unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string random_id() {
    std::random_device device;
    std::mt19937_64 rng((static_cast<uint64_t>(device()) << 32) ^ device() ^
                        static_cast<uint64_t>(unix_ms_now()));
    static const char* hex = "0123456789abcdef";
    std::string id;
    for (int i = 0; i < 16; ++i) id += hex[rng() & 15];
    return id;
}

// A field of a damaged file, reported where the file's name is known.
struct Damage : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// nlohmann converts a float to an integer with a plain cast (undefined behaviour when out of range) and an
// integer to a narrower one modulo 2^N, so integer fields accept only integer numbers in the type's range.
template <typename T> T checked_int(const json& v, const std::string& what) {
    if (v.is_number_unsigned()) {
        if (v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max())) return static_cast<T>(v.get<uint64_t>());
    } else if (v.is_number_integer()) {
        const int64_t n = v.get<int64_t>();
        if constexpr (std::is_signed_v<T>) {
            if (n >= int64_t{std::numeric_limits<T>::min()} && n <= int64_t{std::numeric_limits<T>::max()})
                return static_cast<T>(n);
        } else if (n >= 0 && static_cast<uint64_t>(n) <= std::numeric_limits<T>::max()) {
            return static_cast<T>(n);
        }
    } else {
        throw Damage("\"" + what + "\" is not an integer");
    }
    throw Damage("\"" + what + "\" is out of range");
}

template <typename T> T int_field(const json& j, const char* key) { return checked_int<T>(j.at(key), key); }

std::vector<int> ids_field(const json& j, const char* key) {
    const json& v = j.at(key);
    if (!v.is_array()) throw Damage("\"" + std::string(key) + "\" is not an array");
    std::vector<int> ids;
    ids.reserve(v.size());
    for (const json& id : v) ids.push_back(checked_int<int>(id, key));
    return ids;
}

float float_field(const json& j, const char* key) {
    const json& v = j.at(key);
    if (!v.is_number()) throw Damage("\"" + std::string(key) + "\" is not a number");
    const double d = v.get<double>();
    if (!(std::fabs(d) <= std::numeric_limits<float>::max())) throw Damage("\"" + std::string(key) + "\" is out of range");
    return static_cast<float>(d);
}

GenerationOptions options_from_json(const json& j) {
    GenerationOptions o;
    o.max_new_tokens = int_field<int>(j, "max_new_tokens");
    o.use_cache = j.at("use_cache").get<bool>();
    o.ignore_eos = j.at("ignore_eos").get<bool>();
    o.sampling.temperature = float_field(j, "temperature");
    o.sampling.top_k = int_field<int>(j, "top_k");
    o.sampling.top_p = float_field(j, "top_p");
    o.sampling.repetition_penalty = float_field(j, "repetition_penalty");
    o.sampling.seed = int_field<uint64_t>(j, "seed");
    return o;
}

GenerationStats stats_from_json(const json& j) {
    GenerationStats s;
    s.encode_ms = j.at("encode_ms").get<double>();
    s.first_token_ms = j.at("first_token_ms").get<double>();
    s.decode_ms = j.at("decode_ms").get<double>();
    s.tokens = int_field<int>(j, "tokens");
    s.tokens_per_s = j.at("tokens_per_s").get<double>();
    s.cache = j.at("cache").get<bool>();
    s.encoder_reused = j.at("encoder_reused").get<bool>();
    if (j.contains("per_token_ms")) {
        const json& times = j.at("per_token_ms");
        if (!times.is_array()) throw Damage("\"per_token_ms\" is not an array");
        for (const json& ms : times) {
            if (!ms.is_number()) throw Damage("\"per_token_ms\" holds a value that is not a number");
            s.per_token_ms.push_back(ms.get<double>());
        }
    }
    return s;
}

FinishReason finish_from_name(const std::string& name, const std::string& origin) {
    if (const auto reason = finish_reason_from_name(name)) return *reason;
    throw Error(origin + ": damaged conversation (unknown finish reason \"" + name + "\")");
}

std::string tensor_key(int64_t layer, const char* part) {
    return "decoder." + std::to_string(layer) + "." + part;
}

// CRC-32 (zlib's, as Python's zlib.crc32) continued over `size` bytes.
uint32_t crc32_update(uint32_t crc, const void* data, size_t size) {
    return static_cast<uint32_t>(::crc32_z(crc, static_cast<const Bytef*>(data), size));
}

std::string hex32(uint32_t value) {
    char text[9];
    std::snprintf(text, sizeof text, "%08x", value);
    return text;
}

// The checksum of a session (docs/session-format.md): CRC-32 of the tensor data section, then of the
// "conversation" and "cache" metadata values.
uint32_t metadata_checksum(uint32_t crc, const std::string& conversation, const std::string* cache) {
    crc = crc32_update(crc, conversation.data(), conversation.size());
    if (cache) crc = crc32_update(crc, cache->data(), cache->size());
    return crc;
}

// CRC-32 of everything after the safetensors header of `file` (the tensor data), read a megabyte at a time.
uint32_t data_checksum(const InputFile& file) {
    unsigned char prefix[8];
    file.read_at(0, prefix, 8, file.label() + ": safetensors header length");
    uint64_t header = 0;
    for (int i = 7; i >= 0; --i) header = (header << 8) | prefix[i];
    if (header > file.size() - 8) throw Error("the file is shorter than its header");
    uint32_t crc = crc32_update(0, nullptr, 0);
    std::vector<char> chunk(1u << 20);
    for (uint64_t at = 8 + header; at < file.size();) {
        const auto n = static_cast<size_t>(std::min<uint64_t>(chunk.size(), file.size() - at));
        file.read_at(at, chunk.data(), n, file.label() + ": tensor data");
        crc = crc32_update(crc, chunk.data(), n);
        at += n;
    }
    return crc;
}

}  // namespace

Conversation::Conversation() : id_(random_id()), created_ms_(unix_ms_now()) {}

void Conversation::touch() { last_used_ = Clock::now(); }

std::string Conversation::context_text(const Model& model, const std::string& prompt, int max_encoder_tokens) const {
    if (!carry_context_ || turns_.empty()) return prompt;
    // Earlier turns as "<prompt>\n<answer>\n" lines, oldest first, dropping the oldest until the text fits.
    for (size_t first = 0; first < turns_.size(); ++first) {
        std::string text;
        for (size_t i = first; i < turns_.size(); ++i) text += turns_[i].prompt + "\n" + turns_[i].answer + "\n";
        text += prompt;
        if (static_cast<int>(model.tokenizer().encode(text).size()) + 1 <= max_encoder_tokens) return text;
    }
    return prompt;
}

GenerationResult Conversation::run(const Model& model, const GenerationOptions& options, const TokenCallback& on_token,
                                   Clock::time_point started) {
    Workspace ws;
    Sampler sampler(options.sampling);
    if (!rng_state_.empty()) sampler.set_rng_state(rng_state_);
    GenerationResult result = continue_generation(model, state_, sampler, options, on_token, ws, started);
    rng_state_ = sampler.rng_state();
    cache_model_ = model.identity();
    std::error_code absolute_error;
    const std::filesystem::path dir = std::filesystem::absolute(model.dir(), absolute_error);
    model_path_ = (absolute_error ? model.dir() : dir).string();
    Turn& turn = turns_.back();
    turn.model_name = model.name();
    turn.model_precision = precision_name(model.precision());
    touch();
    return result;
}

void Conversation::prepare_state(const Model& model) {
    if (turns_.empty()) throw Error("the conversation has no turns");
    const Turn& last = turns_.back();
    // A cache built by another model is useless: rebuild from the transcript.
    if (!state_.encoder_out.empty() && cache_model_ != model.identity()) release_cache();
    if (state_.encoder_out.empty()) {
        state_.prompt_ids = model.prompt_ids(last.encoder_text);
        state_.output_ids = last.output_ids;
    }
}

GenerationResult Conversation::submit(const Model& model, const std::string& prompt, const GenerationOptions& options,
                                      const TokenCallback& on_token) {
    const auto started = Clock::now();
    check_prompt_text(prompt);
    Turn turn;
    turn.prompt = prompt;
    turn.encoder_text = context_text(model, prompt);
    turn.prompt_ids = model.prompt_ids(turn.encoder_text);
    // Before the turn is added, so that a refused request leaves the conversation as it was.
    check_generation_limits(model.config(), static_cast<int64_t>(turn.prompt_ids.size()), 0, options.max_new_tokens,
                            options.use_cache);
    turn.options = options;
    turn.options.stop = nullptr;
    turn.created_ms = unix_ms_now();

    state_ = DecodingState{};
    state_.prompt_ids = turn.prompt_ids;
    rng_state_.clear();
    if (title_.empty()) title_ = utf8_prefix(prompt, 60);
    turns_.push_back(std::move(turn));
    GenerationResult result;
    try {
        result = run(model, options, on_token, started);
    } catch (const Cancelled&) {
        // Stopped during the encoder: keep the turn, with no answer yet.
        turns_.back().finish = FinishReason::Stopped;
        throw;
    }
    Turn& t = turns_.back();
    t.output_ids = result.output_ids;
    t.answer = result.text;
    t.stats = result.stats;
    t.finish = result.finish;
    return result;
}

GenerationResult Conversation::continue_answer(const Model& model, const GenerationOptions& options,
                                               const TokenCallback& on_token) {
    const auto started = Clock::now();
    prepare_state(model);
    Turn& t = turns_.back();
    // Ids from another model's vocabulary would reach the decoder as "token id N is outside the vocabulary".
    for (int id : t.output_ids)
        if (id < 0 || id >= model.vocab_size())
            throw Error("the latest answer was generated by another model: its token id " + std::to_string(id) +
                        " is outside the vocabulary of " + std::to_string(model.vocab_size()) + " of \"" +
                        model.name() + "\"; continue it with the model that wrote it, or regenerate it");
    const int eos = static_cast<int>(model.config().eos_token_id);
    if (!t.output_ids.empty() && t.output_ids.back() == eos) {
        t.output_ids.pop_back();
        state_.output_ids = t.output_ids;
    }
    GenerationResult result = run(model, options, on_token, started);
    t.output_ids = state_.output_ids;
    t.answer = model.tokenizer().decode_complete(t.output_ids);
    t.options = options;
    t.options.stop = nullptr;
    t.stats = result.stats;
    t.finish = result.finish;
    result.output_ids = t.output_ids;
    result.text = t.answer;
    return result;
}

void Conversation::truncate(int tokens) {
    if (turns_.empty()) throw Error("the conversation has no turns");
    Turn& t = turns_.back();
    if (tokens < 0 || tokens > static_cast<int>(t.output_ids.size()))
        throw Error("cannot truncate an answer of " + std::to_string(t.output_ids.size()) + " tokens to " +
                    std::to_string(tokens));
    t.output_ids.resize(static_cast<size_t>(tokens));
    if (!state_.encoder_out.empty()) {
        state_.output_ids = t.output_ids;
        // The cache holds the start id and every output but the last: `tokens` positions.
        state_.cache.truncate(tokens);
    }
    t.finish = FinishReason::Stopped;
    rng_state_.clear();
}

GenerationResult Conversation::regenerate(const Model& model, const GenerationOptions& options,
                                          const TokenCallback& on_token) {
    const auto started = Clock::now();
    prepare_state(model);
    Turn& t = turns_.back();
    t.earlier_answers.push_back({t.output_ids, t.answer, t.options, t.stats, t.finish, t.model_name, t.model_precision});
    t.output_ids.clear();
    state_.output_ids.clear();
    state_.cache.truncate(0);
    rng_state_.clear();
    GenerationResult result = run(model, options, on_token, started);
    t.output_ids = result.output_ids;
    t.answer = result.text;
    t.options = options;
    t.options.stop = nullptr;
    t.stats = result.stats;
    t.finish = result.finish;
    return result;
}

void Conversation::remove_last_turn() {
    if (turns_.empty()) return;
    turns_.pop_back();
    release_cache();
}

bool Conversation::has_cache() const { return !state_.encoder_out.empty(); }

size_t Conversation::cache_bytes() const { return state_.encoder_out.nbytes() + state_.cache.bytes(); }

void Conversation::release_cache() {
    state_ = DecodingState{};
    cache_model_.clear();
}

std::string Conversation::to_json() const {
    json turns = json::array();
    for (const Turn& t : turns_) {
        json turn{{"prompt", t.prompt},
                  {"encoder_text", t.encoder_text},
                  {"prompt_ids", t.prompt_ids},
                  {"output_ids", t.output_ids},
                  {"answer", t.answer},
                  {"finish", finish_reason_name(t.finish)},
                  {"created_ms", t.created_ms},
                  {"settings", json(settings_json(t.options))},
                  {"stats", json(stats_json(t.stats))}};
        // Kept so the app can plot the latest call's per-token times after a restart too.
        turn["stats"]["per_token_ms"] = t.stats.per_token_ms;
        if (!t.model_name.empty()) turn["model"] = {{"name", t.model_name}, {"precision", t.model_precision}};
        if (!t.earlier_answers.empty()) {
            json earlier = json::array();
            for (const AnswerVersion& a : t.earlier_answers) {
                json version{{"output_ids", a.output_ids},
                             {"answer", a.answer},
                             {"finish", finish_reason_name(a.finish)},
                             {"settings", json(settings_json(a.options))},
                             {"stats", json(stats_json(a.stats))}};
                if (!a.model_name.empty()) version["model"] = {{"name", a.model_name}, {"precision", a.model_precision}};
                earlier.push_back(std::move(version));
            }
            turn["earlier_answers"] = std::move(earlier);
        }
        turns.push_back(std::move(turn));
    }
    json out{{"format", kFormatName},
             {"version", kFormatVersion},
             {"id", id_},
             {"title", title_},
             {"carry_context", carry_context_},
             {"rng_state", rng_state_},
             {"created_ms", created_ms_},
             {"turns", turns}};
    if (!model_path_.empty()) out["model_path"] = model_path_;
    return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

Conversation Conversation::from_json(const std::string& text, const std::string& origin) {
    json j;
    try {
        j = json::parse(text);
    } catch (const json::parse_error& e) {
        throw Error(origin + ": the conversation is not valid JSON (byte " + std::to_string(e.byte) + ")");
    } catch (const json::exception& e) {  // a number too large for a double
        throw Error(origin + ": the conversation is not valid JSON (" + json_reason(e) + ")");
    }
    try {
        if (!j.is_object() || j.value("format", std::string()) != kFormatName)
            throw Error(origin + ": not a umT5 Studio conversation");
        const int version = int_field<int>(j, "version");
        if (version > kFormatVersion)
            throw Error(origin + ": conversation format version " + std::to_string(version) +
                        " is newer than this program supports (" + std::to_string(kFormatVersion) + ")");
        if (version < 1) throw Error(origin + ": invalid conversation format version " + std::to_string(version));
        Conversation c;
        c.id_ = j.at("id").get<std::string>();
        if (c.id_.empty() || c.id_.size() > 64 ||
            c.id_.find_first_not_of("0123456789abcdefghijklmnopqrstuvwxyz-_") != std::string::npos)
            throw Error(origin + ": invalid conversation id");
        c.title_ = j.at("title").get<std::string>();
        c.carry_context_ = j.at("carry_context").get<bool>();
        c.rng_state_ = j.value("rng_state", std::string());
        c.model_path_ = j.value("model_path", std::string());
        c.created_ms_ = j.contains("created_ms") ? int_field<int64_t>(j, "created_ms") : 0;
        // The label of an answer and of its earlier versions: {"name", "precision"}, absent in older files.
        auto read_model = [](const json& owner, std::string& name, std::string& precision) {
            if (!owner.contains("model")) return;
            const json& m = owner.at("model");
            name = m.at("name").get<std::string>();
            precision = m.value("precision", std::string());
        };
        for (const json& t : j.at("turns")) {
            Turn turn;
            turn.prompt = t.at("prompt").get<std::string>();
            turn.encoder_text = t.at("encoder_text").get<std::string>();
            turn.prompt_ids = ids_field(t, "prompt_ids");
            turn.output_ids = ids_field(t, "output_ids");
            turn.answer = t.at("answer").get<std::string>();
            turn.finish = finish_from_name(t.at("finish").get<std::string>(), origin);
            turn.created_ms = int_field<int64_t>(t, "created_ms");
            turn.options = options_from_json(t.at("settings"));
            turn.stats = stats_from_json(t.at("stats"));
            read_model(t, turn.model_name, turn.model_precision);
            if (t.contains("earlier_answers")) {
                for (const json& a : t.at("earlier_answers")) {
                    AnswerVersion version;
                    version.output_ids = ids_field(a, "output_ids");
                    version.answer = a.at("answer").get<std::string>();
                    version.finish = finish_from_name(a.at("finish").get<std::string>(), origin);
                    version.options = options_from_json(a.at("settings"));
                    version.stats = stats_from_json(a.at("stats"));
                    read_model(a, version.model_name, version.model_precision);
                    turn.earlier_answers.push_back(std::move(version));
                }
            }
            c.turns_.push_back(std::move(turn));
        }
        if (c.created_ms_ == 0 && !c.turns_.empty()) c.created_ms_ = c.turns_.front().created_ms;
        return c;
    } catch (const json::exception& e) {
        throw Error(origin + ": damaged conversation (" + json_reason(e) + ")");
    } catch (const Damage& e) {
        throw Error(origin + ": damaged conversation (" + std::string(e.what()) + ")");
    }
}

void Conversation::save(const std::filesystem::path& path, const Model* model, bool include_cache) const {
    std::map<std::string, Tensor> tensors;
    json cache_info;
    if (include_cache && model && has_cache() && cache_model_ == model->identity()) {
        const int64_t inner = model->config().inner_dim();
        tensors["encoder_out"] = state_.encoder_out;
        auto rows_tensor = [inner](std::vector<float> rows) {
            const auto n = static_cast<int64_t>(rows.size()) / inner;
            Tensor t({n, inner}, DType::F32);
            std::copy(rows.begin(), rows.end(), t.data<float>());
            return t;
        };
        for (int64_t l = 0; l < state_.cache.layer_count(); ++l) {
            const KVCache::Layer& layer = state_.cache.layer(l);
            tensors[tensor_key(l, "self.k")] = rows_tensor(layer.self_attention.export_keys());
            tensors[tensor_key(l, "self.v")] = rows_tensor(layer.self_attention.export_values());
            tensors[tensor_key(l, "cross.k")] = rows_tensor(layer.cross_attention.export_keys());
            tensors[tensor_key(l, "cross.v")] = rows_tensor(layer.cross_attention.export_values());
        }
        cache_info = {{"model_identity", cache_model_},
                      {"model_name", model->name()},
                      {"model_precision", precision_name(model->precision())},
                      {"model_config", model->config().canonical()},
                      {"layers", state_.cache.layer_count()},
                      {"prompt_ids", state_.prompt_ids},
                      {"output_ids", state_.output_ids}};
    }
    std::map<std::string, std::string> metadata{{"format", kFormatName},
                                                {"version", std::to_string(kFormatVersion)},
                                                {"conversation", to_json()}};
    if (!cache_info.is_null()) metadata["cache"] = cache_info.dump(-1, ' ', false, json::error_handler_t::replace);

    // The reader refuses a header over the session limit (input_size_limit(InputKind::session)), so a file with a
    // larger one could never be opened again: refuse to write it. The metadata values are JSON inside JSON,
    // escaped twice: a control character typed in a prompt takes 7 bytes ("\\u0001"), in the prompt and again in
    // its encoder text.
    const uint64_t limit = input_size_limit(InputKind::session);
    size_t header_bytes = json(metadata).dump(-1, ' ', false, json::error_handler_t::replace).size() + 64;
    for (const auto& [name, tensor] : tensors) header_bytes += name.size() + 96;  // {"dtype":...,"data_offsets":[..]}
    if (header_bytes > limit)
        throw Error(path.string() + ": cannot save the conversation: its header would be " +
                    std::to_string(header_bytes) + " bytes, over the " + size_in_words(limit) +
                    " a session file may hold (very long texts or many turns); remove turns or start a new "
                    "conversation");

    uint32_t crc = crc32_update(0, nullptr, 0);
    for (const auto& [name, tensor] : tensors)  // in name order, as write_safetensors lays them out
        if (tensor.nbytes()) crc = crc32_update(crc, tensor.raw(), tensor.nbytes());
    const auto cache = metadata.find("cache");
    metadata["checksum"] =
        hex32(metadata_checksum(crc, metadata["conversation"], cache == metadata.end() ? nullptr : &cache->second));
    write_safetensors(path, tensors, metadata);
}

namespace {

Conversation load_impl(const std::filesystem::path& path, const Model* model, std::string* warning, bool strict) {
    const std::string origin = path.string();
    // Refuses FIFOs and other special files before anything reads them.
    const InputFile file = open_input_file(path, InputKind::session);
    const std::map<std::string, std::string> metadata = read_safetensors_metadata(path);
    auto find = [&](const char* key) -> const std::string* {
        auto it = metadata.find(key);
        return it == metadata.end() ? nullptr : &it->second;
    };
    const std::string* format = find("format");
    const std::string* conversation_text = find("conversation");
    if (!format || *format != kFormatName || !conversation_text) throw Error(origin + ": not a umT5 Studio conversation");
    Conversation conversation = Conversation::from_json(*conversation_text, origin);

    const std::string* cache_text = find("cache");
    if (!cache_text || !model) return conversation;
    auto drop = [&](const std::string& why) {
        if (strict) throw Error(origin + ": " + why);
        if (warning) *warning = why + "; it will be rebuilt when needed";
    };
    json info;
    try {
        info = json::parse(*cache_text);
        const std::string identity = info.at("model_identity").get<std::string>();
        if (identity != model->identity()) {
            const std::string saved_name = info.value("model_name", std::string("?"));
            const std::string saved_precision = info.value("model_precision", std::string("fp32"));
            if (saved_name == model->name() && saved_precision != precision_name(model->precision()))
                drop("the saved cache was computed with " + saved_precision + " weights, not with the loaded " +
                     precision_name(model->precision()) + " weights of \"" + model->name() + "\"");
            else
                drop("the saved cache belongs to model \"" + saved_name + "\", not to the loaded model \"" +
                     model->name() + "\"");
            return conversation;
        }
        const Checkpoint tensors = Checkpoint::open_file(path, InputKind::session);
        const int64_t layers = int_field<int64_t>(info, "layers");
        if (layers != model->config().num_decoder_layers) throw Error("wrong number of cache layers");
        DecodingState state;
        state.prompt_ids = ids_field(info, "prompt_ids");
        state.output_ids = ids_field(info, "output_ids");
        if (conversation.turns().empty() || state.prompt_ids != conversation.turns().back().prompt_ids ||
            state.output_ids != conversation.turns().back().output_ids)
            throw Error("the cache does not match the last turn");
        const int64_t d_model = model->config().d_model;
        const int64_t inner = model->config().inner_dim();
        const auto prompt_rows = static_cast<int64_t>(state.prompt_ids.size());
        state.encoder_out = tensors.get_f32("encoder_out", {prompt_rows, d_model});
        state.cache = model->make_cache();
        for (int64_t l = 0; l < layers; ++l) {
            const Tensor self_k = tensors.get_f32(tensor_key(l, "self.k"));
            const Tensor self_v = tensors.get_f32(tensor_key(l, "self.v"), self_k.shape());
            const Tensor cross_k = tensors.get_f32(tensor_key(l, "cross.k"), {prompt_rows, inner});
            const Tensor cross_v = tensors.get_f32(tensor_key(l, "cross.v"), {prompt_rows, inner});
            if (self_k.rank() != 2 || self_k.dim(1) != inner ||
                self_k.dim(0) > static_cast<int64_t>(state.output_ids.size()) + 1)
                throw Error("tensor " + tensor_key(l, "self.k") + " has shape " + shape_string(self_k.shape()));
            KVCache::Layer& layer = state.cache.layer(l);
            layer.self_attention.append(self_k.data<float>(), self_v.data<float>(), self_k.dim(0));
            layer.cross_attention.append(cross_k.data<float>(), cross_v.data<float>(), prompt_rows);
        }
        // Last, so that a cut or malformed file keeps its more precise message. Files written before the checksum
        // existed have none and load as before.
        if (const std::string* checksum = find("checksum")) {
            const uint32_t actual = metadata_checksum(data_checksum(file), *conversation_text, cache_text);
            if (*checksum != hex32(actual))
                throw Error("its checksum does not match: the file was changed or damaged after it was saved");
        }
        conversation.restore_state(std::move(state), model->identity());
    } catch (const json::exception& e) {
        drop("the saved cache is damaged (" + json_reason(e) + ")");
    } catch (const Damage& e) {
        drop("the saved cache is damaged (" + std::string(e.what()) + ")");
    } catch (const Error& e) {
        if (strict && std::string(e.what()).rfind(origin, 0) == 0) throw;
        drop("the saved cache is unusable (" + std::string(e.what()) + ")");
    }
    return conversation;
}

}  // namespace

void Conversation::restore_state(DecodingState state, std::string model_identity) {
    state_ = std::move(state);
    cache_model_ = std::move(model_identity);
}

Conversation Conversation::load(const std::filesystem::path& path, const Model* model, std::string* warning) {
    return load_impl(path, model, warning, /*strict=*/false);
}

Conversation Conversation::load_strict(const std::filesystem::path& path, const Model& model) {
    return load_impl(path, &model, nullptr, /*strict=*/true);
}

Conversation& ConversationStore::create() { return conversations_.emplace_back(); }

Conversation& ConversationStore::add(Conversation conversation) {
    if (Conversation* existing = find(conversation.id())) {
        *existing = std::move(conversation);
        return *existing;
    }
    return conversations_.emplace_back(std::move(conversation));
}

Conversation* ConversationStore::find(const std::string& id) {
    for (Conversation& c : conversations_)
        if (c.id() == id) return &c;
    return nullptr;
}

bool ConversationStore::remove(const std::string& id) {
    for (auto it = conversations_.begin(); it != conversations_.end(); ++it)
        if (it->id() == id) {
            conversations_.erase(it);
            return true;
        }
    return false;
}

std::vector<Conversation*> ConversationStore::all() {
    std::vector<Conversation*> out;
    for (Conversation& c : conversations_) out.push_back(&c);
    return out;
}

void ConversationStore::set_budget(size_t bytes, const Conversation* keep) {
    budget_ = bytes;
    enforce_budget(keep);
}

size_t ConversationStore::cache_bytes() const {
    size_t total = 0;
    for (const Conversation& c : conversations_) total += c.cache_bytes();
    return total;
}

int ConversationStore::enforce_budget(const Conversation* keep) {
    int evicted = 0;
    while (cache_bytes() > budget_) {
        Conversation* victim = nullptr;
        for (Conversation& c : conversations_) {
            if (!c.has_cache() || &c == keep) continue;
            if (!victim || c.last_used() < victim->last_used()) victim = &c;
        }
        if (!victim && keep && keep->has_cache()) victim = find(keep->id());
        if (!victim) break;
        victim->release_cache();
        ++evicted;
    }
    return evicted;
}

}  // namespace umt5
