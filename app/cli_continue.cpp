// `umt5 continue`: extend the latest answer of a saved conversation from its saved cache.
#include <cstdio>
#include <iostream>

#include "app/cli.h"
#include "core/chat/conversation.h"
#include "core/chat/session_lock.h"

namespace umt5::cli {

Action add_continue(CLI::App& app) {
    struct Args {
        ModelArgs model;
        GenerationArgs generation;
        std::string session;
        bool json = false;
        bool session_without_cache = false;
    };
    auto args = std::make_shared<Args>();
    CLI::App* command = app.add_subcommand(
        "continue", "Continue the latest answer of a conversation file (written by generate --session)");
    args->model.add_to(*command);
    command->add_option("--session", args->session, "Conversation file")->required()->check(CLI::ExistingFile);
    args->generation.add_to(*command);
    command->add_flag("--json", args->json, "Print one JSON object instead of streaming text");
    command->add_flag("--session-without-cache", args->session_without_cache,
                      "Save the transcript only, not the KV cache");
    return [args]() -> int {
        const GenerationOptions options = args->generation.resolve();
        const auto model = args->model.load();
        const SessionLock lock(args->session, wait_message(args->session));
        Conversation conversation = load_session(args->session, *model);
        if (conversation.empty()) throw Error(args->session + ": the conversation has no answer to continue");
        const GenerationResult result = conversation.continue_answer(*model, options, stdout_printer(args->json));
        // Printed before saving: an answer that could not be shown (stdout closed or full) is not kept either.
        print_result(result, options, args->json);
        conversation.save(args->session, model.get(), !args->session_without_cache);
        return 0;
    };
}

}  // namespace umt5::cli
