#pragma once
// A conversation (session): its turns, and for the latest turn the decoding state that makes continuing,
// regenerating and truncating cost only the new tokens: the encoder output, every decoder layer's cross-attention
// K/V (computed once per encoder input) and the self-attention K/V of every generated position.
//
// Session files (".umt5session", format described in docs/session-format.md) are safetensors files: the
// transcript, settings and statistics are JSON in the header metadata, the optional cache is stored as tensors.
// They are written atomically; a cache saved with one model refuses to load into another.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/chat/generation.h"

namespace umt5 {

// An earlier answer to a turn's prompt, kept when the answer is regenerated so it can still be read.
struct AnswerVersion {
    std::vector<int> output_ids;
    std::string answer;
    GenerationOptions options;
    GenerationStats stats;
    FinishReason finish = FinishReason::Length;
    std::string model_name;
    std::string model_precision;
};

struct Turn {
    std::string prompt;            // what the user asked
    std::string encoder_text;      // what the encoder saw (prompt, or earlier turns + prompt with carried context)
    std::vector<int> prompt_ids;   // encoder input ids, eos included
    std::vector<int> output_ids;   // answer ids, eos included when produced
    std::string answer;            // decoded answer
    GenerationOptions options;     // settings of the latest generation call of this turn (stop flag not kept)
    GenerationStats stats;         // statistics of the latest generation call of this turn
    FinishReason finish = FinishReason::Length;
    int64_t created_ms = 0;        // Unix time in milliseconds
    // The model that wrote the answer (its directory name) and its weight precision ("fp32", "bf16", "int8"), so
    // the answer keeps its label whatever is loaded later; empty in files written before they were kept.
    std::string model_name;
    std::string model_precision;
    std::vector<AnswerVersion> earlier_answers;  // answers replaced by regenerate(), oldest first
};

class Conversation {
public:
    static constexpr int kFormatVersion = 1;

    Conversation();  // a new, empty conversation with a random id

    const std::string& id() const { return id_; }
    const std::string& title() const { return title_; }
    void set_title(std::string title) { title_ = std::move(title); }
    // Whether a new prompt carries earlier turns as encoder context (see context_text()).
    bool carry_context() const { return carry_context_; }
    void set_carry_context(bool carry) { carry_context_ = carry; }
    const std::vector<Turn>& turns() const { return turns_; }
    // Sampler state after the latest generation call (empty when none), kept by save() and JSON transcripts.
    const std::string& rng_state() const { return rng_state_; }
    // Unix time in milliseconds when the conversation was made (for files without it: its first turn's time).
    int64_t created_ms() const { return created_ms_; }
    // Directory of the model of the latest generation call (empty when none), so the command line can continue
    // with the model that wrote the answer.
    const std::string& model_path() const { return model_path_; }
    bool empty() const { return turns_.empty(); }

    // The encoder text for `prompt`: the prompt alone, or with carry_context() every earlier turn as
    // "<prompt>\n<answer>\n" lines followed by the prompt; the oldest turns are dropped while the tokenized text
    // exceeds `max_encoder_tokens`.
    std::string context_text(const Model& model, const std::string& prompt, int max_encoder_tokens = 512) const;

    // Starts a new turn: encodes the prompt (with context if enabled) and generates.
    GenerationResult submit(const Model& model, const std::string& prompt, const GenerationOptions& options,
                            const TokenCallback& on_token = {});
    // Extends the latest answer by up to options.max_new_tokens tokens from the cached state; the encoder does not
    // run while the cache (or the stored encoder output) is present. A trailing eos is dropped first.
    GenerationResult continue_answer(const Model& model, const GenerationOptions& options,
                                     const TokenCallback& on_token = {});
    // Keeps the first `tokens` tokens of the latest answer and drops the cache past them.
    void truncate(int tokens);
    // Generates the latest answer again from the same encoder output; the answer it replaces is kept in the
    // turn's earlier_answers.
    GenerationResult regenerate(const Model& model, const GenerationOptions& options,
                                const TokenCallback& on_token = {});
    // Removes the latest turn (its cache goes with it).
    void remove_last_turn();

    // Cache management.
    bool has_cache() const;            // encoder output and K/V of the latest turn are in memory
    size_t cache_bytes() const;        // memory they take
    void release_cache();              // evicts them; they are rebuilt on demand
    const std::string& cache_model_identity() const { return cache_model_; }
    std::chrono::steady_clock::time_point last_used() const { return last_used_; }

    // Writes the conversation atomically, with a CRC-32 over its tensors and metadata. With `include_cache`, the
    // latest turn's encoder output and K/V are saved too (if present), tied to `model`'s identity. Throws
    // umt5::Error, writing nothing, when the header would exceed input_size_limit(InputKind::session), the reader's
    // limit.
    void save(const std::filesystem::path& path, const Model* model, bool include_cache) const;
    // Reads a conversation. A cache is restored only when `model` is given and matches the one it was saved with;
    // a cache that cannot be used (other model, damaged tensors, a checksum that does not match) is dropped and
    // described in `warning`, the transcript kept. Only regular files are read (a FIFO is refused, not waited
    // on). A damaged or unsupported transcript throws umt5::Error naming the file.
    static Conversation load(const std::filesystem::path& path, const Model* model, std::string* warning = nullptr);
    // Like load(), but refuses (throws) instead of dropping a cache that belongs to another model.
    static Conversation load_strict(const std::filesystem::path& path, const Model& model);

    // JSON text of the transcript part (what save() puts in the header), and back.
    std::string to_json() const;
    static Conversation from_json(const std::string& text, const std::string& origin);

    // Installs a decoding state built elsewhere (a restored cache) for the latest turn.
    void restore_state(DecodingState state, std::string model_identity);

private:
    void touch();
    GenerationResult run(const Model& model, const GenerationOptions& options, const TokenCallback& on_token,
                         std::chrono::steady_clock::time_point started);
    void prepare_state(const Model& model);

    std::string id_;
    std::string title_;
    bool carry_context_ = false;
    std::vector<Turn> turns_;
    DecodingState state_;         // latest turn only
    std::string cache_model_;     // identity of the model that built state_
    std::string rng_state_;       // sampler state after the latest call, so continuing samples as one run would
    int64_t created_ms_ = 0;
    std::string model_path_;
    std::chrono::steady_clock::time_point last_used_ = std::chrono::steady_clock::now();
};

// Many conversations alive at once, with a memory budget for their caches: when the caches together exceed it,
// the least recently used ones are evicted (and rebuilt on demand when their conversation is used again).
class ConversationStore {
public:
    static constexpr size_t kDefaultBudgetBytes = size_t{1} << 30;  // 1 GiB

    explicit ConversationStore(size_t budget_bytes = kDefaultBudgetBytes) : budget_(budget_bytes) {}

    Conversation& create();
    Conversation& add(Conversation conversation);
    Conversation* find(const std::string& id);
    bool remove(const std::string& id);
    std::vector<Conversation*> all();  // in creation order
    size_t size() const { return conversations_.size(); }

    size_t budget() const { return budget_; }
    // Changes the budget and enforces it, evicting `keep` (if any) last.
    void set_budget(size_t bytes, const Conversation* keep = nullptr);
    size_t cache_bytes() const;
    // Evicts least recently used caches until the total fits the budget; `keep` (if any) is evicted last.
    // Returns how many caches were evicted.
    int enforce_budget(const Conversation* keep = nullptr);

private:
    size_t budget_;
    std::list<Conversation> conversations_;
};

}  // namespace umt5
