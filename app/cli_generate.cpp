// `umt5 generate`: stream a model's answer to a prompt, or print it as JSON.
#include <cstdio>
#include <iostream>

#include "app/cli.h"
#include "core/chat/conversation.h"
#include "core/chat/session_lock.h"

namespace umt5::cli {

Action add_generate(CLI::App& app) {
    struct Args {
        ModelArgs model;
        GenerationArgs generation;
        std::string prompt;
        bool json = false;
        std::string session;
        bool carry_context = false;
        bool session_without_cache = false;
    };
    auto args = std::make_shared<Args>();
    CLI::App* command = app.add_subcommand("generate", "Generate text for a prompt (streamed to stdout)");
    args->model.add_to(*command);
    command->add_option("--prompt", args->prompt, "The prompt, e.g. \"translate English to German: File not found\"")
        ->required();
    args->generation.add_to(*command);
    command->add_flag("--json", args->json, "Print one JSON object instead of streaming text");
    command->add_option("--session", args->session,
                        "Conversation file: created, or extended by a new turn, and saved with its cache "
                        "(concurrent runs on one file wait for each other)");
    command->add_flag("--context", args->carry_context,
                      "With --session: give the encoder the earlier turns as context");
    command->add_flag("--session-without-cache", args->session_without_cache,
                      "With --session: save the transcript only, not the KV cache");

    return [args]() -> int {
        const GenerationOptions options = args->generation.resolve(args->prompt);
        const auto model = args->model.load();
        const TokenCallback print_token = stdout_printer(args->json);
        if (args->session.empty()) {
            print_result(generate(*model, args->prompt, options, print_token), options, args->json);
            return 0;
        }
        // Held from reading the file to writing it back, so concurrent runs on one session each add their turn.
        const SessionLock lock(args->session, wait_message(args->session));
        Conversation conversation;
        if (std::filesystem::exists(args->session)) conversation = load_session(args->session, *model);
        if (args->carry_context) conversation.set_carry_context(true);
        const GenerationResult result = conversation.submit(*model, args->prompt, options, print_token);
        // Printed before saving: an answer that could not be shown (stdout closed or full) is not kept either.
        print_result(result, options, args->json);
        conversation.save(args->session, model.get(), !args->session_without_cache);
        return 0;
    };
}

}  // namespace umt5::cli
