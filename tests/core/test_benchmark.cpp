// The cache on / cache off benchmark API on umt5-tiny-a: every statistic is filled in, both modes produce the same
// ids, runs alternate and report every token, and the stop flag cancels. No test asserts a timing.
#include <QtTest>

#include <atomic>

#include "core/chat/benchmark.h"
#include "test_util.h"

using namespace umt5;

namespace {

const char* const kPrompt = "translate English to German: The house is wonderful.";

void verify_mode(const BenchmarkModeResult& mode, int new_tokens, int runs) {
    QCOMPARE(mode.runs, runs);
    QVERIFY(mode.tokens_per_s > 0);
    QVERIFY(mode.ms_per_token_median > 0);
    QVERIFY(mode.first_token_ms > 0);
    QVERIFY(mode.total_ms >= mode.first_token_ms);
    QCOMPARE(static_cast<int>(mode.per_position_ms.size()), new_tokens);
    for (double ms : mode.per_position_ms) QVERIFY(ms > 0);
    QCOMPARE(static_cast<int>(mode.output_ids.size()), new_tokens);
}

}  // namespace

class TestBenchmark : public QObject {
    Q_OBJECT

    std::shared_ptr<const Model> tiny_;

private slots:
    void initTestCase() { tiny_ = Model::load(umt5test::tiny_a_dir()); }

    void reportsBothModes() {
        BenchmarkOptions options;
        options.prompt = kPrompt;
        options.new_tokens = 12;
        options.repeat = 2;
        const BenchmarkResult r = run_benchmark(*tiny_, options);
        QCOMPARE(r.new_tokens, 12);
        QCOMPARE(r.repeat, 2);
        QCOMPARE(r.prompt_tokens, static_cast<int>(tiny_->prompt_ids(kPrompt).size()));
        verify_mode(r.cache_on, 12, 2);
        verify_mode(r.cache_off, 12, 2);
        QVERIFY(r.speedup > 0);
        QVERIFY(r.identical);
        QVERIFY(!r.stopped);
        QCOMPARE(r.cache_on.output_ids, r.cache_off.output_ids);
        QCOMPARE(r.cache_on.text, tiny_->tokenizer().decode(r.cache_on.output_ids));
    }

    // Forced tokens: eos does not end a run, so every run has exactly new_tokens ids.
    void forcesTheTokenCount() {
        BenchmarkOptions options;
        options.prompt = kPrompt;
        options.new_tokens = 40;
        const BenchmarkResult r = run_benchmark(*tiny_, options);
        QCOMPARE(static_cast<int>(r.cache_on.output_ids.size()), 40);
        QCOMPARE(static_cast<int>(r.cache_off.output_ids.size()), 40);
        QVERIFY(r.identical);
    }

    // Every run restarts the sampler from the same seed, so sampled runs agree too.
    void sampledRunsAgree() {
        BenchmarkOptions options;
        options.prompt = kPrompt;
        options.new_tokens = 10;
        options.repeat = 2;
        options.sampling.temperature = 1.5f;
        options.sampling.seed = 11;
        const BenchmarkResult r = run_benchmark(*tiny_, options);
        QVERIFY(r.identical);
        verify_mode(r.cache_off, 10, 2);
    }

    // Runs alternate on, off, on, off; within a run positions count up and the ids are the run's output.
    void eventsAlternate() {
        BenchmarkOptions options;
        options.prompt = kPrompt;
        options.new_tokens = 5;
        options.repeat = 2;
        std::vector<BenchmarkTokenEvent> events;
        const BenchmarkResult r =
            run_benchmark(*tiny_, options, [&](const BenchmarkTokenEvent& e) { events.push_back(e); });
        QCOMPARE(static_cast<int>(events.size()), 2 * 2 * 5);
        for (size_t i = 0; i < events.size(); ++i) {
            const int block = static_cast<int>(i) / 5;
            const BenchmarkTokenEvent& e = events[i];
            QCOMPARE(e.mode, block % 2 == 0 ? BenchmarkMode::CacheOn : BenchmarkMode::CacheOff);
            QCOMPARE(e.run, block / 2);
            QCOMPARE(e.position, static_cast<int>(i) % 5);
            QVERIFY(e.ms > 0);
            QCOMPARE(e.id, r.cache_on.output_ids[static_cast<size_t>(e.position)]);
        }
        std::string streamed;
        for (int i = 0; i < 5; ++i) streamed += events[static_cast<size_t>(i)].text;
        QCOMPARE(streamed, r.cache_on.text);
    }

    // Setting the flag from the callback stops at the next token; the cut-off run does not count.
    void stopFlagCancels() {
        std::atomic<bool> stop{false};
        BenchmarkOptions options;
        options.prompt = kPrompt;
        options.new_tokens = 30;
        options.repeat = 3;
        options.stop = &stop;
        int events = 0;
        const BenchmarkResult r = run_benchmark(*tiny_, options, [&](const BenchmarkTokenEvent&) {
            if (++events == 3) stop = true;
        });
        QCOMPARE(events, 3);
        QVERIFY(r.stopped);
        QCOMPARE(r.cache_on.runs, 0);
        QCOMPARE(r.cache_off.runs, 0);
        QVERIFY(r.cache_on.per_position_ms.empty());
        QVERIFY(!r.identical);
        QCOMPARE(r.speedup, 0.0);
    }

    // Stopping during the second mode keeps the completed first run.
    void stopKeepsCompletedRuns() {
        std::atomic<bool> stop{false};
        BenchmarkOptions options;
        options.prompt = kPrompt;
        options.new_tokens = 4;
        options.repeat = 2;
        options.stop = &stop;
        const BenchmarkResult r = run_benchmark(*tiny_, options, [&](const BenchmarkTokenEvent& e) {
            if (e.mode == BenchmarkMode::CacheOff) stop = true;
        });
        QVERIFY(r.stopped);
        QCOMPARE(r.cache_on.runs, 1);
        QCOMPARE(r.cache_off.runs, 0);
        QCOMPARE(static_cast<int>(r.cache_on.per_position_ms.size()), 4);
    }

    void stopBeforeStart() {
        std::atomic<bool> stop{true};
        BenchmarkOptions options;
        options.prompt = kPrompt;
        options.stop = &stop;
        int events = 0;
        const BenchmarkResult r = run_benchmark(*tiny_, options, [&](const BenchmarkTokenEvent&) { ++events; });
        QCOMPARE(events, 0);
        QVERIFY(r.stopped);
        QCOMPARE(r.cache_on.runs, 0);
    }

    void rejectsInvalidOptions() {
        BenchmarkOptions options;
        options.prompt = kPrompt;
        options.new_tokens = 0;
        QVERIFY_THROWS_EXCEPTION(Error, run_benchmark(*tiny_, options));
        options.new_tokens = 4;
        options.repeat = 0;
        QVERIFY_THROWS_EXCEPTION(Error, run_benchmark(*tiny_, options));
        options.repeat = 1;
        options.prompt = "   ";
        QVERIFY_THROWS_EXCEPTION(Error, run_benchmark(*tiny_, options));
        options.prompt = kPrompt;
        options.sampling.temperature = -1;
        QVERIFY_THROWS_EXCEPTION(Error, run_benchmark(*tiny_, options));
    }
};

QTEST_GUILESS_MAIN(TestBenchmark)
#include "test_benchmark.moc"
