#include "app/cli.h"

#include <cstdio>
#include <iostream>
#include <map>

#include "app/error_text.h"
#include "core/engine/cpu.h"
#include "core/engine/precision_support.h"
#include "core/formats/error.h"
#include "core/chat/generation_json.h"
#include "core/chat/limits.h"

namespace umt5::cli {

void ModelArgs::add_to(CLI::App& command) {
    model_option = command.add_option("--model", model_dir, "Hugging Face umT5 checkpoint directory (default: the embedded demo model)");
    command
        .add_option_function<std::string>(
            "--threads",
            [this](const std::string& value) { threads = value == "auto" ? 0 : std::stoi(value); },
            "CPU threads for the engine: auto (the default: up to one per core, fewer while other programs keep "
            "the cores busy) or a fixed number")
        ->type_name("auto|N")
        ->check([](const std::string& value) -> std::string {
            if (value == "auto") return {};
            if (value.empty() || value.size() > 4 || value.find_first_not_of("0123456789") != std::string::npos ||
                std::stoi(value) < 1 || std::stoi(value) > 1024)
                return "auto or a number from 1 to 1024 expected, not \"" + value + "\"";
            return {};
        });
    precision_option = command.add_option("--precision", precision, "Weight precision: fp32 (exact), bf16 or int8")
        ->capture_default_str()->check(CLI::IsMember({"fp32", "bf16", "int8"}));
}

std::shared_ptr<const Model> ModelArgs::load() const {
    LoadOptions options;
    options.threads = threads;
    options.precision = parse_precision(precision);
    return Model::load(model_dir.empty() ? Model::default_model_dir() : std::filesystem::path(model_dir), options);
}

// The app's defaults: the demo model loops ("ssss..." for hundreds of tokens) often enough that the guard is on.
GenerationArgs::GenerationArgs() { options.stop_repeats = 4; }

void GenerationArgs::add_to(CLI::App& command, bool with_cache_switch) {
    command.add_option("--max-new-tokens", options.max_new_tokens,
                       "Most tokens to generate (an answer holds at most " + std::to_string(kMaxDecoderTokens) + ")")
        ->capture_default_str()->check(CLI::Range(0, 100000));
    command.add_option("--length-ratio", length_ratio,
                       "Stop after RATIO x input tokens + --length-offset tokens; 0 = no limit (default: 2 for "
                       "\"translate X to Y: ...\" prompts, no limit for others)")
        ->check(CLI::Range(0.0, 1000.0));
    command.add_option("--length-offset", options.length_offset, "Tokens added to the --length-ratio limit")
        ->capture_default_str()->check(CLI::Range(0, 100000));
    command.add_option("--stop-repeats", options.stop_repeats,
                       "Stop when the answer ends in the same 1-8 token phrase repeated this many times in a row "
                       "(0 = never)")
        ->capture_default_str()->check(CLI::Range(0, 100000));
    if (with_cache_switch)
        command.add_flag("--no-cache", no_cache, "Recompute the decoder over the whole prefix at every step");
    command.add_flag("--ignore-eos", options.ignore_eos, "Keep generating after the end-of-sequence token");
    command.add_option("--temperature", options.sampling.temperature, "Sampling temperature; 0 = greedy")
        ->capture_default_str();
    command.add_option("--top-k", options.sampling.top_k, "Sample among the k most likely tokens (0 = all)")
        ->capture_default_str();
    command.add_option("--top-p", options.sampling.top_p, "Nucleus sampling probability mass")->capture_default_str();
    command.add_option("--repetition-penalty", options.sampling.repetition_penalty,
                       "Penalty (> 1) for tokens already generated")->capture_default_str();
    command.add_option("--seed", options.sampling.seed, "Random seed for sampling")->capture_default_str();
}

GenerationOptions GenerationArgs::resolve(const std::string& prompt) const {
    GenerationOptions resolved = options;
    resolved.use_cache = !no_cache;
    resolved.length_ratio = length_ratio ? *length_ratio : default_length_ratio(prompt);
    if (resolved.stop_repeats == 1) throw Error("--stop-repeats must be 0 (never) or at least 2");
    Sampler validate(resolved.sampling);  // throws a clear error for invalid settings
    return resolved;
}

TokenCallback stdout_printer(bool quiet) {
    return [quiet](const TokenEvent& event) {
        if (!quiet) write_stdout(event.text);
        return true;
    };
}

nlohmann::ordered_json result_json(const GenerationResult& result, const GenerationOptions& options) {
    return {{"prompt_ids", result.prompt_ids},
            {"output_ids", result.output_ids},
            {"text", result.text},
            {"cache", options.use_cache},
            {"finish", finish_reason_name(result.finish)},
            {"stats", stats_json(result.stats)}};
}

void print_result(const GenerationResult& result, const GenerationOptions& options, bool json) {
    if (json)
        write_stdout(result_json(result, options).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                     "\n");
    else
        write_stdout("\n");
}

std::function<void()> wait_message(const std::string& session) {
    return [session] { std::fprintf(stderr, "umt5: waiting for another program that is using %s\n", session.c_str()); };
}

Conversation load_session(const std::string& path, const Model& model) {
    std::string warning;
    Conversation conversation = Conversation::load(path, &model, &warning);
    if (!warning.empty()) std::fprintf(stderr, "umt5: warning: %s\n", warning.c_str());
    return conversation;
}

namespace {

// --version: the build, this CPU and what each precision runs on here (probed, see core/engine/precision_support.h).
std::string version_text() {
    std::string text = std::string("umt5 ") + UMT5_VERSION + "\nCPU: " + cpu_summary() + "\nPrecisions on this CPU:\n" +
                       precision_table();
    text.pop_back();  // CLI11 ends the output with its own newline
    return text;
}

}  // namespace

int run(int argc, char** argv) {
    reserve_standard_streams();
    CLI::App app{"umt5: run umT5 encoder-decoder models on the CPU (oneDNN, sentencepiece).\n"
                 "Without --model, the embedded demo model (English <-> 20 languages UI strings) is used.",
                 "umt5"};
    app.set_version_flag("--version", version_text, "Print the version, this CPU and the precisions it runs");
    app.require_subcommand(1);
    app.failure_message([](const CLI::App*, const CLI::Error& e) {
        return std::string("umt5: error: ") + e.what() + " (see --help)\n";
    });
    std::map<CLI::App*, Action> actions;
    for (auto add : {add_generate, add_continue, add_score, add_bench, add_export, add_import}) {
        Action action = add(app);
        actions[app.get_subcommands({}).back()] = std::move(action);
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    try {
        for (auto& [command, action] : actions)
            if (command->parsed()) {
                const int status = action();
                finish_stdout();
                return status;
            }
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "umt5: error: %s\n", error_text(e).c_str());
        return 1;
    } catch (...) {
        std::fflush(stdout);
        std::fprintf(stderr, "umt5: error: an unknown internal error\n");
        return 1;
    }
    return 2;
}

}  // namespace umt5::cli
