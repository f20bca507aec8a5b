#include "core/engine/model.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <tuple>

#include "core/engine/build_paths.h"
#include "core/engine/precision_support.h"
#include "core/formats/checkpoint.h"
#include "core/engine/runtime.h"

namespace umt5 {

namespace {

// FNV-1a, 64 bit.
class Fingerprint {
public:
    void add(const void* data, size_t size) {
        const auto* bytes = static_cast<const unsigned char*>(data);
        for (size_t i = 0; i < size; ++i) {
            hash_ ^= bytes[i];
            hash_ *= 1099511628211ull;
        }
    }
    void add(const std::string& text) { add(text.data(), text.size()); }
    std::string hex() const {
        char buffer[17];
        std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(hash_));
        return buffer;
    }

private:
    uint64_t hash_ = 1469598103934665603ull;
};

// Reads every tensor the architecture needs, checking each shape against the configuration, and keeps a
// fingerprint of names, shapes and a sample of the values.
class WeightReader {
public:
    WeightReader(const Checkpoint& checkpoint, const ModelConfig& config, const LoadOptions& options, size_t total)
        : checkpoint_(checkpoint), options_(options), total_(total) {
        fingerprint_.add(config.canonical());
    }

    // The tensor converted to F32, in owned memory.
    Tensor read(const std::string& name, const Shape& shape) {
        if (options_.stop && options_.stop->load(std::memory_order_relaxed)) throw Cancelled();
        Tensor t = checkpoint_.get_f32(name, shape);
        Check check(*this, name, t.numel());
        check.add(t.data<float>(), 0, t.numel());
        check.finish();
        return t;
    }

    // The tensor in the file's dtype, memory-mapped when it can be (Checkpoint::get_mapped), for tables of which
    // only a few rows are read. Its values are checked through reads of a few megabytes at a time: going through
    // the mapping would make every page of it resident.
    Tensor map(const std::string& name, const Shape& shape) {
        if (options_.stop && options_.stop->load(std::memory_order_relaxed)) throw Cancelled();
        Tensor t = checkpoint_.get_mapped(name, shape);
        Check check(*this, name, t.numel());
        checkpoint_.read_f32_chunks(name, [&](const float* values, int64_t first, int64_t count) {
            check.add(values, first, count);
        });
        check.finish();
        return t;
    }

    AttentionWeights attention(const std::string& prefix, const ModelConfig& c, bool with_bias) {
        AttentionWeights w;
        w.q = read(prefix + ".q.weight", {c.inner_dim(), c.d_model});
        w.k = read(prefix + ".k.weight", {c.inner_dim(), c.d_model});
        w.v = read(prefix + ".v.weight", {c.inner_dim(), c.d_model});
        w.o = read(prefix + ".o.weight", {c.d_model, c.inner_dim()});
        if (with_bias)
            w.relative_attention_bias =
                read(prefix + ".relative_attention_bias.weight", {c.relative_attention_num_buckets, c.num_heads});
        return w;
    }

    FeedForwardWeights feed_forward(const std::string& prefix, const ModelConfig& c) {
        FeedForwardWeights w;
        if (c.is_gated_act) {
            w.wi_0 = read(prefix + ".wi_0.weight", {c.d_ff, c.d_model});
            w.wi_1 = read(prefix + ".wi_1.weight", {c.d_ff, c.d_model});
        } else {
            w.wi_0 = read(prefix + ".wi.weight", {c.d_ff, c.d_model});
        }
        w.wo = read(prefix + ".wo.weight", {c.d_model, c.d_ff});
        return w;
    }

    std::string identity() const { return fingerprint_.hex(); }
    const std::vector<std::string>& warnings() const { return warnings_; }
    int64_t parameters() const { return parameters_; }

private:
    // The checks of one tensor, fed its F32 values in order: the fingerprint takes its name, shape and about 257
    // sampled values, non-finite values become a warning, and the tensor counts towards the progress.
    class Check {
    public:
        Check(WeightReader& reader, const std::string& name, int64_t numel)
            : reader_(reader), name_(name), numel_(numel), step_(std::max<int64_t>(1, numel / 257)) {
            reader_.fingerprint_.add(name);
            reader_.fingerprint_.add(shape_string(reader_.checkpoint_.info(name).shape));
        }
        // values[0, count) are the elements [first, first + count).
        void add(const float* values, int64_t first, int64_t count) {
            for (int64_t i = (first + step_ - 1) / step_ * step_; i < first + count; i += step_)
                reader_.fingerprint_.add(&values[i - first], sizeof(float));
            for (int64_t i = 0; i < count; ++i) non_finite_ += !std::isfinite(values[i]);
        }
        void finish() {
            if (non_finite_) {
                if (reader_.warnings_.empty())
                    std::fprintf(stderr, "umt5: warning: tensor %s contains NaN or infinite values\n", name_.c_str());
                reader_.warnings_.push_back(reader_.checkpoint_.info(name_).file + ": tensor " + name_ + " has " +
                                            std::to_string(non_finite_) + " NaN or infinite values (of " +
                                            std::to_string(numel_) + ")");
            }
            reader_.parameters_ += numel_;
            ++reader_.loaded_;
            if (reader_.options_.progress)
                reader_.options_.progress(static_cast<double>(reader_.loaded_) / static_cast<double>(reader_.total_));
        }

