// Runaway-answer guards of continue_generation: the length limit relative to the input (length_ratio,
// length_offset), the repeated n-gram guard (stop_repeats), their finish reasons, and answers cut inside a UTF-8
// character, which drop the incomplete bytes instead of ending in U+FFFD.
#include <QtTest>

#include <filesystem>

#include "core/chat/conversation.h"
#include "core/chat/generation.h"
#include "core/engine/model.h"
#include "core/formats/checkpoint.h"
#include "test_util.h"

using namespace umt5;

namespace {

const std::string kReplacement = "\xEF\xBF\xBD";

std::vector<int> row_ids(const Tensor& ids, int64_t row, int64_t length) {
    const int32_t* p = ids.data<int32_t>() + row * ids.dim(1);
    return std::vector<int>(p, p + length);
}

int64_t row_length(const Tensor& mask, int64_t row) {
    int64_t n = 0;
    for (int64_t j = 0; j < mask.dim(1); ++j) n += mask.data<int32_t>()[row * mask.dim(1) + j];
    return n;
}

}  // namespace

class TestGenerationLimits : public QObject {
    Q_OBJECT

    std::shared_ptr<const Model> tiny_;
    std::shared_ptr<const Model> demo_;
    Checkpoint reference_;

    GenerationResult run_row(int row, const GenerationOptions& options, std::string* streamed = nullptr) {
        DecodingState state;
        state.prompt_ids = row_ids(reference_.get("input_ids"), row, row_length(reference_.get("attention_mask"), row));
        Sampler sampler(options.sampling);
        Workspace ws;
        return continue_generation(
            *tiny_, state, sampler, options,
            [streamed](const TokenEvent& e) {
                if (streamed) *streamed += e.text;
                return true;
            },
            ws, std::chrono::steady_clock::now());
    }

private slots:
    void initTestCase() {
        tiny_ = Model::load(umt5test::tiny_a_dir());
        demo_ = Model::load(umt5test::demo_model_dir());
        reference_ = Checkpoint::open_file(umt5test::tiny_a_dir() / "reference.safetensors");
    }

