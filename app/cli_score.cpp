// `umt5 score`: teacher-forced encoder output and logits for one sequence, written as safetensors.
#include <cstdio>

#include "app/cli.h"
#include "core/formats/checkpoint.h"
#include "core/chat/limits.h"

namespace umt5::cli {

namespace {
std::vector<int> parse_ids(const std::string& text, const char* what) {
    std::vector<int> ids;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        try {
            size_t used = 0;
            const long value = std::stol(item, &used);
            if (used != item.size() || value < 0 || value > INT32_MAX) throw std::invalid_argument(item);
            ids.push_back(static_cast<int>(value));
        } catch (const std::exception&) {
            throw Error(std::string(what) + ": \"" + item + "\" is not a token id");
        }
    }
    if (ids.empty()) throw Error(std::string(what) + " is empty");
    return ids;
}
}  // namespace

Action add_score(CLI::App& app) {
    struct Args {
        ModelArgs model;
        std::string input_ids, decoder_ids, out;
        bool force = false;
    };
    auto args = std::make_shared<Args>();
    CLI::App* command =
        app.add_subcommand("score", "Write the encoder output and teacher-forced logits of one sequence");
    args->model.add_to(*command);
    command->add_option("--input-ids", args->input_ids, "Encoder ids, comma-separated (e.g. 5,6,1)")->required();
    command->add_option("--decoder-ids", args->decoder_ids,
                        "Decoder ids, starting with the start id (e.g. 0,7,8); at most " +
                            std::to_string(kMaxDecoderTokens) + ", and refused when the pass would not fit in memory")
        ->required();
    command->add_option("--out", args->out,
                        "Output .safetensors file (F32 encoder_hidden and logits); an existing file other than an "
                        "earlier score is replaced only with --force, a file of the model never")
        ->required();
    command->add_flag("--force", args->force, "Replace --out even when it is a conversation or weights file");
    return [args]() -> int {
        const std::vector<int> input = parse_ids(args->input_ids, "--input-ids");
        const std::vector<int> decoder = parse_ids(args->decoder_ids, "--decoder-ids");
        const auto model = args->model.load();
        std::vector<Input> inputs = model_inputs(*model);
        check_output_path(args->out, "--out", inputs, args->force, /*replaceable_score=*/true);
        // Before anything is allocated: the self-attention scores of one pass grow with the square of the length.
        if (static_cast<int64_t>(input.size()) > Model::kMaxEncoderTokens)
            throw Error("--input-ids has " + std::to_string(input.size()) + " ids; the limit is " +
                        std::to_string(Model::kMaxEncoderTokens));
        check_score_limits(model->config(), static_cast<int64_t>(input.size()), static_cast<int64_t>(decoder.size()));
        Workspace ws;
        Tensor encoded = model->encode(input, ws);
        Tensor logits = model->decode_all(decoder, encoded, ws);
        write_safetensors(args->out, {{"encoder_hidden", encoded}, {"logits", logits}});
        return 0;
    };
}

}  // namespace umt5::cli
