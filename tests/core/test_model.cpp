// Golden tests of the umT5 forward pass against the reference tensors of tests/data/umt5-tiny-a (an independent
// implementation that agrees with Hugging Face's cached generation), in fp32 to 1e-4.
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/formats/checkpoint.h"
#include "core/chat/generation.h"
#include "core/engine/model.h"
#include "core/engine/runtime.h"
#include "test_util.h"

using namespace umt5;

namespace {

constexpr float kTolerance = 1e-4f;

struct Reference {
    Checkpoint tensors;
    std::vector<std::vector<int>> input_ids;  // unpadded, eos included
};

std::vector<int> row_ids(const Tensor& ids, int64_t row, int64_t length) {
    const int32_t* p = ids.data<int32_t>() + row * ids.dim(1);
    return std::vector<int>(p, p + length);
}

int64_t row_length(const Tensor& mask, int64_t row) {
    int64_t n = 0;
    for (int64_t j = 0; j < mask.dim(1); ++j) n += mask.data<int32_t>()[row * mask.dim(1) + j];
    return n;
}

float max_abs_diff(const float* a, const float* b, int64_t n) {
    float worst = 0;
    for (int64_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
    return worst;
}

}  // namespace

class TestModel : public QObject {
    Q_OBJECT

    std::shared_ptr<const Model> tiny_;
    Checkpoint reference_;

private slots:
    void initTestCase() {
        tiny_ = Model::load(umt5test::tiny_a_dir());
        reference_ = Checkpoint::open_file(umt5test::tiny_a_dir() / "reference.safetensors");
    }

    void loadsTinyConfiguration() {
        const ModelConfig& c = tiny_->config();
        QCOMPARE(c.d_model, 64);
        QCOMPARE(c.num_heads, 4);
        QCOMPARE(c.vocab_size, 3072);
        QVERIFY(c.tie_word_embeddings);
        QVERIFY(c.is_gated_act);
        QCOMPARE(QString::fromStdString(c.dense_act_fn), QStringLiteral("gelu_new"));
        QCOMPARE(tiny_->identity().size(), size_t{16});
    }

    void encoderMatchesReference_data() {
        QTest::addColumn<int>("row");
        QTest::newRow("english") << 0;
        QTest::newRow("russian") << 1;
        QTest::newRow("japanese-emoji") << 2;
    }
    void encoderMatchesReference() {
        QFETCH(int, row);
        const Tensor ids = reference_.get("input_ids");
        const int64_t length = row_length(reference_.get("attention_mask"), row);
        const Tensor expected = reference_.get_f32("encoder_hidden");
        Workspace ws;
        const Tensor out = tiny_->encode(row_ids(ids, row, length), ws);
        QCOMPARE(out.dim(0), length);
        const float* want = expected.data<float>() + row * expected.dim(1) * expected.dim(2);
        const float diff = max_abs_diff(out.data<float>(), want, out.numel());
        QVERIFY2(diff < kTolerance, qPrintable(QString("max |diff| %1").arg(diff)));
    }

    void logitsMatchReference_data() {
        QTest::addColumn<int>("row");
        QTest::addColumn<QString>("ids");
        QTest::addColumn<QString>("logits");
        for (int row = 0; row < 3; ++row) {
            QTest::addRow("greedy-%d", row) << row << "generated_ids" << "greedy_logits";
            QTest::addRow("long-%d", row) << row << "long_decoder_input_ids" << "long_logits";
        }
    }
    void logitsMatchReference() {
        QFETCH(int, row);
        QFETCH(QString, ids);
        QFETCH(QString, logits);
        const int64_t length = row_length(reference_.get("attention_mask"), row);
        const Tensor decoder_ids = reference_.get(ids.toStdString());
        const Tensor expected = reference_.get_f32(logits.toStdString());
        Workspace ws;
        const Tensor encoded = tiny_->encode(row_ids(reference_.get("input_ids"), row, length), ws);
        const std::vector<int> inputs = row_ids(decoder_ids, row, decoder_ids.dim(1));
        const Tensor out = tiny_->decode_all(inputs, encoded, ws);
        const int64_t per_row = expected.dim(1) * expected.dim(2);
        const float diff = max_abs_diff(out.data<float>(), expected.data<float>() + row * per_row, per_row);
        QVERIFY2(diff < kTolerance, qPrintable(QString("max |diff| %1").arg(diff)));
    }

    // The cached path feeds one position at a time; its logits must equal the one-pass teacher-forced ones.
    void stepwiseCacheMatchesOnePass() {
        const int64_t length = row_length(reference_.get("attention_mask"), 1);
        const Tensor decoder_ids = reference_.get("long_decoder_input_ids");
        const Tensor expected = reference_.get_f32("long_logits");
        Workspace ws;
        const Tensor encoded = tiny_->encode(row_ids(reference_.get("input_ids"), 1, length), ws);
        KVCache cache = tiny_->make_cache();
        tiny_->start_decoding(encoded, cache, ws);
        std::vector<float> logits(static_cast<size_t>(tiny_->vocab_size()));
        const int64_t vocab = tiny_->vocab_size();
        for (int64_t t = 0; t < decoder_ids.dim(1); ++t) {
            tiny_->decode({decoder_ids.data<int32_t>()[decoder_ids.dim(1) + t]}, cache, ws, logits.data());
            const float* want = expected.data<float>() + (expected.dim(1) + t) * vocab;
            const float diff = max_abs_diff(logits.data(), want, vocab);
            QVERIFY2(diff < kTolerance, qPrintable(QString("position %1: max |diff| %2").arg(t).arg(diff)));
        }
        QCOMPARE(cache.length(), decoder_ids.dim(1));
    }