    void repeatedNgram_data() {
        QTest::addColumn<std::vector<int>>("ids");
        QTest::addColumn<int>("repeats");
        QTest::addColumn<int>("expected");
        QTest::newRow("empty") << std::vector<int>{} << 4 << 0;
        QTest::newRow("one token x4") << std::vector<int>{7, 5, 5, 5, 5} << 4 << 1;
        QTest::newRow("one token x3 of 4") << std::vector<int>{7, 5, 5, 5} << 4 << 0;
        QTest::newRow("bigram x3") << std::vector<int>{9, 1, 2, 1, 2, 1, 2} << 3 << 2;
        QTest::newRow("bigram broken") << std::vector<int>{1, 2, 1, 3, 1, 2} << 3 << 0;
        QTest::newRow("8-gram x2") << std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8} << 2 << 8;
        QTest::newRow("9-gram is too long") << std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9}
                                            << 2 << 0;
        QTest::newRow("off") << std::vector<int>{5, 5, 5, 5, 5, 5} << 0 << 0;
        QTest::newRow("one repeat means off") << std::vector<int>{5, 5} << 1 << 0;
        QTest::newRow("shortest period wins") << std::vector<int>{5, 5, 5, 5} << 2 << 1;
    }
    void repeatedNgram() {
        QFETCH(std::vector<int>, ids);
        QFETCH(int, repeats);
        QFETCH(int, expected);
        QCOMPARE(repeated_ngram(ids, repeats), expected);
    }

    void translatePrompt_data() {
        QTest::addColumn<QString>("prompt");
        QTest::addColumn<bool>("translate");
        QTest::newRow("plain") << "translate English to German: Open the file" << true;
        QTest::newRow("two lines") << "translate English to German: Open\nthe file" << true;
        QTest::newRow("no colon") << "translate English to German Open the file" << false;
        QTest::newRow("no target") << "translate this: Open the file" << false;
        QTest::newRow("not a prefix") << "Please translate English to German: x" << false;
        QTest::newRow("summarize") << "summarize: a long text" << false;
        QTest::newRow("colon on a later line") << "translate English to German\nnote: x" << false;
    }
    void translatePrompt() {
        QFETCH(QString, prompt);
        QFETCH(bool, translate);
        QCOMPARE(is_translate_prompt(prompt.toStdString()), translate);
        QCOMPARE(default_length_ratio(prompt.toStdString()), translate ? kTranslateLengthRatio : 0.0);
    }

    void inputLengthLimit_data() {
        QTest::addColumn<double>("ratio");
        QTest::addColumn<int>("offset");
        QTest::addColumn<int>("inputTokens");
        QTest::addColumn<int>("expected");
        QTest::newRow("off") << 0.0 << 10 << 9 << -1;
        QTest::newRow("translate default") << 2.0 << 10 << 9 << 28;
        QTest::newRow("fraction rounds down") << 1.5 << 0 << 5 << 7;
        QTest::newRow("offset only counts when on") << 0.0 << 50 << 5 << -1;
    }
    void inputLengthLimit() {
        QFETCH(double, ratio);
        QFETCH(int, offset);
        QFETCH(int, inputTokens);
        QFETCH(int, expected);
        GenerationOptions options;
        options.length_ratio = ratio;
        options.length_offset = offset;
        QCOMPARE(input_length_limit(options, static_cast<size_t>(inputTokens)), expected);
    }

    void finishNamesRoundTrip() {
        for (FinishReason reason : {FinishReason::Length, FinishReason::Eos, FinishReason::Stopped,
                                    FinishReason::InputLength, FinishReason::Repetition})
            QCOMPARE(finish_reason_from_name(finish_reason_name(reason)), std::optional<FinishReason>(reason));
        QCOMPARE(finish_reason_from_name("loop"), std::optional<FinishReason>());
    }

    // ratio x input tokens + offset, below max_new_tokens: the answer stops there with its own finish reason.
    void lengthRatioStopsTheAnswer_data() {
        QTest::addColumn<double>("ratio");
        QTest::addColumn<int>("offset");
        QTest::newRow("1x + 0") << 1.0 << 0;
        QTest::newRow("0.5x + 3") << 0.5 << 3;
    }
    void lengthRatioStopsTheAnswer() {
        QFETCH(double, ratio);
        QFETCH(int, offset);
        GenerationOptions options;
        options.max_new_tokens = 40;
        options.ignore_eos = true;
        options.length_ratio = ratio;
        options.length_offset = offset;
        const GenerationResult limited = run_row(0, options);
        const int expected = static_cast<int>(ratio * static_cast<double>(limited.prompt_ids.size())) + offset;
        QVERIFY(expected < options.max_new_tokens);
        QCOMPARE(static_cast<int>(limited.output_ids.size()), expected);
        QCOMPARE(limited.finish, FinishReason::InputLength);
        options.length_ratio = 0;
        const GenerationResult free = run_row(0, options);
        QCOMPARE(static_cast<int>(free.output_ids.size()), 40);
        QCOMPARE(free.finish, FinishReason::Length);
        QCOMPARE(std::vector<int>(free.output_ids.begin(), free.output_ids.begin() + expected), limited.output_ids);
    }

    void limitAtMaxNewTokensIsLength() {
        GenerationOptions options;
        options.ignore_eos = true;
        options.length_ratio = 1.0;
        options.length_offset = 0;
        const GenerationResult probe = run_row(0, options);
        options.max_new_tokens = static_cast<int>(probe.prompt_ids.size());
        const GenerationResult both = run_row(0, options);
        QCOMPARE(static_cast<int>(both.output_ids.size()), options.max_new_tokens);
        QCOMPARE(both.finish, FinishReason::Length);
    }

    // The demo model past its eos falls into a loop; the guard stops at the first point where the answer ends in
    // `repeats` copies of one n-gram, keeping everything generated up to there.
    void repetitionGuardStopsALoop_data() {
        QTest::addColumn<int>("repeats");
        QTest::newRow("4") << 4;
        QTest::newRow("3") << 3;
    }
    void repetitionGuardStopsALoop() {
        QFETCH(int, repeats);
        GenerationOptions options;
        options.max_new_tokens = 96;
        options.ignore_eos = true;
        const GenerationResult free = generate(*demo_, "translate English to German: Open the file", options);
        size_t loop_end = 0;
        for (size_t n = 1; n <= free.output_ids.size() && loop_end == 0; ++n)
            if (repeated_ngram(std::vector<int>(free.output_ids.begin(), free.output_ids.begin() + n), repeats) > 0)
                loop_end = n;
        QVERIFY2(loop_end > 0, "the unguarded answer has no loop to stop");
        options.stop_repeats = repeats;
        const GenerationResult guarded = generate(*demo_, "translate English to German: Open the file", options);
        QCOMPARE(guarded.finish, FinishReason::Repetition);
        QCOMPARE(guarded.output_ids,
                 std::vector<int>(free.output_ids.begin(), free.output_ids.begin() + static_cast<long>(loop_end)));
    }

    void invalidLimitsAreRefused() {
        GenerationOptions options;
        options.length_ratio = -1;
        QVERIFY_THROWS_EXCEPTION(Error, generate(*tiny_, "x", options));
        options.length_ratio = 0;
        options.stop_repeats = -2;
        QVERIFY_THROWS_EXCEPTION(Error, generate(*tiny_, "x", options));
    }

    // Row 1 of tiny-a generates the byte piece of a lead byte again and again. Cut by a limit, the answer leaves the
    // last, still incomplete one out, in the streamed text and in result.text alike, instead of ending in U+FFFD.
    void cutAnswerDropsIncompleteBytes_data() {
        QTest::addColumn<bool>("byRatio");
        QTest::newRow("max new tokens") << false;
        QTest::newRow("length ratio") << true;
    }
    void cutAnswerDropsIncompleteBytes() {
        QFETCH(bool, byRatio);
        GenerationOptions options;
        options.max_new_tokens = 24;
        if (byRatio) {
            options.max_new_tokens = 200;
            options.length_ratio = 24.0 / static_cast<double>(row_length(reference_.get("attention_mask"), 1));
            options.length_offset = 0;
        }
        std::string streamed;
        const GenerationResult result = run_row(1, options, &streamed);
        QCOMPARE(result.finish, byRatio ? FinishReason::InputLength : FinishReason::Length);
        // Every id is the byte piece of one lead byte: each but the last is invalid (U+FFFD); the last one may
        // still be completed, so it is left out rather than shown as one more U+FFFD.
        const std::vector<int> ids = result.output_ids;
        QCOMPARE(tiny_->tokenizer().incomplete_tail(ids), size_t{1});
        const std::string complete = tiny_->tokenizer().decode(std::vector<int>(ids.begin(), ids.end() - 1));
        QCOMPARE(tiny_->tokenizer().decode(ids), complete + kReplacement);
        QCOMPARE(result.text, complete);
        QVERIFY(is_valid_utf8(result.text));
        QCOMPARE(streamed, result.text);
    }

    void continuedAnswerDropsIncompleteBytes() {
        const std::vector<int> prompt = row_ids(reference_.get("input_ids"), 1, row_length(reference_.get("attention_mask"), 1));
        const std::string text = tiny_->tokenizer().decode(std::vector<int>(prompt.begin(), prompt.end() - 1));
        Conversation conversation;
        GenerationOptions options;
        options.max_new_tokens = 12;
        conversation.submit(*tiny_, text, options);
        QVERIFY(conversation.turns().back().prompt_ids == prompt);
        options.max_new_tokens = 12;
        const GenerationResult result = conversation.continue_answer(*tiny_, options);
        const std::vector<int>& ids = conversation.turns().back().output_ids;
        QCOMPARE(ids.size(), size_t{24});
        QCOMPARE(tiny_->tokenizer().decode(ids), conversation.turns().back().answer + kReplacement);
        QCOMPARE(result.text, conversation.turns().back().answer);
    }

    // The title is the prompt's first 60 bytes, cut before a character they would split.
    void titleIsCutAtACharacterBoundary() {
        const std::string prompt = "a日本語のテキストを翻訳してください。日本語のテキストを翻訳してください。";
        GenerationOptions options;
        options.max_new_tokens = 1;
        Conversation conversation;
        conversation.submit(*tiny_, prompt, options);
        const std::string& title = conversation.title();
        QVERIFY(is_valid_utf8(title));
        QCOMPARE(title.size(), size_t{58});  // "a" and 19 three-byte characters; the 20th would end at byte 61
        QCOMPARE(title, prompt.substr(0, 58));
    }

    void utf8Prefix_data() {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<int>("maxBytes");
        QTest::addColumn<QByteArray>("expected");
        QTest::newRow("ascii") << QByteArray("abcdef") << 4 << QByteArray("abcd");
        QTest::newRow("short") << QByteArray("ab") << 4 << QByteArray("ab");
        QTest::newRow("splits 2-byte") << QByteArray("a\xC3\xBC") << 2 << QByteArray("a");
        QTest::newRow("whole 2-byte") << QByteArray("a\xC3\xBC") << 3 << QByteArray("a\xC3\xBC");
        QTest::newRow("splits 4-byte") << QByteArray("\xF0\x9F\x98\x80z") << 3 << QByteArray();
        QTest::newRow("zero") << QByteArray("abc") << 0 << QByteArray();
    }
    void utf8Prefix() {
        QFETCH(QByteArray, text);
        QFETCH(int, maxBytes);
        QFETCH(QByteArray, expected);
        QCOMPARE(QByteArray::fromStdString(utf8_prefix(text.toStdString(), static_cast<size_t>(maxBytes))), expected);
    }

    void sessionKeepsNewFinishReasons() {
        GenerationOptions options;
        options.max_new_tokens = 40;
        options.ignore_eos = true;
        options.length_ratio = 0.5;
        options.length_offset = 0;
        Conversation conversation;
        conversation.submit(*tiny_, "translate English to German: Open the file", options);
        QCOMPARE(conversation.turns().back().finish, FinishReason::InputLength);
        const Conversation back = Conversation::from_json(conversation.to_json(), "test");
        QCOMPARE(back.turns().back().finish, FinishReason::InputLength);
    }
};

QTEST_GUILESS_MAIN(TestGenerationLimits)
#include "test_generation_limits.moc"
