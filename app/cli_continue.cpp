// `umt5 continue`: extend the latest answer of a saved conversation from its saved cache.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "app/cli.h"
#include "core/chat/conversation.h"
#include "core/chat/session_lock.h"
#include "core/formats/error.h"

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
    args->model.model_option->description(
        "Hugging Face umT5 checkpoint directory (default: the model the session was written with)");
    command->add_option("--session", args->session, "Conversation file")->required()->check(CLI::ExistingFile);
    args->generation.add_to(*command);
    command->add_flag("--json", args->json, "Print one JSON object instead of streaming text");
    command->add_flag("--session-without-cache", args->session_without_cache,
                      "Save the transcript only, not the KV cache");
    return [args]() -> int {
        args->generation.resolve({});  // bad settings fail before the model loads
        // Without --model, the model that wrote the answer (the session keeps its directory and precision): any
        // other model would re-tokenize the transcript with the wrong vocabulary and continue with nonsense.
        ModelArgs model_args = args->model;
        if (!model_args.model_given()) {
            const Conversation saved = Conversation::load(args->session, nullptr);
            if (saved.model_path().empty())
                throw Error(args->session + ": the session does not record which model wrote it; pass --model DIR");
            if (!std::filesystem::is_directory(saved.model_path()))
                throw Error(args->session + ": the session's model " + saved.model_path() +
                            " is not found; pass --model DIR");
            model_args.model_dir = saved.model_path();
            if (!model_args.precision_given() && !saved.empty() && !saved.turns().back().model_precision.empty())
                model_args.precision = saved.turns().back().model_precision;
        }
        const auto model = model_args.load();
        const SessionLock lock(args->session, wait_message(args->session));
        Conversation conversation = load_session(args->session, *model);
        if (conversation.empty()) throw Error(args->session + ": the conversation has no answer to continue");
        const GenerationOptions options = args->generation.resolve(conversation.turns().back().prompt);
        const GenerationResult result = conversation.continue_answer(*model, options, stdout_printer(args->json));
        // Printed before saving: an answer that could not be shown (stdout closed or full) is not kept either.
        print_result(result, options, args->json);
        conversation.save(args->session, model.get(), !args->session_without_cache);
        return 0;
    };
}

}  // namespace umt5::cli
