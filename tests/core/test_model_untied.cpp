// Golden tests on tests/data/umt5-tiny-b: an untied umT5 with inner_dim != d_model, 3 encoder and 2 decoder
// layers, 16 buckets and max distance 64, stored as pytorch_model.bin, BF16 safetensors and sharded safetensors
// (identical values), against the validated PyTorch reference written by tests/make_fixtures.py.
#include <QtTest>

#include <cmath>

#include "core/formats/checkpoint.h"
#include "core/chat/generation.h"
#include "core/engine/model.h"
#include "test_util.h"

using namespace umt5;

namespace {
std::vector<int> ids_of(const Tensor& t) {
    const int32_t* p = t.data<int32_t>();
    return std::vector<int>(p, p + t.numel());
}
float max_abs_diff(const Tensor& a, const Tensor& b) {
    float worst = 0;
    for (int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::fabs(a.data<float>()[i] - b.data<float>()[i]));
    return worst;
}
}  // namespace

class TestModelUntied : public QObject {
    Q_OBJECT

    Checkpoint reference_;

private slots:
    void initTestCase() { reference_ = Checkpoint::open_file(umt5test::data_dir() / "umt5-tiny-b/reference.safetensors"); }

    void matchesReference_data() {
        QTest::addColumn<QString>("layout");
        QTest::addColumn<int>("row");
        for (const char* layout : {"umt5-tiny-b", "umt5-tiny-b-bf16", "umt5-tiny-b-sharded"})
            for (int row = 0; row < 2; ++row) QTest::addRow("%s-%d", layout, row) << layout << row;
    }
    void matchesReference() {
        QFETCH(QString, layout);
        QFETCH(int, row);
        const std::filesystem::path dir = umt5test::data_dir() / layout.toStdString();
        const std::filesystem::path tokenizer_dir = umt5test::data_dir() / "umt5-tiny-b";
        // The bf16 and sharded copies carry no tokenizer of their own: borrow tiny-b's.
        QTemporaryDir scratch;
        std::filesystem::path model_dir = dir;
        if (!std::filesystem::exists(dir / "spiece.model")) {
            model_dir = scratch.path().toStdString();
            for (const auto& entry : std::filesystem::directory_iterator(dir))
                std::filesystem::create_symlink(entry.path(), model_dir / entry.path().filename());
            std::filesystem::create_symlink(tokenizer_dir / "spiece.model", model_dir / "spiece.model");
        }
        const auto model = Model::load(model_dir);
        QVERIFY(!model->config().tie_word_embeddings);
        QCOMPARE(model->config().inner_dim(), 40);

        const std::string b = std::to_string(row);
        const std::vector<int> input = ids_of(reference_.get("input_ids_" + b));
        Workspace ws;
        const Tensor encoded = model->encode(input, ws);
        const float encoder_diff = max_abs_diff(encoded, reference_.get_f32("encoder_hidden_" + b));
        QVERIFY2(encoder_diff < 1e-4f, qPrintable(QString("encoder max |diff| %1").arg(encoder_diff)));

        const Tensor logits = model->decode_all(ids_of(reference_.get("decoder_ids_" + b)), encoded, ws);
        const float logit_diff = max_abs_diff(logits, reference_.get_f32("logits_" + b));
        QVERIFY2(logit_diff < 1e-4f, qPrintable(QString("logits max |diff| %1").arg(logit_diff)));

        const std::vector<int> expected = ids_of(reference_.get("generated_ids_" + b));
        for (bool cache : {true, false}) {
            DecodingState state;
            state.prompt_ids = input;
            Sampler sampler({});
            GenerationOptions options;
            options.max_new_tokens = static_cast<int>(expected.size());
            options.use_cache = cache;
            options.ignore_eos = true;
            const GenerationResult result =
                continue_generation(*model, state, sampler, options, {}, ws, std::chrono::steady_clock::now());
            QCOMPARE(result.output_ids, expected);
        }
    }

    void sameIdentityAcrossLayouts() {
        // The three files hold identical values, so they are one model as far as caches are concerned.
        const auto bin = Model::load(umt5test::data_dir() / "umt5-tiny-b");
        QTemporaryDir scratch;
        const std::filesystem::path dir = scratch.path().toStdString();
        for (const auto& entry : std::filesystem::directory_iterator(umt5test::data_dir() / "umt5-tiny-b-sharded"))
            std::filesystem::create_symlink(entry.path(), dir / entry.path().filename());
        std::filesystem::create_symlink(umt5test::data_dir() / "umt5-tiny-b/spiece.model", dir / "spiece.model");
        QCOMPARE(Model::load(dir)->identity(), bin->identity());
        QVERIFY(bin->identity() != Model::load(umt5test::tiny_a_dir())->identity());
    }
};

QTEST_GUILESS_MAIN(TestModelUntied)
#include "test_model_untied.moc"