    private:
        WeightReader& reader_;   // whose fingerprint, warnings and counts are updated
        const std::string& name_;  // checkpoint key of the tensor
        int64_t numel_;          // its element count
        int64_t step_;           // distance between sampled values
        int64_t non_finite_ = 0;  // NaN and infinite values seen so far
    };

    const Checkpoint& checkpoint_;
    const LoadOptions& options_;
    size_t total_;
    size_t loaded_ = 0;
    int64_t parameters_ = 0;
    std::vector<std::string> warnings_;
    Fingerprint fingerprint_;
};

size_t available_memory_bytes() {
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    size_t kib = 0;
    std::string unit;
    while (meminfo >> key >> kib >> unit)
        if (key == "MemAvailable:") return kib * 1024;
    return 0;
}

// Builds the layers named `layer`, so that a layer the CPU has no kernel for is reported with its name:
// "DIR: decoder.block.3: bf16 needs a CPU with ... (bf16 linear layer [512, 1024])".
template <typename Build>
void build_layer(const std::filesystem::path& dir, const std::string& layer, Build&& build) {
    try {
        build();
    } catch (const UnsupportedPrecision& e) {
        throw Error(dir.string() + ": " + layer + ": " + e.what());
    }
}

}  // namespace

std::filesystem::path Model::default_model_dir() {
    if (const char* env = std::getenv("UMT5_DEMO_MODEL"); env && *env) return env;
    // Installed layout: <prefix>/bin/umt5 and <prefix>/share/umt5-studio/models/demo-umt5.
    std::error_code ec;
    const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const auto installed = exe.parent_path().parent_path() / "share/umt5-studio/models/demo-umt5";
        if (std::filesystem::exists(installed / "config.json")) return installed;
    }
    if (std::filesystem::exists(std::filesystem::path(UMT5_INSTALL_MODEL_DIR) / "config.json"))
        return UMT5_INSTALL_MODEL_DIR;
    return UMT5_SOURCE_MODEL_DIR;
}

