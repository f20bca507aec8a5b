// Conversations whose KV cache persists: continue, truncate, regenerate, eviction and rebuild, save and load.
#include <QtTest>

#include <optional>

#include <fstream>

#include "core/chat/conversation.h"
#include "test_util.h"

using namespace umt5;

namespace {

GenerationOptions greedy(int tokens) {
    GenerationOptions o;
    o.max_new_tokens = tokens;
    o.ignore_eos = true;
    return o;
}

std::vector<int> one_run(const Model& model, const std::string& prompt, const GenerationOptions& options) {
    return generate(model, prompt, options).output_ids;
}



const char* kPrompt = "translate English to German: Save the file";

}  // namespace

class TestConversation : public QObject {
    Q_OBJECT

    std::shared_ptr<const Model> tiny_b_;  // untied, varied greedy output
    std::shared_ptr<const Model> tiny_a_;
    QTemporaryDir dir_;

    std::filesystem::path temp(const char* name) const { return std::filesystem::path(dir_.path().toStdString()) / name; }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        tiny_b_ = Model::load(umt5test::data_dir() / "umt5-tiny-b");
        tiny_a_ = Model::load(umt5test::tiny_a_dir());
    }

    void continueEqualsOneRun_data() {
        QTest::addColumn<int>("first");
        QTest::addColumn<int>("more");
        QTest::addColumn<bool>("viaFile");
        QTest::newRow("memory 5+7") << 5 << 7 << false;
        QTest::newRow("file 5+7") << 5 << 7 << true;
        QTest::newRow("file 1+15") << 1 << 15 << true;
        QTest::newRow("file 12+3") << 12 << 3 << true;
    }
    void continueEqualsOneRun() {
        QFETCH(int, first);
        QFETCH(int, more);
        QFETCH(bool, viaFile);
        const std::vector<int> expected = one_run(*tiny_b_, kPrompt, greedy(first + more));

        Conversation conversation;
        conversation.submit(*tiny_b_, kPrompt, greedy(first));
        QCOMPARE(conversation.turns().back().output_ids.size(), size_t(first));
        if (viaFile) {
            conversation.save(temp("continue.umt5session"), tiny_b_.get(), true);
            std::string warning;
            conversation = Conversation::load(temp("continue.umt5session"), tiny_b_.get(), &warning);
            QVERIFY2(warning.empty(), warning.c_str());
            QVERIFY(conversation.has_cache());
        }
        const GenerationResult result = conversation.continue_answer(*tiny_b_, greedy(more));
        QCOMPARE(result.output_ids, expected);
        QCOMPARE(conversation.turns().back().output_ids, expected);
        QVERIFY(result.stats.encoder_reused);
        QCOMPARE(result.stats.encode_ms, 0.0);
        QCOMPARE(result.stats.tokens, more);
    }

    void continueWithoutCacheRebuilds() {
        const std::vector<int> expected = one_run(*tiny_b_, kPrompt, greedy(10));
        Conversation conversation;
        conversation.submit(*tiny_b_, kPrompt, greedy(4));
        conversation.save(temp("nocache.umt5session"), tiny_b_.get(), /*include_cache=*/false);
        conversation = Conversation::load(temp("nocache.umt5session"), tiny_b_.get());
        QVERIFY(!conversation.has_cache());
        const GenerationResult result = conversation.continue_answer(*tiny_b_, greedy(6));
        QCOMPARE(result.output_ids, expected);
        QVERIFY(!result.stats.encoder_reused);
    }

    void sampledContinuationEqualsOneRun() {
        GenerationOptions sampled = greedy(14);
        sampled.sampling.temperature = 0.9f;
        sampled.sampling.top_k = 40;
        sampled.sampling.seed = 1234;
        const std::vector<int> expected = one_run(*tiny_b_, kPrompt, sampled);
        QVERIFY(expected != one_run(*tiny_b_, kPrompt, greedy(14)));

        GenerationOptions part = sampled;
        part.max_new_tokens = 6;
        Conversation conversation;
        conversation.submit(*tiny_b_, kPrompt, part);
        conversation.save(temp("sampled.umt5session"), tiny_b_.get(), true);
        conversation = Conversation::load(temp("sampled.umt5session"), tiny_b_.get());
        part.max_new_tokens = 8;
        QCOMPARE(conversation.continue_answer(*tiny_b_, part).output_ids, expected);
    }

    void truncateThenContinueEqualsFreshRun_data() {
        QTest::addColumn<int>("keep");
        QTest::newRow("keep 0") << 0;
        QTest::newRow("keep 3") << 3;
        QTest::newRow("keep 9") << 9;
    }
    void truncateThenContinueEqualsFreshRun() {
        QFETCH(int, keep);
        const std::vector<int> expected = one_run(*tiny_b_, kPrompt, greedy(keep + 5));
        Conversation conversation;
        conversation.submit(*tiny_b_, kPrompt, greedy(12));
        conversation.truncate(keep);
        QCOMPARE(conversation.turns().back().output_ids.size(), size_t(keep));
        const GenerationResult result = conversation.continue_answer(*tiny_b_, greedy(5));
        QCOMPARE(result.output_ids, expected);
        QVERIFY(result.stats.encoder_reused);
    }

    void truncateOutOfRangeFails() {
        Conversation conversation;
        conversation.submit(*tiny_b_, kPrompt, greedy(3));
        QVERIFY_THROWS_EXCEPTION(Error, conversation.truncate(4));
        QVERIFY_THROWS_EXCEPTION(Error, conversation.truncate(-1));
        QCOMPARE(conversation.turns().back().output_ids.size(), size_t(3));
    }

    void regenerateEqualsFreshRunAndReusesEncoder() {
        const std::vector<int> expected = one_run(*tiny_b_, kPrompt, greedy(8));
        Conversation conversation;
        conversation.submit(*tiny_b_, kPrompt, greedy(3));
        const GenerationResult result = conversation.regenerate(*tiny_b_, greedy(8));
        QCOMPARE(result.output_ids, expected);
        QCOMPARE(conversation.turns().size(), size_t(1));
        QVERIFY(result.stats.encoder_reused);
    }

    void continueAfterEosDropsIt() {
        // The demo model ends its translation with eos; continuing must not feed past it twice.
        const auto demo = Model::load(umt5test::demo_model_dir());
        GenerationOptions options;
        options.max_new_tokens = 32;
        Conversation conversation;
        const GenerationResult first = conversation.submit(*demo, "translate English to German: File not found", options);
        QCOMPARE(first.finish, FinishReason::Eos);
        QCOMPARE(first.output_ids.back(), 1);
        GenerationOptions forced = greedy(3);
        const GenerationResult more = conversation.continue_answer(*demo, forced);
        std::vector<int> expected_prefix(first.output_ids.begin(), first.output_ids.end() - 1);
        QCOMPARE(std::vector<int>(more.output_ids.begin(), more.output_ids.begin() + expected_prefix.size()),
                 expected_prefix);
        QCOMPARE(more.output_ids.size(), expected_prefix.size() + 3);
        QCOMPARE(more.output_ids,
                 one_run(*demo, "translate English to German: File not found", greedy(int(expected_prefix.size()) + 3)));
    }

    void carriedContextIncludesEarlierTurns() {
        Conversation conversation;
        conversation.set_carry_context(true);
        conversation.submit(*tiny_b_, "first question", greedy(3));
        conversation.submit(*tiny_b_, "second question", greedy(3));
        const Turn& second = conversation.turns().back();
        const Turn& first = conversation.turns().front();
        QCOMPARE(second.encoder_text, "first question\n" + first.answer + "\nsecond question");
        QCOMPARE(second.prompt_ids, tiny_b_->prompt_ids(second.encoder_text));

        Conversation standalone;
        standalone.submit(*tiny_b_, "first question", greedy(3));
        standalone.submit(*tiny_b_, "second question", greedy(3));
        QCOMPARE(standalone.turns().back().encoder_text, std::string("second question"));
    }

    void storeEvictsLeastRecentlyUsedAndRebuilds() {
        ConversationStore store(1 << 30);
        Conversation& a = store.create();
        Conversation& b = store.create();
        Conversation& c = store.create();
        a.submit(*tiny_b_, "alpha", greedy(6));
        b.submit(*tiny_b_, "beta", greedy(6));
        c.submit(*tiny_b_, "gamma", greedy(6));
        QVERIFY(a.has_cache() && b.has_cache() && c.has_cache());
        const size_t one = c.cache_bytes();
        QVERIFY(one > 0);
        QCOMPARE(store.cache_bytes(), a.cache_bytes() + b.cache_bytes() + c.cache_bytes());

        // Room for about two caches: the oldest (a) goes.
        store.set_budget(b.cache_bytes() + c.cache_bytes());
        QVERIFY(!a.has_cache());
        QVERIFY(b.has_cache() && c.has_cache());
        QVERIFY(store.cache_bytes() <= store.budget());

        // Using a again rebuilds its cache (the encoder runs) and gives the same tokens as one run.
        const GenerationResult more = a.continue_answer(*tiny_b_, greedy(4));
        QVERIFY(!more.stats.encoder_reused);
        QCOMPARE(more.output_ids, one_run(*tiny_b_, "alpha", greedy(10)));
        // Now b is the least recently used: with room for a and c, only b goes.
        store.set_budget(a.cache_bytes() + c.cache_bytes());
        QVERIFY(!b.has_cache());
        QVERIFY(a.has_cache() && c.has_cache());
        // The conversation to keep is evicted last, even when it is the least recently used.
        c.continue_answer(*tiny_b_, greedy(1));
        QVERIFY(a.last_used() < c.last_used());
        ConversationStore tight(1 << 30);
        Conversation& kept = tight.add(Conversation::from_json(a.to_json(), "a"));
        Conversation& other = tight.add(Conversation::from_json(c.to_json(), "c"));
        kept.continue_answer(*tiny_b_, greedy(1));
        other.continue_answer(*tiny_b_, greedy(1));
        tight.set_budget(kept.cache_bytes(), &kept);
        QVERIFY(kept.has_cache());  // fits alone
        QVERIFY(!other.has_cache());
        kept.continue_answer(*tiny_b_, greedy(1));
        other.continue_answer(*tiny_b_, greedy(1));
        QCOMPARE(tight.enforce_budget(&kept), 1);
        QVERIFY(kept.has_cache() && !other.has_cache());

        store.set_budget(0);
        QCOMPARE(store.cache_bytes(), size_t(0));
        QVERIFY(store.remove(b.id()));
        QCOMPARE(store.size(), size_t(2));
    }

    void saveLoadRoundTripKeepsTranscript() {
        Conversation conversation;
        conversation.set_title("Übersetzung — テスト ✓");
        conversation.set_carry_context(true);
        conversation.submit(*tiny_b_, "Привет, мир! مرحبا 🙂", greedy(4));
        conversation.submit(*tiny_b_, "second", greedy(2));
        conversation.save(temp("roundtrip.umt5session"), tiny_b_.get(), true);
        const Conversation loaded = Conversation::load(temp("roundtrip.umt5session"), tiny_b_.get());
        QCOMPARE(loaded.to_json(), conversation.to_json());
        QCOMPARE(loaded.id(), conversation.id());
        QCOMPARE(loaded.turns().size(), size_t(2));
        QCOMPARE(loaded.turns().front().prompt, std::string("Привет, мир! مرحبا 🙂"));
        QVERIFY(loaded.has_cache());
    }

    void cacheOfAnotherModelIsRefused() {
        Conversation conversation;
        conversation.submit(*tiny_b_, kPrompt, greedy(4));
        conversation.save(temp("other.umt5session"), tiny_b_.get(), true);

        std::string warning;
        const Conversation relaxed = Conversation::load(temp("other.umt5session"), tiny_a_.get(), &warning);
        QVERIFY(!relaxed.has_cache());
        QCOMPARE(relaxed.turns().size(), size_t(1));
        QVERIFY2(warning.find("belongs to model \"umt5-tiny-b\", not to the loaded model \"umt5-tiny-a\"") !=
                     std::string::npos, warning.c_str());
        try {
            Conversation::load_strict(temp("other.umt5session"), *tiny_a_);
            QFAIL("a cache of another model was accepted");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("other.umt5session: the saved cache belongs to model") == 0 ||
                         std::string(e.what()).find("the saved cache belongs to model") != std::string::npos,
                     e.what());
        }
        // The same model in another precision is another model for the cache, and the message says why: bf16,
        // or int8, whichever runs on this CPU.
        std::optional<Precision> other;
        for (Precision p : {Precision::BF16, Precision::Int8})
            if (!other && precision_support(p).runs) other = p;
        if (!other) {
            qInfo("neither bf16 nor int8 runs here, so caches across precisions are not checked: %s; %s",
                  precision_support(Precision::BF16).reason.c_str(), precision_support(Precision::Int8).reason.c_str());
        } else {
            LoadOptions options;
            options.precision = *other;
            const auto tiny_b_other = Model::load(umt5test::data_dir() / "umt5-tiny-b", options);
            warning.clear();
            QVERIFY(!Conversation::load(temp("other.umt5session"), tiny_b_other.get(), &warning).has_cache());
            QCOMPARE(warning, "the saved cache was computed with fp32 weights, not with the loaded " +
                                  std::string(precision_name(*other)) +
                                  " weights of \"umt5-tiny-b\"; it will be rebuilt when needed");
        }
        // Continuing on the other model rebuilds from the transcript.
        Conversation rebuilt = Conversation::load(temp("other.umt5session"), tiny_a_.get());
        QVERIFY(!rebuilt.continue_answer(*tiny_a_, greedy(2)).stats.encoder_reused);
    }

    void damagedFilesGiveClearErrorsAndStayUntouched_data() {
        QTest::addColumn<QString>("damage");
        QTest::addColumn<bool>("transcriptRecovered");
        QTest::addColumn<QString>("message");
        QTest::newRow("truncated data") << "truncate-data" << true << "";
        QTest::newRow("truncated header") << "truncate-header" << false << "";
        QTest::newRow("empty file") << "empty" << false << "";
        QTest::newRow("garbage") << "garbage" << false << "";
        QTest::newRow("future version") << "future" << false << "is newer than this program supports";
        QTest::newRow("not a session") << "not-session" << false << "not a umT5 Studio conversation";
    }
    void damagedFilesGiveClearErrorsAndStayUntouched() {
        QFETCH(QString, damage);
        QFETCH(bool, transcriptRecovered);
        QFETCH(QString, message);
        Conversation conversation;
        conversation.submit(*tiny_b_, kPrompt, greedy(6));
        const auto path = temp("damaged.umt5session");
        conversation.save(path, tiny_b_.get(), true);
        std::string bytes = umt5test::read_file(path);
        uint64_t header = 0;
        std::memcpy(&header, bytes.data(), 8);
        if (damage == "truncate-data") bytes.resize(8 + header + 100);
        if (damage == "truncate-header") bytes.resize(8 + header / 2);
        if (damage == "empty") bytes.clear();
        if (damage == "garbage") bytes = std::string(4096, '\x7f');
        if (damage == "future" || damage == "not-session") {
            Conversation other = Conversation::from_json(conversation.to_json(), "test");
            std::string json = other.to_json();
            if (damage == "future") json.replace(json.find("\"version\":1"), 11, "\"version\":99");
            if (damage == "not-session") json.replace(json.find("umt5-session"), 12, "something-else");
            QVERIFY_THROWS_EXCEPTION(Error, Conversation::from_json(json, "x"));
            try {
                Conversation::from_json(json, "x");
            } catch (const Error& e) {
                QVERIFY2(std::string(e.what()).find(message.toStdString()) != std::string::npos, e.what());
                QVERIFY(std::string(e.what()).find('\n') == std::string::npos);
            }
            return;
        }
        umt5test::write_file(path, bytes);
        if (transcriptRecovered) {
            std::string warning;
            const Conversation loaded = Conversation::load(path, tiny_b_.get(), &warning);
            QCOMPARE(loaded.turns().size(), size_t(1));
            QCOMPARE(loaded.turns().back().output_ids, conversation.turns().back().output_ids);
            QVERIFY(!loaded.has_cache());
            QVERIFY2(warning.find("unusable") != std::string::npos, warning.c_str());
        } else {
            try {
                Conversation::load(path, tiny_b_.get());
                QFAIL("a damaged session loaded");
            } catch (const Error& e) {
                const std::string what = e.what();
                QVERIFY2(what.rfind(path.string(), 0) == 0, e.what());
                QVERIFY(what.find('\n') == std::string::npos);
            }
        }
        QCOMPARE(umt5test::read_file(path), bytes);  // a failed or partial load never rewrites the file
    }

    void manyConversationsAlive() {
        std::vector<Conversation> conversations(4);
        for (size_t i = 0; i < conversations.size(); ++i)
            conversations[i].submit(*tiny_b_, "prompt " + std::to_string(i), greedy(3));
        for (size_t i = 0; i < conversations.size(); ++i)
            QCOMPARE(conversations[i].continue_answer(*tiny_b_, greedy(2)).output_ids,
                     one_run(*tiny_b_, "prompt " + std::to_string(i), greedy(5)));
    }
};

QTEST_GUILESS_MAIN(TestConversation)
#include "test_conversation.moc"