    // The automatic thread setting changes the count between decoder steps, so no result may depend on it: the
    // encoder output and every step's logits must be the same bits with 1 and 2 threads.
    void logitsDoNotDependOnThreadCount_data() {
        QTest::addColumn<QString>("model");
        QTest::addColumn<QString>("precision");
        QTest::newRow("tiny-a fp32") << "tiny-a" << "fp32";
        QTest::newRow("demo fp32") << "demo" << "fp32";
        QTest::newRow("demo int8") << "demo" << "int8";
    }
    void logitsDoNotDependOnThreadCount() {
        QFETCH(QString, model);
        QFETCH(QString, precision);
        LoadOptions options;
        options.precision = parse_precision(precision.toStdString());
        const auto loaded =
            Model::load(model == "demo" ? Model::default_model_dir() : umt5test::tiny_a_dir(), options);
        const std::vector<int> prompt = loaded->prompt_ids("translate English to German: The disk is full.");
        auto run = [&](int threads) {
            set_num_threads(threads);
            Workspace ws;
            const Tensor encoded = loaded->encode(prompt, ws);
            std::vector<float> out(encoded.data<float>(), encoded.data<float>() + encoded.numel());
            KVCache cache = loaded->make_cache();
            loaded->start_decoding(encoded, cache, ws);
            const int64_t vocab = loaded->vocab_size();
            std::vector<float> logits(static_cast<size_t>(vocab));
            int id = static_cast<int>(loaded->config().decoder_start_token_id);
            for (int step = 0; step < 12; ++step) {
                loaded->decode({id}, cache, ws, logits.data());
                out.insert(out.end(), logits.begin(), logits.end());
                id = static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
            }
            return out;
        };
        const std::vector<float> one = run(1);
        const std::vector<float> two = run(2);
        set_num_threads(0);
        QCOMPARE(one.size(), two.size());
        QVERIFY2(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0,
                 qPrintable(QString("max |diff| %1")
                                .arg(max_abs_diff(one.data(), two.data(), static_cast<int64_t>(one.size())))));
    }

    void greedyIdsMatchReference_data() {
        QTest::addColumn<int>("row");
        QTest::addColumn<bool>("cache");
        for (int row = 0; row < 3; ++row) {
            QTest::addRow("row%d-cache", row) << row << true;
            QTest::addRow("row%d-nocache", row) << row << false;
        }
    }
    void greedyIdsMatchReference() {
        QFETCH(int, row);
        QFETCH(bool, cache);
        const int64_t length = row_length(reference_.get("attention_mask"), row);
        const Tensor generated = reference_.get("generated_ids");
        Workspace ws;
        DecodingState state;
        state.prompt_ids = row_ids(reference_.get("input_ids"), row, length);
        Sampler sampler({});
        GenerationOptions options;
        options.max_new_tokens = 24;
        options.use_cache = cache;
        const GenerationResult result =
            continue_generation(*tiny_, state, sampler, options, {}, ws, std::chrono::steady_clock::now());
        const std::vector<int> expected = row_ids(generated, row, generated.dim(1));
        QCOMPARE(result.output_ids, std::vector<int>(expected.begin() + 1, expected.end()));
        QCOMPARE(result.stats.tokens, 24);
    }

    // Row 1 generates a byte piece that never completes a character: it is held back, then released with the
    // last token, so the streamed pieces always add up to the answer.
    void streamedTextAddsUpToAnswer_data() {
        QTest::addColumn<int>("row");
        for (int row = 0; row < 3; ++row) QTest::addRow("row%d", row) << row;
    }
    void streamedTextAddsUpToAnswer() {
        QFETCH(int, row);
        const int64_t length = row_length(reference_.get("attention_mask"), row);
        DecodingState state;
        state.prompt_ids = row_ids(reference_.get("input_ids"), row, length);
        Sampler sampler({});
        GenerationOptions options;
        options.max_new_tokens = 24;
        std::string streamed;
        int events = 0;
        bool in_order = true;
        Workspace ws;
        const GenerationResult result = continue_generation(
            *tiny_, state, sampler, options,
            [&](const TokenEvent& e) -> bool {
                streamed += e.text;
                in_order = in_order && e.index == events++;
                return true;
            },
            ws, std::chrono::steady_clock::now());
        QCOMPARE(events, 24);
        QVERIFY(in_order);
        QCOMPARE(streamed, result.text);
        QVERIFY(!result.text.empty());
    }

    void promptIdsAppendEos() {
        const std::vector<int> ids = tiny_->prompt_ids("translate English to German: Open the file");
        const Tensor ref = reference_.get("input_ids");
        QCOMPARE(ids, row_ids(ref, 0, row_length(reference_.get("attention_mask"), 0)));
    }
};

QTEST_GUILESS_MAIN(TestModel)
#include "test_model.moc"
