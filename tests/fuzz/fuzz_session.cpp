// Fuzzes session files: the input is parsed as a transcript JSON (Conversation::from_json) and, written to a file,
// loaded as a session (Conversation::load without a model, with the tiny-a model so that the saved KV cache is
// restored, and strictly), then continued by two tokens. Seeds are sessions saved with tiny-a, whose model identity they carry.
#include <cstdint>
#include <string>

#include "core/chat/conversation.h"
#include "core/engine/model.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

const umt5::Model& model() {
    static const std::shared_ptr<const umt5::Model> m =
        umt5::Model::load(std::filesystem::path(UMT5_TEST_DATA_DIR) / "umt5-tiny-a", {.threads = 1});
    return *m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const umt5::Conversation c = umt5::Conversation::from_json(text, "fuzz");
        (void)c.to_json();
    } catch (const umt5::Error&) {
    }
    static const auto path = umt5fuzz::scratch_dir() / "session.umt5session";
    umt5fuzz::write_file(path, data, size);
    try {
        (void)umt5::Conversation::load(path, nullptr);
    } catch (const umt5::Error&) {
    }
    try {
        std::string warning;
        umt5::Conversation c = umt5::Conversation::load(path, &model(), &warning);
        (void)c.to_json();
        (void)c.cache_bytes();
        // Continue from what was restored (the cache, the saved ids and the sampler state).
        if (!c.empty()) {
            umt5::GenerationOptions options;
            options.max_new_tokens = 2;
            (void)c.continue_answer(model(), options);
        }
    } catch (const umt5::Error&) {
    }
    try {
        (void)umt5::Conversation::load_strict(path, model());
    } catch (const umt5::Error&) {
    }
    return 0;
}
