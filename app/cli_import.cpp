// `umt5 import`: turn a JSON transcript (umt5 export --format json) back into a conversation file.
#include "app/cli.h"
#include "core/chat/conversation.h"
#include "core/chat/session_lock.h"
#include "core/chat/transcript.h"
#include "core/formats/input_file.h"

namespace umt5::cli {

Action add_import(CLI::App& app) {
    struct Args {
        std::string in;
        std::string session;
        bool force = false;
    };
    auto args = std::make_shared<Args>();
    CLI::App* command = app.add_subcommand("import", "Create a conversation file from a JSON transcript");
    command->add_option("--in", args->in, "JSON transcript (a regular file of at most 32 MiB)")
        ->required()
        ->check(CLI::ExistingFile);
    command->add_option("--session", args->session, "Conversation file to write (never the --in file)")->required();
    command->add_flag("--force", args->force, "Replace the conversation file if it exists");
    return [args]() -> int {
        check_output_path(args->session, "--session", {{args->in, "--in"}}, /*force=*/true);
        const SessionLock lock(args->session, wait_message(args->session));
        if (!args->force && std::filesystem::exists(args->session))
            throw Error(args->session + " exists; add --force to replace it");
        const Conversation conversation = import_json(read_input_file(args->in, InputKind::transcript), args->in);
        conversation.save(args->session, nullptr, /*include_cache=*/false);
        return 0;
    };
}

}  // namespace umt5::cli
