// `umt5 export`: write a conversation file as a Markdown, plain text, HTML, JSON or PDF transcript.
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "core/formats/atomic_file.h"
#include "core/formats/checkpoint.h"
#include "core/chat/conversation.h"
#include "core/chat/transcript.h"
#ifdef UMT5_WITH_PDF
#include "app/pdf_export.h"
#endif

namespace umt5::cli {

namespace {

// The model a session's cache was saved with, as far as the session file tells (no path: it is not stored).
TranscriptInfo info_from_session(const std::string& session) {
    TranscriptInfo info;
    info.exported_ms = unix_time_ms();
    const auto metadata = read_safetensors_metadata(session);
    const auto cache = metadata.find("cache");
    if (cache == metadata.end()) return info;
    const auto json = nlohmann::json::parse(cache->second, nullptr, /*allow_exceptions=*/false);
    if (!json.is_object()) return info;
    auto text = [&json](const char* key) {
        const auto it = json.find(key);
        return it != json.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    info.model_name = text("model_name");
    info.model_identity = text("model_identity");
    info.model_config = text("model_config");
    return info;
}

}  // namespace

Action add_export(CLI::App& app) {
    struct Args {
        std::string session;
        std::string format;
        std::string out;
        std::string model_dir;
        bool force = false;
    };
    auto args = std::make_shared<Args>();
    CLI::App* command = app.add_subcommand("export", "Write a conversation file as a transcript");
    command->add_option("--session", args->session, "Conversation file")->required()->check(CLI::ExistingFile);
    command->add_option("--format", args->format, "Transcript format")
        ->required()
        ->check(CLI::IsMember({"md", "json", "txt", "html", "pdf"}));
    command->add_option("--out", args->out,
                        "Transcript file to write (replaced atomically; never the --session file, and an existing "
                        ".umt5session or weights file only with --force)")
        ->required();
    command->add_flag("--force", args->force, "Replace --out even when it is a conversation or weights file");
    command->add_option("--model", args->model_dir,
                        "Model directory to name in the transcript (default: the model the session was saved with, "
                        "when its cache tells)");
    return [args]() -> int {
        check_output_path(args->out, "--out", {{args->session, "--session"}}, args->force);
        const Conversation conversation = Conversation::load(args->session, nullptr);
        TranscriptInfo info;
        if (args->model_dir.empty()) {
            info = info_from_session(args->session);
        } else {
            const auto model = Model::load(args->model_dir);
            check_output_path(args->out, "--out", model_inputs(*model), args->force);
            info = TranscriptInfo::for_model(*model);
        }
        std::string bytes;
        if (args->format == "md") {
            bytes = export_markdown(conversation, info);
        } else if (args->format == "txt") {
            bytes = export_text(conversation, info);
        } else if (args->format == "html") {
            bytes = export_html(conversation, info);
        } else if (args->format == "json") {
            bytes = export_json(conversation, info);
        } else {
#ifdef UMT5_WITH_PDF
            const PdfRenderer renderer;
            bytes = renderer.render(export_html(conversation, info), conversation.title());
#else
            throw Error("this umt5 was built without Qt, so it cannot write PDF");
#endif
        }
        write_file_atomically(args->out, bytes);
        return 0;
    };
}

}  // namespace umt5::cli
