// Helper for test_crash_safety: rewrites one file over and over until it is killed, so that a SIGKILL lands in
// the middle of a write. Every generation is fully self-describing, so the test can check that whatever file it
// finds is one complete generation.
//
//   umt5_write_loop tensors FILE MIB   write_safetensors: tensors "a" and "b", MIB MiB in all, filled with
//                                      1 + N % 2, metadata {"generation": N}
//   umt5_write_loop session FILE MIB   Conversation::save (no cache) of a transcript whose one turn's answer is
//                                      MIB MiB of the letter 'a' + N % 2 and whose title is "generation N"
// The contents are built once, so the loop spends its time writing. Prints "wrote N" (flushed) after each
// completed write.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "core/formats/checkpoint.h"
#include "core/chat/conversation.h"

namespace {

umt5::Conversation session(int64_t bytes, char letter) {
    const std::string answer(static_cast<size_t>(bytes), letter);
    return umt5::Conversation::from_json(
        R"({"format":"umt5-session","version":1,"id":"crash-test","title":"","carry_context":false,)"
        R"("turns":[{"prompt":"p","encoder_text":"p","prompt_ids":[1],"output_ids":[],"answer":")" + answer +
            R"(","finish":"length","created_ms":0,"settings":{"max_new_tokens":1,"use_cache":true,)"
            R"("ignore_eos":false,"temperature":0,"top_k":0,"top_p":1,"repetition_penalty":1,"seed":0},)"
            R"("stats":{"encode_ms":0,"first_token_ms":0,"decode_ms":0,"tokens":0,"tokens_per_s":0,)"
            R"("cache":true,"encoder_reused":false}}]})",
        "generated");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: umt5_write_loop tensors|session FILE MIB\n");
        return 2;
    }
    const std::string mode = argv[1];
    const std::filesystem::path path = argv[2];
    const int64_t bytes = std::atoll(argv[3]) << 20;
    try {
        std::map<std::string, umt5::Tensor> tensors[2];
        umt5::Conversation sessions[2];
        for (int k = 0; k < 2; ++k) {
            if (mode == "tensors") {
                for (const char* name : {"a", "b"}) {
                    umt5::Tensor t({bytes / 8}, umt5::DType::F32);
                    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = float(1 + k);
                    tensors[k][name] = t;
                }
            } else {
                sessions[k] = session(bytes, static_cast<char>('a' + k));
            }
        }
        for (int64_t generation = 1;; ++generation) {
            const int k = static_cast<int>(generation % 2);
            if (mode == "tensors") {
                umt5::write_safetensors(path, tensors[k], {{"generation", std::to_string(generation)}});
            } else {
                sessions[k].set_title("generation " + std::to_string(generation));
                sessions[k].save(path, nullptr, false);
            }
            std::printf("wrote %lld\n", static_cast<long long>(generation));
            std::fflush(stdout);
        }
    } catch (const umt5::Error& e) {
        std::fprintf(stderr, "umt5_write_loop: %s\n", e.what());
        return 1;
    }
}
