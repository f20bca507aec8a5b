#include "core/chat/transcript.h"

#include <charconv>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/formats/error.h"
#include "core/chat/generation_json.h"
#include "core/engine/model.h"
#include "core/chat/sampling.h"

namespace umt5 {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// ---- Numbers and times, formatted independently of the C locale (a Qt application may have changed it).

std::string fixed(double value, int decimals) {
    char buffer[64];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, decimals);
    return std::string(buffer, result.ptr);
}

// The shortest decimal that reads back as the same float, as a double: 0.9f is written 0.9, not 0.8999999761581421.
std::string shortest(float value) {
    char buffer[64];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    return std::string(buffer, result.ptr);
}

struct UtcTime {
    int year, month, day, hour, minute, second, millisecond;
};

UtcTime utc_time(int64_t unix_ms) {
    using namespace std::chrono;
    const sys_time<milliseconds> time{milliseconds{unix_ms}};
    const sys_days day = floor<days>(time);
    const year_month_day date{day};
    const hh_mm_ss<milliseconds> clock{time - day};
    return {static_cast<int>(date.year()),        static_cast<int>(static_cast<unsigned>(date.month())),
            static_cast<int>(static_cast<unsigned>(date.day())), static_cast<int>(clock.hours().count()),
            static_cast<int>(clock.minutes().count()), static_cast<int>(clock.seconds().count()),
            static_cast<int>(clock.subseconds().count())};
}

// "2024-05-01 12:34:56 UTC", for readers.
std::string readable_time(int64_t unix_ms) {
    const UtcTime t = utc_time(unix_ms);
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02d %02d:%02d:%02d UTC", t.year, t.month, t.day, t.hour,
                  t.minute, t.second);
    return buffer;
}

// ---- What every readable format shows.

std::string model_label(const TranscriptInfo& info) { return info.model_name.empty() ? "Model" : info.model_name; }

std::string title_of(const Conversation& conversation) {
    return conversation.title().empty() ? "Untitled conversation" : conversation.title();
}

std::string settings_summary(const GenerationOptions& o) {
    std::string s = o.sampling.temperature > 0 ? "temperature " + shortest(o.sampling.temperature) : "greedy";
    if (o.sampling.temperature > 0) {
        if (o.sampling.top_k > 0) s += ", top-k " + std::to_string(o.sampling.top_k);
        if (o.sampling.top_p < 1) s += ", top-p " + shortest(o.sampling.top_p);
        s += ", seed " + std::to_string(o.sampling.seed);
    }
    if (o.sampling.repetition_penalty != 1) s += ", repetition penalty " + shortest(o.sampling.repetition_penalty);
    s += ", at most " + std::to_string(o.max_new_tokens) + " new tokens";
    if (!o.use_cache) s += ", without KV cache";
    if (o.ignore_eos) s += ", ignoring eos";
    return s;
}

// The per-turn statistics on one line, e.g. "eos · 5 tokens · encoder 3.1 ms · first token 10.2 ms · decoding
// 20.0 ms · 250.0 tokens/s · KV cache on" (a table per turn took more room than the answer it describes).
std::string stats_line(const Turn& turn) {
    const GenerationStats& s = turn.stats;
    return std::string(finish_reason_name(turn.finish)) + " · " + std::to_string(s.tokens) +
           (s.tokens == 1 ? " token" : " tokens") + " · encoder " +
           (s.encoder_reused ? std::string("reused") : fixed(s.encode_ms, 1) + " ms") + " · first token " +
           fixed(s.first_token_ms, 1) + " ms · decoding " + fixed(s.decode_ms, 1) + " ms · " +
           fixed(s.tokens_per_s, 1) + " tokens/s · KV cache " + (s.cache ? "on" : "off");
}

// ---- Markdown.

// Characters that can open Markdown syntax anywhere in a line: emphasis, code, links and images, raw HTML and
// entities, GFM tables and strikethrough, a heading's closing #, and the backslash itself. Other punctuation
// ("demo-umt5", "/tmp/x", "1.5") stays as it is, so the file reads like the text.
bool markdown_special(char c) {
    switch (c) {
    case '\\': case '`': case '*': case '_': case '[': case ']': case '<': case '&': case '|': case '~': case '#':
        return true;
    default: return false;
    }
}