std::shared_ptr<const Model> Model::load(const std::filesystem::path& dir, const LoadOptions& options) {
    std::error_code not_a_directory;
    if (!std::filesystem::is_directory(dir, not_a_directory)) throw Error(dir.string() + ": not a model directory");
    if (options.threads >= 0) set_num_threads(options.threads);
    // Before reading any weight: a precision this CPU cannot run is refused in one line that says why.
    if (const PrecisionSupport& support = precision_support(options.precision); !support.runs)
        throw Error("cannot load " + dir.string() + " in " + precision_name(options.precision) + ": " +
                    support.reason);
    std::shared_ptr<Model> model(new Model());
    model->dir_ = dir;
    model->config_ = ModelConfig::from_file(dir / "config.json");
    const ModelConfig& c = model->config_;
    model->tokenizer_ = Tokenizer::load(dir / "spiece.model");
    if (model->tokenizer_.piece_count() > c.vocab_size)
        throw Error((dir / "spiece.model").string() + ": the tokenizer has " +
                    std::to_string(model->tokenizer_.piece_count()) + " pieces but config.json's vocab_size is " +
                    std::to_string(c.vocab_size));

    const Checkpoint checkpoint = Checkpoint::open(dir);
    const bool has_lm_head = checkpoint.contains("lm_head.weight");
    const std::string config_file = (dir / "config.json").string();
    if (!c.tie_word_embeddings && !has_lm_head)
        throw Error(config_file + ": \"tie_word_embeddings\" is false, but " + checkpoint.files().front().string() +
                    " has no lm_head.weight (an untied model needs its own output projection)");
    const bool tied = c.tie_word_embeddings;
    // Blocks past the configured count would be ignored, giving a different model than the weights describe.
    for (const auto& [stack, key, layers] : {std::tuple{"encoder", "num_layers", c.num_layers},
                                             std::tuple{"decoder", "num_decoder_layers", c.num_decoder_layers}}) {
        const std::string prefix = std::string(stack) + ".block.";
        int64_t blocks = 0;
        std::string example;
        for (const std::string& name : checkpoint.names()) {
            if (name.rfind(prefix, 0) != 0) continue;
            const size_t end = name.find('.', prefix.size());
            const std::string number = name.substr(prefix.size(), end - prefix.size());
            if (number.empty() || number.size() > 6 || number.find_first_not_of("0123456789") != std::string::npos)
                continue;
            const int64_t block = std::stoll(number) + 1;
            if (block > blocks) {
                blocks = block;
                example = name;
            }
        }
        if (blocks > layers)
            throw Error(config_file + ": \"" + key + "\" is " + std::to_string(layers) + ", but the weights have " +
                        std::to_string(blocks) + " " + stack + " blocks (" + example + " in " +
                        checkpoint.info(example).file + ")");
    }

    // Refuse before allocating when the F32 weights cannot fit in memory.
    const size_t per_layer_attention = 4 * static_cast<size_t>(c.inner_dim() * c.d_model);
    const size_t per_layer_ff = static_cast<size_t>((c.is_gated_act ? 3 : 2) * c.d_ff * c.d_model);
    const size_t floats = static_cast<size_t>(c.vocab_size * c.d_model) * (tied ? 1 : 2) +
                          static_cast<size_t>(c.num_layers) * (per_layer_attention + per_layer_ff) +
                          static_cast<size_t>(c.num_decoder_layers) * (2 * per_layer_attention + per_layer_ff);
    model->weight_bytes_ = floats * sizeof(float);
    const size_t available = available_memory_bytes();
    if (available && model->weight_bytes_ > available)
        throw Error(dir.string() + ": the model needs " + std::to_string(model->weight_bytes_ >> 20) +
                    " MiB for its weights but only " + std::to_string(available >> 20) + " MiB are available");

    const size_t tensor_count = 2 + (tied ? 0 : 1) + c.num_layers * (7 + (c.is_gated_act ? 3 : 2)) +
                                c.num_decoder_layers * (11 + (c.is_gated_act ? 3 : 2));
    WeightReader reader(checkpoint, c, options, tensor_count);
    // The embedding table is only looked up row by row: mapped in the file's dtype, only the rows used become
    // resident (umt5-small's F32 table is 525 MB).
    Tensor shared = reader.map("shared.weight", {c.vocab_size, c.d_model});

    // Each block is built as soon as its weights are read: packing releases their F32 copies, so peak memory stays
    // near the packed size plus one block (and the output projection), not all F32 weights.
    std::vector<EncoderBlock> encoder_blocks;
    encoder_blocks.reserve(static_cast<size_t>(c.num_layers));
    for (int64_t i = 0; i < c.num_layers; ++i) {
        const std::string p = "encoder.block." + std::to_string(i) + ".layer.";
        EncoderBlockWeights b;
        b.self_attention = reader.attention(p + "0.SelfAttention", c, /*with_bias=*/true);
        b.self_attention_norm = reader.read(p + "0.layer_norm.weight", {c.d_model});
        b.feed_forward = reader.feed_forward(p + "1.DenseReluDense", c);
        b.feed_forward_norm = reader.read(p + "1.layer_norm.weight", {c.d_model});
        build_layer(dir, "encoder.block." + std::to_string(i),
                    [&] { encoder_blocks.emplace_back(std::move(b), c, options.precision); });
    }
    Tensor encoder_norm = reader.read("encoder.final_layer_norm.weight", {c.d_model});

    std::vector<DecoderBlock> decoder_blocks;
    decoder_blocks.reserve(static_cast<size_t>(c.num_decoder_layers));
    for (int64_t i = 0; i < c.num_decoder_layers; ++i) {
        const std::string p = "decoder.block." + std::to_string(i) + ".layer.";
        DecoderBlockWeights b;
        b.self_attention = reader.attention(p + "0.SelfAttention", c, /*with_bias=*/true);
        b.self_attention_norm = reader.read(p + "0.layer_norm.weight", {c.d_model});
        b.cross_attention = reader.attention(p + "1.EncDecAttention", c, /*with_bias=*/false);
        b.cross_attention_norm = reader.read(p + "1.layer_norm.weight", {c.d_model});
        b.feed_forward = reader.feed_forward(p + "2.DenseReluDense", c);
        b.feed_forward_norm = reader.read(p + "2.layer_norm.weight", {c.d_model});
        build_layer(dir, "decoder.block." + std::to_string(i),
                    [&] { decoder_blocks.emplace_back(std::move(b), c, options.precision); });
    }
    Tensor decoder_norm = reader.read("decoder.final_layer_norm.weight", {c.d_model});
    // The output projection is packed from F32 (a tied model's shared.weight is read again for that: the copy
    // lives only while it is packed). Int8 rescores its best candidates from the file's weights, mapped.
    Tensor lm_head = tied ? checkpoint.get_f32("shared.weight", {c.vocab_size, c.d_model})
                          : reader.read("lm_head.weight", {c.vocab_size, c.d_model});
    Tensor rescoring;
    if (options.precision == Precision::Int8)
        rescoring = tied ? shared : checkpoint.get_mapped("lm_head.weight", {c.vocab_size, c.d_model});

    model->precision_ = options.precision;
    model->encoder_ = std::make_unique<Encoder>(shared, std::move(encoder_blocks), std::move(encoder_norm), c);
    build_layer(dir, tied ? "shared.weight (output projection)" : "lm_head", [&] {
        model->decoder_ = std::make_unique<Decoder>(shared, std::move(decoder_blocks), std::move(decoder_norm),
                                                    std::move(lm_head), std::move(rescoring), tied, c,
                                                    options.precision);
    });
    model->identity_ = reader.identity();
    if (options.precision != Precision::F32) model->identity_ += std::string("-") + precision_name(options.precision);
    model->parameter_count_ = reader.parameters();
    model->warnings_ = reader.warnings();
    model->warm_up();
    return model;
}

