#include "core/formats/config.h"

#include <sstream>

#include <nlohmann/json.hpp>

#include "core/formats/error.h"
#include "core/formats/input_file.h"

namespace umt5 {

namespace {

using nlohmann::json;

// nlohmann's message without its "[json.exception.<kind>.<id>] " prefix, e.g. "number overflow parsing '1e999'".
std::string json_reason(const std::exception& e) {
    std::string text = e.what();
    const size_t end = text.find("] ");
    if (text.rfind("[json.exception.", 0) == 0 && end != std::string::npos) text.erase(0, end + 2);
    return text;
}

int64_t read_int(const json& j, const char* key, int64_t fallback, const std::string& origin) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_number_integer() && !it->is_number_unsigned())
        throw Error(origin + ": field \"" + key + "\" must be an integer");
    if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
        throw Error(origin + ": field \"" + key + "\" is out of range");
    return it->get<int64_t>();
}

double read_double(const json& j, const char* key, double fallback, const std::string& origin) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_number()) throw Error(origin + ": field \"" + key + "\" must be a number");
    return it->get<double>();
}

bool read_bool(const json& j, const char* key, bool fallback, const std::string& origin) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) throw Error(origin + ": field \"" + key + "\" must be true or false");
    return it->get<bool>();
}

std::string read_string(const json& j, const char* key, const std::string& fallback, const std::string& origin) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_string()) throw Error(origin + ": field \"" + key + "\" must be a string");
    return it->get<std::string>();
}

}  // namespace

ModelConfig ModelConfig::from_file(const std::filesystem::path& path) {
    const std::string text = read_input_file(path, InputKind::config);
    ModelConfig config = from_json(text, path.string());
    // A model's file always states its dimensions (transformers writes every field); T5's defaults for them
    // would only turn a missing key into a puzzling tensor shape mismatch later.
    const json j = json::parse(text);
    std::string missing;
    int count = 0;
    for (const char* key : {"vocab_size", "d_model", "d_kv", "d_ff", "num_heads", "num_layers"}) {
        if (j.contains(key)) continue;
        missing += std::string(count++ ? ", " : "") + "\"" + key + "\"";
    }
    if (count == 1) throw Error(path.string() + ": required field " + missing + " is missing");
    if (count > 1) throw Error(path.string() + ": required fields " + missing + " are missing");
    return config;
}

ModelConfig ModelConfig::from_json(const std::string& text, const std::string& origin) {
    json j;
    try {
        j = json::parse(text);
    } catch (const json::parse_error& e) {
        throw Error(origin + ": not valid JSON (byte " + std::to_string(e.byte) + ")");
    } catch (const json::exception& e) {  // a number too large for a double
        throw Error(origin + ": not valid JSON (" + json_reason(e) + ")");
    }
    if (!j.is_object()) throw Error(origin + ": expected a JSON object");
    const std::string model_type = read_string(j, "model_type", "umt5", origin);
    if (model_type != "umt5" && model_type != "t5" && model_type != "mt5")
        throw Error(origin + ": model_type \"" + model_type + "\" is not a T5-family model");

    ModelConfig c;
    c.vocab_size = read_int(j, "vocab_size", c.vocab_size, origin);
    c.d_model = read_int(j, "d_model", c.d_model, origin);
    c.d_kv = read_int(j, "d_kv", c.d_kv, origin);
    c.d_ff = read_int(j, "d_ff", c.d_ff, origin);
    c.num_heads = read_int(j, "num_heads", c.num_heads, origin);
    c.num_layers = read_int(j, "num_layers", c.num_layers, origin);
    c.num_decoder_layers = read_int(j, "num_decoder_layers", c.num_layers, origin);
    c.relative_attention_num_buckets = read_int(j, "relative_attention_num_buckets", c.relative_attention_num_buckets, origin);
    c.relative_attention_max_distance = read_int(j, "relative_attention_max_distance", c.relative_attention_max_distance, origin);
    c.layer_norm_epsilon = read_double(j, "layer_norm_epsilon", c.layer_norm_epsilon, origin);
    c.tie_word_embeddings = read_bool(j, "tie_word_embeddings", c.tie_word_embeddings, origin);
    c.pad_token_id = read_int(j, "pad_token_id", c.pad_token_id, origin);
    c.eos_token_id = read_int(j, "eos_token_id", c.eos_token_id, origin);
    c.decoder_start_token_id = read_int(j, "decoder_start_token_id", c.pad_token_id, origin);

    // T5Config: "gated-gelu" means gated with gelu_new; otherwise "[gated-]ACT".
    const std::string proj = read_string(j, "feed_forward_proj", "relu", origin);
    std::string act = proj;
    c.is_gated_act = false;
    if (proj.rfind("gated-", 0) == 0) {
        c.is_gated_act = true;
        act = proj.substr(6);
    }
    if (proj == "gated-gelu") act = "gelu_new";
    if (act != "gelu_new" && act != "gelu" && act != "relu" && act != "gelu_pytorch_tanh")
        throw Error(origin + ": feed_forward_proj \"" + proj + "\" is not supported");
    if (act == "gelu_pytorch_tanh") act = "gelu_new";
    c.dense_act_fn = act;
    c.validate(origin);
    return c;
}