std::string character_reference(char c) { return "&#" + std::to_string(static_cast<unsigned char>(c)) + ";"; }

// Appends `line` (no line breaks) escaped. At the start of a line, the markers of block syntax are escaped too:
// lists ("- ", "+ ", "1. ", "1) "), block quotes (">"), setext underlines ("==="); "*", "_" and "#" are always.
void append_markdown_escaped(std::string& out, std::string_view line, bool line_start) {
    size_t digits = 0;
    if (line_start) {
        while (digits < line.size() && line[digits] >= '0' && line[digits] <= '9') ++digits;
        if (digits == 0 || digits > 9 || digits == line.size() || (line[digits] != '.' && line[digits] != ')'))
            digits = std::string::npos;
    }
    for (size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        const bool block_marker =
            line_start && ((i == 0 && (c == '-' || c == '+' || c == '=' || c == '>')) || i == digits);
        if (markdown_special(c) || block_marker) out += '\\';
        if (c == '\n' || c == '\r')
            out += character_reference(c);
        else
            out += c;
    }
}

// Inline text that renders exactly as `text` (one line, no line breaks), escaped as above.
std::string markdown_inline(std::string_view text, bool line_start = false) {
    std::string out;
    append_markdown_escaped(out, text, line_start);
    return out;
}

// A paragraph that renders as `text`, line breaks included: escaped as above, each line break a hard
// break ("\" at the end of the line), spaces and tabs at the start and end of a line written as character
// references (Markdown would strip them or read an indented code block), carriage returns likewise. Trailing line
// breaks become references too, since a hard break cannot end a paragraph.
std::string markdown_paragraph(std::string_view text) {
    if (text.empty()) return "*(empty)*";
    size_t trailing_breaks = 0;
    while (trailing_breaks < text.size() && text[text.size() - 1 - trailing_breaks] == '\n') ++trailing_breaks;
    const std::string_view body = text.substr(0, text.size() - trailing_breaks);
    std::string out;
    size_t start = 0;
    while (start <= body.size()) {
        size_t end = body.find('\n', start);
        if (end == std::string_view::npos) end = body.size();
        const std::string_view line = body.substr(start, end - start);
        auto blank = [](char c) { return c == ' ' || c == '\t'; };
        size_t lead = 0;
        while (lead < line.size() && blank(line[lead])) ++lead;
        size_t trail = 0;
        while (trail < line.size() - lead && blank(line[line.size() - 1 - trail])) ++trail;
        for (size_t i = 0; i < lead; ++i) out += character_reference(line[i]);
        append_markdown_escaped(out, line.substr(lead, line.size() - lead - trail), true);
        for (size_t i = line.size() - trail; i < line.size(); ++i) out += character_reference(line[i]);
        if (end == body.size()) break;
        out += "\\\n";
        start = end + 1;
    }
    for (size_t i = 0; i < trailing_breaks; ++i) out += character_reference('\n');
    return out;
}

// ---- HTML.

std::string html_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    return out;
}

