// `umt5 import`: turn a JSON transcript (umt5 export --format json) back into a conversation file.
#include <fstream>
#include <sstream>

#include "app/cli.h"
#include "core/chat/conversation.h"
#include "core/chat/transcript.h"

namespace umt5::cli {

Action add_import(CLI::App& app) {
    struct Args {
        std::string in;
        std::string session;
        bool force = false;
    };
    auto args = std::make_shared<Args>();
    CLI::App* command = app.add_subcommand("import", "Create a conversation file from a JSON transcript");
    command->add_option("--in", args->in, "JSON transcript")->required()->check(CLI::ExistingFile);
    command->add_option("--session", args->session, "Conversation file to write")->required();
    command->add_flag("--force", args->force, "Replace the conversation file if it exists");
    return [args]() -> int {
        if (!args->force && std::filesystem::exists(args->session))
            throw Error(args->session + " exists; add --force to replace it");
        std::ifstream in(args->in, std::ios::binary);
        if (!in.is_open()) throw Error(args->in + ": cannot open the file");
        std::ostringstream text;
        text << in.rdbuf();
        const Conversation conversation = import_json(text.str(), args->in);
        conversation.save(args->session, nullptr, /*include_cache=*/false);
        return 0;
    };
}

}  // namespace umt5::cli
