#pragma once
// The `umt5` command-line tool: one file per subcommand (app/cli_*.cpp), each registering itself on the CLI11
// application; all of them are thin shells over umt5core.
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/chat/conversation.h"
#include "core/chat/generation.h"
#include "core/engine/model.h"

namespace umt5::cli {

int run(int argc, char** argv);

// What a subcommand's registration returns: the action to run once parsing succeeded (returns the exit code).
using Action = std::function<int()>;

// Model selection and the generation settings shared by several subcommands.
struct ModelArgs {
    std::string model_dir;  // empty = embedded demo model
    int threads = 0;  // 0 = automatic (runtime.h)
    std::string precision = "fp32";
    CLI::Option* model_option = nullptr;
    CLI::Option* precision_option = nullptr;
    void add_to(CLI::App& command);
    std::shared_ptr<const Model> load() const;
    bool model_given() const { return model_option && model_option->count() > 0; }
    bool precision_given() const { return precision_option && precision_option->count() > 0; }
};

struct GenerationArgs {
    GenerationOptions options;
    bool no_cache = false;
    std::optional<double> length_ratio;  // unset: default_length_ratio() of the prompt
    GenerationArgs();
    void add_to(CLI::App& command, bool with_cache_switch = true);
    // The options for `prompt` (the new turn's, or the continued turn's).
    GenerationOptions resolve(const std::string& prompt) const;
};

// Streams each token's text to stdout unless `quiet` (then the callback only lets generation go on).
TokenCallback stdout_printer(bool quiet);
// The --json object of generate and continue: prompt_ids, output_ids, text, cache, finish, stats.
nlohmann::ordered_json result_json(const GenerationResult& result, const GenerationOptions& options);
// Ends generate/continue output: the --json object, or the newline after the streamed text.
void print_result(const GenerationResult& result, const GenerationOptions& options, bool json);
// Loads a conversation file for `model`; a saved cache it cannot use is dropped with a warning on stderr.
Conversation load_session(const std::string& path, const Model& model);

// Subcommand registrations.
Action add_generate(CLI::App& app);
Action add_continue(CLI::App& app);
Action add_score(CLI::App& app);
Action add_bench(CLI::App& app);
Action add_export(CLI::App& app);
Action add_import(CLI::App& app);

}  // namespace umt5::cli
