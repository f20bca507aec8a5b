// `umt5 continue`: extend the latest answer of a saved conversation from its saved cache.
#include <cstdio>
#include <iostream>

#include "app/cli.h"
#include "core/chat/conversation.h"

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
        args->generation.resolve({});  // bad settings fail before the model loads
        const auto model = args->model.load();
        Conversation conversation = load_session(args->session, *model);
        if (conversation.empty()) throw Error(args->session + ": the conversation has no answer to continue");
        const GenerationOptions options = args->generation.resolve(conversation.turns().back().prompt);
        const GenerationResult result = conversation.continue_answer(*model, options, stdout_printer(args->json));
        conversation.save(args->session, model.get(), !args->session_without_cache);
        print_result(result, options, args->json);
        return 0;
    };
}

}  // namespace umt5::cli
