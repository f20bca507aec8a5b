// Fuzzes JSON transcript import (core/transcript.h): a transcript that imports must export again, in every
// format, and re-import to the same JSON.
#include <cstdint>
#include <string>

#include "core/chat/transcript.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const umt5::Conversation c =
            umt5::import_json(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
        const umt5::TranscriptInfo info;
        (void)umt5::export_markdown(c, info);
        (void)umt5::export_text(c, info);
        (void)umt5::export_html(c, info);
        const std::string json = umt5::export_json(c, info);
        const umt5::Conversation again = umt5::import_json(json, "again.json");
        if (umt5::export_json(again, info) != json) __builtin_trap();
    } catch (const umt5::Error&) {
    }
    return 0;
}