// Plain colors first (Qt's rich text, used for PDF, reads those and skips the media query), dark ones after.
constexpr const char* kStylesheet = R"css(:root { color-scheme: light dark; }
body { font-family: system-ui, "Noto Sans", "Noto Sans Arabic", "Noto Sans Hebrew", "Noto Sans CJK SC",
  "Noto Color Emoji", sans-serif;
  color: #1f2328; background-color: #ffffff; max-width: 48em; margin: 2em auto; padding: 0 1em; line-height: 1.5; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
.meta { color: #59636e; font-size: 0.9em; margin-top: 0; }
.turn { border-top: 1px solid #d1d9e0; padding-top: 0.5em; margin-top: 1em; }
.message { border-radius: 6px; padding: 0.5em 0.8em; margin: 0.5em 0; }
.user { background-color: #eef4ff; }
.model { background-color: #f6f8fa; }
.speaker { font-weight: bold; font-size: 0.9em; }
.speaker time { font-weight: normal; color: #59636e; margin-left: 0.5em; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0.3em 0 0 0; }
.stats, .settings { color: #59636e; font-size: 0.8em; margin: 0.2em 0; }
@media (prefers-color-scheme: dark) {
  body { color: #e6edf3; background-color: #0d1117; }
  .meta, .speaker time, .stats, .settings { color: #9198a1; }
  .turn { border-color: #3d444d; }
  .user { background-color: #132339; }
  .model { background-color: #161b22; }
}
)css";

// ---- JSON.

// Reads a transcript with errors that name the field at fault.
class Reader {
public:
    explicit Reader(const std::string& origin) : origin_(origin) {}

    [[noreturn]] void fail(const std::string& where, const std::string& what) const {
        throw Error(origin_ + ": damaged transcript: " + where + " " + what);
    }

    const json& member(const json& object, const std::string& where, const char* key) const {
        if (!object.is_object()) fail(where, "must be an object");
        const auto it = object.find(key);
        if (it == object.end()) fail(path(where, key), "is missing");
        return *it;
    }
    const json& object(const json& parent, const std::string& where, const char* key) const {
        const json& value = member(parent, where, key);
        if (!value.is_object()) fail(path(where, key), "must be an object");
        return value;
    }
    std::string string(const json& parent, const std::string& where, const char* key) const {
        const json& value = member(parent, where, key);
        if (!value.is_string()) fail(path(where, key), "must be a string");
        return value.get<std::string>();
    }
    bool boolean(const json& parent, const std::string& where, const char* key) const {
        const json& value = member(parent, where, key);
        if (!value.is_boolean()) fail(path(where, key), "must be true or false");
        return value.get<bool>();
    }
    int64_t integer(const json& parent, const std::string& where, const char* key, int64_t min, int64_t max) const {
        return integer_value(member(parent, where, key), path(where, key), min, max);
    }
    int64_t integer_value(const json& value, const std::string& where, int64_t min, int64_t max) const {
        if (!value.is_number_integer() || (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t(INT64_MAX)))
            fail(where, "must be an integer");
        const auto n = value.get<int64_t>();
        if (n < min || n > max)
            fail(where, "must be between " + std::to_string(min) + " and " + std::to_string(max));
        return n;
    }
    uint64_t unsigned_integer(const json& parent, const std::string& where, const char* key) const {
        const json& value = member(parent, where, key);
        if (!value.is_number_unsigned()) fail(path(where, key), "must be a non-negative integer");
        return value.get<uint64_t>();
    }
    double number(const json& parent, const std::string& where, const char* key) const {
        const json& value = member(parent, where, key);
        if (!value.is_number()) fail(path(where, key), "must be a number");
        const double n = value.get<double>();
        if (!(n >= 0) || !std::isfinite(n)) fail(path(where, key), "must be a non-negative number");
        return n;
    }
    float single(const json& parent, const std::string& where, const char* key) const {
        const double n = number(parent, where, key);
        if (n > 3.0e38) fail(path(where, key), "is out of range");
        return static_cast<float>(n);
    }
    std::vector<int> ids(const json& parent, const std::string& where, const char* key) const {
        const json& value = member(parent, where, key);
        const std::string here = path(where, key);
        if (!value.is_array()) fail(here, "must be an array of token ids");
        std::vector<int> out;
        for (size_t i = 0; i < value.size(); ++i)
            out.push_back(static_cast<int>(integer_value(value[i], here + "[" + std::to_string(i) + "]", 0, INT_MAX)));
        return out;
    }

    static std::string path(const std::string& where, const char* key) {
        return where.empty() ? std::string(key) : where + "." + key;
    }

private:
    const std::string& origin_;
};

bool valid_conversation_id(const std::string& id) {
    return !id.empty() && id.size() <= 64 &&
           id.find_first_not_of("0123456789abcdefghijklmnopqrstuvwxyz-_") == std::string::npos;
}

// Latest Unix time in milliseconds a transcript may carry: 9999-12-31T23:59:59.999Z.
constexpr int64_t kMaxUnixMs = 253402300799999;

}  // namespace

TranscriptInfo TranscriptInfo::for_model(const Model& model) {
    TranscriptInfo info;
    info.model_name = model.name();
    info.model_path = model.dir().string();
    info.model_identity = model.identity();
    info.model_config = model.config().canonical();
    info.exported_ms = unix_time_ms();
    return info;
}

int64_t unix_time_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string iso8601_utc(int64_t unix_ms) {
    const UtcTime t = utc_time(unix_ms);
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.year, t.month, t.day, t.hour,
                  t.minute, t.second, t.millisecond);
    return buffer;
}

std::string export_markdown(const Conversation& conversation, const TranscriptInfo& info) {
    std::string out = "# " + markdown_inline(title_of(conversation), true) + "\n\n";
    if (!info.model_name.empty()) out += "- **Model:** " + markdown_inline(info.model_name) + "\n";
    if (!info.model_path.empty()) out += "- **Model path:** " + markdown_inline(info.model_path) + "\n";
    if (!info.model_identity.empty()) out += "- **Model identity:** " + markdown_inline(info.model_identity) + "\n";
    out += "- **Exported:** " + readable_time(info.exported_ms) + "\n";
    out += "- **Conversation:** " + markdown_inline(conversation.id()) +
           (conversation.carry_context() ? " (earlier turns carried as context)" : "") + "\n";
    const std::string model = markdown_inline(model_label(info));
    for (size_t i = 0; i < conversation.turns().size(); ++i) {
        const Turn& turn = conversation.turns()[i];
        out += "\n## Turn " + std::to_string(i + 1) + "\n\n";
        out += "**You** · " + readable_time(turn.created_ms) + "\n\n";
        out += markdown_paragraph(turn.prompt) + "\n\n";
        out += "**" + model + "**\n\n";
        out += markdown_paragraph(turn.answer) + "\n\n";
        out += "*" + markdown_inline(stats_line(turn)) + "*\\\n";
        out += "*Settings: " + markdown_inline(settings_summary(turn.options)) + "*\n";
    }
    return out;
}

std::string export_text(const Conversation& conversation, const TranscriptInfo& info) {
    std::string out = title_of(conversation) + "\n\n";
    if (!info.model_name.empty()) out += "Model: " + info.model_name + "\n";
    if (!info.model_path.empty()) out += "Model path: " + info.model_path + "\n";
    if (!info.model_identity.empty()) out += "Model identity: " + info.model_identity + "\n";
    out += "Exported: " + readable_time(info.exported_ms) + "\n";
    out += "Conversation: " + conversation.id() +
           (conversation.carry_context() ? " (earlier turns carried as context)" : "") + "\n";
    const std::string model = model_label(info);
    for (size_t i = 0; i < conversation.turns().size(); ++i) {
        const Turn& turn = conversation.turns()[i];
        out += "\n--- Turn " + std::to_string(i + 1) + " ---\n\n";
        out += "You (" + readable_time(turn.created_ms) + "):\n" + turn.prompt + "\n\n";
        out += model + ":\n" + turn.answer + "\n\n";
        out += "[" + stats_line(turn) + "]\n";
        out += "[Settings: " + settings_summary(turn.options) + "]\n";
    }
    return out;
}

std::string export_html(const Conversation& conversation, const TranscriptInfo& info) {
    const std::string title = html_escape(title_of(conversation));
    std::string out = "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
                      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                      "<meta name=\"generator\" content=\"umT5 Studio\">\n"
                      "<title>" + title + "</title>\n<style>\n" + kStylesheet + "</style>\n</head>\n<body>\n";
    out += "<div class=\"header\">\n<h1 dir=\"auto\">" + title + "</h1>\n<p class=\"meta\">";
    std::string meta;
    auto add_meta = [&meta](const std::string& name, const std::string& value) {
        if (!meta.empty()) meta += "<br>\n";
        meta += name + ": <span dir=\"auto\">" + html_escape(value) + "</span>";
    };
    if (!info.model_name.empty()) add_meta("Model", info.model_name);
    if (!info.model_path.empty()) add_meta("Model path", info.model_path);
    if (!info.model_identity.empty()) add_meta("Model identity", info.model_identity);
    meta += std::string(meta.empty() ? "" : "<br>\n") + "Exported: <time datetime=\"" +
            iso8601_utc(info.exported_ms) + "\">" + readable_time(info.exported_ms) + "</time>";
    add_meta("Conversation", conversation.id() +
                                 (conversation.carry_context() ? " (earlier turns carried as context)" : ""));
    out += meta + "</p>\n</div>\n";

    const std::string model = html_escape(model_label(info));
    for (size_t i = 0; i < conversation.turns().size(); ++i) {
        const Turn& turn = conversation.turns()[i];
        const std::string number = std::to_string(i + 1);
        out += "<div class=\"turn\" id=\"turn-" + number + "\">\n";
        out += "<div class=\"message user\">\n<div class=\"speaker\">You <time datetime=\"" +
               iso8601_utc(turn.created_ms) + "\">" + readable_time(turn.created_ms) + "</time></div>\n";
        out += "<div class=\"text\" dir=\"auto\">" + html_escape(turn.prompt) + "</div>\n</div>\n";
        out += "<div class=\"message model\">\n<div class=\"speaker\">" + model + "</div>\n";
        out += "<div class=\"text\" dir=\"auto\">" + html_escape(turn.answer) + "</div>\n";
        out += "<p class=\"stats\">" + html_escape(stats_line(turn)) + "</p>\n";
        out += "<p class=\"settings\">Settings: " + html_escape(settings_summary(turn.options)) + "</p>\n";
        out += "</div>\n</div>\n";
    }
    out += "</body>\n</html>\n";
    return out;
}

std::string export_json(const Conversation& conversation, const TranscriptInfo& info) {
    ordered_json turns = ordered_json::array();
    for (const Turn& t : conversation.turns())
        turns.push_back({{"prompt", t.prompt},
                         {"encoder_text", t.encoder_text},
                         {"prompt_ids", t.prompt_ids},
                         {"output_ids", t.output_ids},
                         {"answer", t.answer},
                         {"finish", finish_reason_name(t.finish)},
                         {"created", iso8601_utc(t.created_ms)},
                         {"created_ms", t.created_ms},
                         {"settings", settings_json(t.options)},
                         {"stats", stats_json(t.stats)}});
    const ordered_json document = {
        {"format", kTranscriptFormat},
        {"version", kTranscriptVersion},
        {"exported", iso8601_utc(info.exported_ms)},
        {"exported_ms", info.exported_ms},
        {"model",
         {{"name", info.model_name},
          {"path", info.model_path},
          {"identity", info.model_identity},
          {"config", info.model_config}}},
        {"conversation",
         {{"id", conversation.id()},
          {"title", conversation.title()},
          {"carry_context", conversation.carry_context()},
          {"rng_state", conversation.rng_state()}}},
        {"turns", turns}};
    return document.dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

Conversation import_json(const std::string& text, const std::string& origin) {
    json document;
    try {
        document = json::parse(text);
    } catch (const json::parse_error& e) {
        throw Error(origin + ": not a valid JSON document (error at byte " + std::to_string(e.byte) + ")");
    } catch (const json::exception& e) {  // a number too large for a double
        std::string reason = e.what();
        const size_t end = reason.find("] ");
        if (end != std::string::npos) reason.erase(0, end + 2);
        throw Error(origin + ": not a valid JSON document (" + reason + ")");
    }
    const Reader read(origin);
    if (!document.is_object() || !document.contains("format") || document["format"] != kTranscriptFormat)
        throw Error(origin + ": not a umT5 transcript (\"format\" is not \"" + kTranscriptFormat + "\")");
    const json& version_field = read.member(document, "", "version");
    if (!version_field.is_number_unsigned() || version_field.get<uint64_t>() < 1)
        read.fail("version", "must be a positive integer");
    const uint64_t version = version_field.get<uint64_t>();
    if (version > static_cast<uint64_t>(kTranscriptVersion))
        throw Error(origin + ": transcript version " + std::to_string(version) +
                    " is newer than this program supports (version " + std::to_string(kTranscriptVersion) + ")");

    // The transcript maps field for field onto the session format's conversation JSON, which Conversation reads.
    const json& conversation = read.object(document, "", "conversation");
    json session = {{"format", "umt5-session"},
                    {"version", Conversation::kFormatVersion},
                    {"id", read.string(conversation, "conversation", "id")},
                    {"title", read.string(conversation, "conversation", "title")},
                    {"carry_context", read.boolean(conversation, "conversation", "carry_context")},
                    {"rng_state", std::string()},
                    {"turns", json::array()}};
    if (!valid_conversation_id(session["id"]))
        read.fail("conversation.id", "must be 1 to 64 characters among a-z, 0-9, '-' and '_'");
    if (conversation.contains("rng_state")) {
        const std::string state = read.string(conversation, "conversation", "rng_state");
        if (!state.empty()) {
            try {
                Sampler(SamplingOptions{}).set_rng_state(state);
            } catch (const Error&) {
                read.fail("conversation.rng_state", "is not a sampler state");
            }
        }
        session["rng_state"] = state;
    }

    const json& turns = read.member(document, "", "turns");
    if (!turns.is_array()) read.fail("turns", "must be an array");
    for (size_t i = 0; i < turns.size(); ++i) {
        const std::string where = "turns[" + std::to_string(i) + "]";
        const json& t = turns[i];
        const std::string finish = read.string(t, where, "finish");
        if (!finish_reason_from_name(finish))
            read.fail(where + ".finish",
                      "must be \"eos\", \"length\", \"stopped\", \"input_length\" or \"repetition\"");
        read.string(t, where, "created");
        const std::string settings_at = where + ".settings";
        const json& s = read.object(t, where, "settings");
        GenerationOptions options;
        options.max_new_tokens = static_cast<int>(read.integer(s, settings_at, "max_new_tokens", 0, INT_MAX));
        options.use_cache = read.boolean(s, settings_at, "use_cache");
        options.ignore_eos = read.boolean(s, settings_at, "ignore_eos");
        options.sampling.temperature = read.single(s, settings_at, "temperature");
        options.sampling.top_k = static_cast<int>(read.integer(s, settings_at, "top_k", 0, INT_MAX));
        options.sampling.top_p = read.single(s, settings_at, "top_p");
        options.sampling.repetition_penalty = read.single(s, settings_at, "repetition_penalty");
        options.sampling.seed = read.unsigned_integer(s, settings_at, "seed");
        try {
            Sampler validate(options.sampling);
        } catch (const Error& e) {
            read.fail(settings_at, "are invalid: " + std::string(e.what()));
        }
        const std::string stats_at = where + ".stats";
        const json& st = read.object(t, where, "stats");
        session["turns"].push_back(
            {{"prompt", read.string(t, where, "prompt")},
             {"encoder_text", read.string(t, where, "encoder_text")},
             {"prompt_ids", read.ids(t, where, "prompt_ids")},
             {"output_ids", read.ids(t, where, "output_ids")},
             {"answer", read.string(t, where, "answer")},
             {"finish", finish},
             {"created_ms", read.integer(t, where, "created_ms", 0, kMaxUnixMs)},
             {"settings",
              {{"max_new_tokens", options.max_new_tokens},
               {"use_cache", options.use_cache},
               {"ignore_eos", options.ignore_eos},
               {"temperature", options.sampling.temperature},
               {"top_k", options.sampling.top_k},
               {"top_p", options.sampling.top_p},
               {"repetition_penalty", options.sampling.repetition_penalty},
               {"seed", options.sampling.seed}}},
             {"stats",
              {{"encode_ms", read.number(st, stats_at, "encode_ms")},
               {"first_token_ms", read.number(st, stats_at, "first_token_ms")},
               {"decode_ms", read.number(st, stats_at, "decode_ms")},
               {"tokens", read.integer(st, stats_at, "tokens", 0, INT_MAX)},
               {"tokens_per_s", read.number(st, stats_at, "tokens_per_s")},
               {"cache", read.boolean(st, stats_at, "cache")},
               {"encoder_reused", read.boolean(st, stats_at, "encoder_reused")}}}});
    }
    return Conversation::from_json(session.dump(), origin);
}

}  // namespace umt5
