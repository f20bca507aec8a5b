#pragma once
// The `umt5` command-line tool: one file per subcommand (app/cli_*.cpp), each registering itself on the CLI11
// application; all of them are thin shells over umt5core.
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
// The SessionLock callback that says on stderr that this run waits for another one using `session`.
std::function<void()> wait_message(const std::string& session);
// Loads a conversation file for `model`; a saved cache it cannot use is dropped with a warning on stderr.
Conversation load_session(const std::string& path, const Model& model);

// Output paths (app/cli_output.cpp). An input of the command, for check_output_path: its path and how the
// message names it ("--session", "the model's config.json").
struct Input {
    std::filesystem::path path;
    std::string what;
};
// Refuses (throws umt5::Error) to write `out` (given as `option`, e.g. "--out") when it is the same file as one of
// `inputs` (same inode: hard links and symlinks included), even with --force; and, without `force`, when it
// exists and is a conversation (.umt5session) or weights file (.safetensors, .bin, .pt, .pth, .gguf), except,
// with `replaceable_score`, a safetensors file holding only what `umt5 score` writes. Call it before computing.
void check_output_path(const std::string& out, const char* option, const std::vector<Input>& inputs, bool force,
                       bool replaceable_score = false);
// Every file of the model's directory, as inputs.
std::vector<Input> model_inputs(const Model& model);
// Writes and flushes `text` to stdout; throws umt5::Error "cannot write to standard output (REASON)" on failure.
void write_stdout(std::string_view text);
// Opens /dev/null (read-only) in the place of a closed fd 0, 1 or 2: otherwise the next file opened (the
// session's temporary file) would take fd 1 and receive the streamed answer, and writes meant for stdout would
// succeed into it. Read-only, writes to a closed stdout still fail.
void reserve_standard_streams();
// Flushes stdout and throws when anything written to it (now or earlier, through stdio or iostreams) failed.
void finish_stdout();

// Subcommand registrations.
Action add_generate(CLI::App& app);
Action add_continue(CLI::App& app);
Action add_score(CLI::App& app);
Action add_bench(CLI::App& app);
Action add_export(CLI::App& app);
Action add_import(CLI::App& app);

}  // namespace umt5::cli
