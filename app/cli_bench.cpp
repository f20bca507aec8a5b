// `umt5 bench`: decoding speed with the KV cache versus without it, as a table or as JSON.
#include <cstdio>
#include <iostream>

#include "app/cli.h"
#include "core/chat/benchmark.h"
#include "core/engine/runtime.h"

namespace umt5::cli {

namespace {

nlohmann::json mode_json(const BenchmarkModeResult& mode) {
    return {{"tokens_per_s", mode.tokens_per_s},
            {"ms_per_token_median", mode.ms_per_token_median},
            {"first_token_ms", mode.first_token_ms},
            {"total_ms", mode.total_ms},
            {"per_position_ms", mode.per_position_ms},
            {"output_ids", mode.output_ids},
            {"runs", mode.runs}};
}

// "2 threads", or for the automatic setting "auto threads (decoder steps at 1: 40, at 2: 500)".
std::string threads_text() {
    if (!automatic_threads()) {
        const int threads = num_threads();
        return std::to_string(threads) + (threads == 1 ? " thread" : " threads");
    }
    std::string text = "auto threads (decoder steps";
    const std::vector<int64_t> steps = decoder_steps_per_thread_count();
    const char* separator = " at ";
    for (size_t count = 1; count < steps.size(); ++count) {
        if (steps[count] == 0) continue;
        text += separator + std::to_string(count) + ": " + std::to_string(steps[count]);
        separator = ", at ";
    }
    return text + ")";
}

// The thread setting for --json: the fixed count, or "auto" with the steps run at each count.
void add_threads_json(nlohmann::json& out) {
    if (!automatic_threads()) {
        out["threads"] = num_threads();
        return;
    }
    out["threads"] = "auto";
    nlohmann::json steps = nlohmann::json::object();
    const std::vector<int64_t> counts = decoder_steps_per_thread_count();
    for (size_t count = 1; count < counts.size(); ++count)
        if (counts[count] > 0) steps[std::to_string(count)] = counts[count];
    out["decoder_steps_per_thread_count"] = steps;
}

void print_table(const BenchmarkResult& r, const Model& model) {
    std::printf("model %s (%s), prompt %d tokens, %d new tokens forced, %d run%s per mode (alternating), %s, "
                "%s kernels\n\n",
                model.name().c_str(), precision_name(model.precision()), r.prompt_tokens, r.new_tokens, r.repeat,
                r.repeat == 1 ? "" : "s", threads_text().c_str(), kernel_isa().c_str());
    std::printf("%-26s %12s %12s\n", "", "cache on", "cache off");
    auto row = [](const char* label, double on, double off) { std::printf("%-26s %12.2f %12.2f\n", label, on, off); };
    row("tokens/s", r.cache_on.tokens_per_s, r.cache_off.tokens_per_s);
    row("ms/token (median)", r.cache_on.ms_per_token_median, r.cache_off.ms_per_token_median);
    row("first token ms", r.cache_on.first_token_ms, r.cache_off.first_token_ms);
    row("total ms", r.cache_on.total_ms, r.cache_off.total_ms);
    // A few positions show how the cost of a token grows with the prefix.
    const int n = r.new_tokens;
    int last_shown = -1;
    for (int position : {0, n / 4, n / 2, (3 * n) / 4, n - 1}) {
        if (position <= last_shown || r.cache_on.per_position_ms.empty() || r.cache_off.per_position_ms.empty())
            continue;
        last_shown = position;
        const std::string label = "ms at token " + std::to_string(position + 1);
        row(label.c_str(), r.cache_on.per_position_ms[static_cast<size_t>(position)],
            r.cache_off.per_position_ms[static_cast<size_t>(position)]);
    }
    std::printf("\nspeedup with the cache: %.2fx; outputs identical: %s\n", r.speedup, r.identical ? "yes" : "NO");
}

}  // namespace

Action add_bench(CLI::App& app) {
    struct Args {
        ModelArgs model;
        BenchmarkOptions options;
        bool json = false;
    };
    auto args = std::make_shared<Args>();
    CLI::App* command = app.add_subcommand(
        "bench", "Measure decoding with the KV cache against recomputing the whole prefix (eos ignored)");
    args->model.add_to(*command);
    command->add_option("--prompt", args->options.prompt, "The prompt to decode from")->required();
    command->add_option("--new-tokens", args->options.new_tokens, "Tokens to generate in every run")
        ->required()->check(CLI::Range(1, 100000));
    command->add_option("--repeat", args->options.repeat, "Runs per mode, alternating; medians are reported")
        ->capture_default_str()->check(CLI::Range(1, 1000));
    command->add_option("--temperature", args->options.sampling.temperature, "Sampling temperature; 0 = greedy")
        ->capture_default_str();
    command->add_option("--top-k", args->options.sampling.top_k, "Sample among the k most likely tokens (0 = all)")
        ->capture_default_str();
    command->add_option("--top-p", args->options.sampling.top_p, "Nucleus sampling probability mass")
        ->capture_default_str();
    command->add_option("--seed", args->options.sampling.seed, "Random seed for sampling")->capture_default_str();
    command->add_flag("--json", args->json, "Print one JSON object instead of a table");

    return [args]() -> int {
        const auto model = args->model.load();
        const BenchmarkResult r = run_benchmark(*model, args->options);
        if (!args->json) {
            print_table(r, *model);
            return 0;
        }
        nlohmann::json out = {{"model", model->name()},
                              {"model_dir", model->dir().string()},
                              {"prompt_tokens", r.prompt_tokens},
                              {"new_tokens", r.new_tokens},
                              {"repeat", r.repeat}};
        add_threads_json(out);
        out.update({{"precision", precision_name(model->precision())},
                    {"kernels", kernel_isa()},
                    {"cache_on", mode_json(r.cache_on)},
                    {"cache_off", mode_json(r.cache_off)},
                    {"speedup", r.speedup},
                    {"identical", r.identical}});
        std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
        return 0;
    };
}

}  // namespace umt5::cli