void Model::warm_up() const {
    // oneDNN generates a primitive's kernels when it is created, and its attention gemm on the first product;
    // doing that here keeps about 30 ms (fp32) to 60 ms (int8, umt5-small) out of the first prompt's first token.
    // Primitives are made per thread count, so this runs at each count the thread setting will likely use.
    Workspace ws;
    const std::vector<int> ids(8, static_cast<int>(config_.eos_token_id));
    std::vector<float> logits(static_cast<size_t>(config_.vocab_size));
    for_each_likely_thread_count([&] {
        const Tensor encoded = encode(ids, ws);
        KVCache cache = make_cache();
        start_decoding(encoded, cache, ws);
        decode({static_cast<int>(config_.decoder_start_token_id)}, cache, ws, logits.data());
    });
}

std::string Model::name() const {
    const std::filesystem::path clean = dir_.filename().empty() ? dir_.parent_path() : dir_;
    return clean.filename().string();
}

std::vector<int> Model::prompt_ids(const std::string& prompt) const {
    if (prompt.size() > kMaxPromptBytes)
        throw Error("the prompt is " + std::to_string(prompt.size()) + " bytes long; the limit is " +
                    std::to_string(kMaxPromptBytes) + " bytes");
    if (prompt.find_first_not_of(" \t\r\n") == std::string::npos) throw Error("the prompt is empty");
    std::vector<int> ids = tokenizer_.encode(prompt);
    if (static_cast<int64_t>(ids.size()) + 1 > kMaxEncoderTokens)
        throw Error("the prompt is " + std::to_string(ids.size() + 1) + " tokens long; the limit is " +
                    std::to_string(kMaxEncoderTokens));
    ids.push_back(static_cast<int>(config_.eos_token_id));
    return ids;
}

Tensor Model::encode(const std::vector<int>& ids, Workspace& ws, const std::atomic<bool>* stop) const {
    if (ids.empty()) throw Error("the encoder input is empty");
    if (static_cast<int64_t>(ids.size()) > kMaxEncoderTokens)
        throw Error("the encoder input is " + std::to_string(ids.size()) + " tokens long; the limit is " +
                    std::to_string(kMaxEncoderTokens));
    return encoder_->forward(ids, ws, stop);
}

KVCache Model::make_cache() const { return KVCache(config_.num_decoder_layers, config_.num_heads, config_.d_kv); }

void Model::start_decoding(const Tensor& encoder_out, KVCache& cache, Workspace& ws) const {
    if (encoder_out.rank() != 2 || encoder_out.dim(1) != config_.d_model)
        throw Error("encoder output has shape " + shape_string(encoder_out.shape()) + ", expected [n, " +
                    std::to_string(config_.d_model) + "]");
    cache.clear();
    decoder_->compute_cross(encoder_out.data<float>(), encoder_out.dim(0), cache, ws);
}

void Model::decode(const std::vector<int>& ids, KVCache& cache, Workspace& ws, float* logits,
                   int64_t logit_rows) const {
    if (ids.empty()) return;
    if (logit_rows > static_cast<int64_t>(ids.size())) throw Error("more logit rows requested than decoder inputs");
    decoder_->forward(ids.data(), static_cast<int64_t>(ids.size()), cache, ws, logits, logit_rows);
}

Tensor Model::decode_all(const std::vector<int>& decoder_ids, const Tensor& encoder_out, Workspace& ws) const {
    KVCache cache = make_cache();
    start_decoding(encoder_out, cache, ws);
    const auto rows = static_cast<int64_t>(decoder_ids.size());
    Tensor logits({rows, config_.vocab_size}, DType::F32);
    decode(decoder_ids, cache, ws, logits.data<float>(), rows);
    return logits;
}

}  // namespace umt5