void ModelConfig::validate(const std::string& origin) const {
    auto require = [&](bool ok, const std::string& what) {
        if (!ok) throw Error(origin + ": " + what);
    };
    auto in_range = [&](int64_t v, int64_t lo, int64_t hi, const char* name) {
        require(v >= lo && v <= hi, std::string(name) + " = " + std::to_string(v) + " is outside [" +
                                        std::to_string(lo) + ", " + std::to_string(hi) + "]");
    };
    in_range(vocab_size, 2, 4'000'000, "vocab_size");
    in_range(d_model, 1, 65'536, "d_model");
    in_range(d_kv, 1, 4'096, "d_kv");
    in_range(d_ff, 1, 262'144, "d_ff");
    in_range(num_heads, 1, 1'024, "num_heads");
    in_range(num_layers, 1, 256, "num_layers");
    in_range(num_decoder_layers, 1, 256, "num_decoder_layers");
    in_range(inner_dim(), 1, 65'536, "num_heads * d_kv");
    in_range(relative_attention_num_buckets, 2, 4'096, "relative_attention_num_buckets");
    in_range(relative_attention_max_distance, 2, 1'000'000, "relative_attention_max_distance");
    // The log-spaced buckets need max_distance above the exact range (num_buckets / 4 when bidirectional).
    require(relative_attention_max_distance > relative_attention_num_buckets / 4,
            "relative_attention_max_distance must exceed relative_attention_num_buckets / 4");
    require(layer_norm_epsilon > 0 && layer_norm_epsilon < 1, "layer_norm_epsilon must be in (0, 1)");
    in_range(pad_token_id, 0, vocab_size - 1, "pad_token_id");
    in_range(eos_token_id, 0, vocab_size - 1, "eos_token_id");
    in_range(decoder_start_token_id, 0, vocab_size - 1, "decoder_start_token_id");
}

std::string ModelConfig::canonical() const {
    std::ostringstream out;
    out << "vocab=" << vocab_size << ";d_model=" << d_model << ";d_kv=" << d_kv << ";d_ff=" << d_ff
        << ";heads=" << num_heads << ";enc=" << num_layers << ";dec=" << num_decoder_layers
        << ";buckets=" << relative_attention_num_buckets << ";max_distance=" << relative_attention_max_distance
        << ";eps=" << layer_norm_epsilon << ";gated=" << is_gated_act << ";act=" << dense_act_fn
        << ";tied=" << tie_word_embeddings << ";pad=" << pad_token_id << ";eos=" << eos_token_id
        << ";start=" << decoder_start_token_id;
    return out.str();
}

}  // namespace umt5
