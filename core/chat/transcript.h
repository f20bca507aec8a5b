#pragma once
// Exported transcripts of a conversation: Markdown, plain text and HTML for reading and sharing, and JSON as the
// lossless, versioned interchange format (schema: docs/transcript.schema.json) that import_json() reads back.
// Every exporter is a pure function of the conversation and the TranscriptInfo, so the output is reproducible.
#include <cstdint>
#include <string>

#include "core/chat/conversation.h"

namespace umt5 {

class Model;

inline constexpr const char* kTranscriptFormat = "umt5-transcript";
inline constexpr int kTranscriptVersion = 1;

// What a transcript says about the model and the export itself. Model fields are empty when unknown.
struct TranscriptInfo {
    std::string model_name;      // e.g. "demo-umt5"
    std::string model_path;      // the model directory
    std::string model_identity;  // Model::identity()
    std::string model_config;    // Model::config().canonical()
    int64_t exported_ms = 0;     // Unix time in milliseconds

    // The model's fields, exported now.
    static TranscriptInfo for_model(const Model& model);
};

std::string export_markdown(const Conversation& conversation, const TranscriptInfo& info);
std::string export_text(const Conversation& conversation, const TranscriptInfo& info);
// A standalone UTF-8 HTML document with an embedded light/dark stylesheet.
std::string export_html(const Conversation& conversation, const TranscriptInfo& info);
std::string export_json(const Conversation& conversation, const TranscriptInfo& info);

// Reads a JSON transcript back into a conversation equal to the exported one (without any cache: the engine
// rebuilds it on demand). Throws umt5::Error with a one-line message starting with `origin` when the text is not
// JSON, not a transcript, of a newer version, or has a missing or invalid field (named by its path).
Conversation import_json(const std::string& text, const std::string& origin);

// "2024-05-01T12:34:56.789Z" for a Unix time in milliseconds.
std::string iso8601_utc(int64_t unix_ms);
// Current Unix time in milliseconds.
int64_t unix_time_ms();

}  // namespace umt5
