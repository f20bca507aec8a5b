// Hand-checked values for the element-wise pieces of the forward pass.
#include <QtTest>

#include <cmath>
#include <limits>

#include "core/formats/config.h"
#include "core/engine/ops.h"

using namespace umt5;

class TestOps : public QObject {
    Q_OBJECT

private slots:
    void relativePositionBucket_data() {
        QTest::addColumn<int>("relative");
        QTest::addColumn<bool>("bidirectional");
        QTest::addColumn<int>("buckets");
        QTest::addColumn<int>("maxDistance");
        QTest::addColumn<int>("expected");
        // Encoder (bidirectional, 32 buckets: 16 per direction, 8 exact).
        QTest::newRow("enc 0") << 0 << true << 32 << 128 << 0;
        QTest::newRow("enc -1") << -1 << true << 32 << 128 << 1;
        QTest::newRow("enc +1") << 1 << true << 32 << 128 << 17;
        QTest::newRow("enc -7") << -7 << true << 32 << 128 << 7;
        QTest::newRow("enc -8 first log bucket") << -8 << true << 32 << 128 << 8;
        QTest::newRow("enc -12") << -12 << true << 32 << 128 << 9;
        QTest::newRow("enc -127") << -127 << true << 32 << 128 << 15;
        QTest::newRow("enc -200 clamps") << -200 << true << 32 << 128 << 15;
        QTest::newRow("enc +200 clamps") << 200 << true << 32 << 128 << 31;
        // Decoder (causal, 32 buckets, 16 exact): future keys share bucket 0.
        QTest::newRow("dec future") << 5 << false << 32 << 128 << 0;
        QTest::newRow("dec -5") << -5 << false << 32 << 128 << 5;
        QTest::newRow("dec -15") << -15 << false << 32 << 128 << 15;
        QTest::newRow("dec -16") << -16 << false << 32 << 128 << 16;
        QTest::newRow("dec -20") << -20 << false << 32 << 128 << 17;
        QTest::newRow("dec -127") << -127 << false << 32 << 128 << 31;
        QTest::newRow("dec -1000") << -1000 << false << 32 << 128 << 31;
        // Smaller table (tiny-b: 16 buckets, max distance 64).
        QTest::newRow("b16 enc -4") << -4 << true << 16 << 64 << 4;
        QTest::newRow("b16 enc +63") << 63 << true << 16 << 64 << 15;
        QTest::newRow("b16 dec -8") << -8 << false << 16 << 64 << 8;
        QTest::newRow("b16 dec -30") << -30 << false << 16 << 64 << 13;
    }
    void relativePositionBucket() {
        QFETCH(int, relative);
        QFETCH(bool, bidirectional);
        QFETCH(int, buckets);
        QFETCH(int, maxDistance);
        QFETCH(int, expected);
        QCOMPARE(relative_position_bucket(relative, bidirectional, buckets, maxDistance), int64_t(expected));
    }

    void rmsNormHasNoMeanAndNoBias() {
        const float x[4] = {3, 4, -1, 1};
        const float weight[2] = {1, 2};
        float y[4];
        rms_norm(x, 2, 2, weight, 0.0f, y);
        QVERIFY(std::fabs(y[0] - 3 / std::sqrt(12.5f)) < 1e-6f);
        QVERIFY(std::fabs(y[1] - 2 * 4 / std::sqrt(12.5f)) < 1e-6f);
        QVERIFY(std::fabs(y[2] + 1) < 1e-6f);
        QVERIFY(std::fabs(y[3] - 2) < 1e-6f);
        rms_norm(x, 1, 2, weight, 1.0f, y);  // eps inside the square root
        QVERIFY(std::fabs(y[0] - 3 / std::sqrt(13.5f)) < 1e-6f);
    }

    void gelu_data() {
        QTest::addColumn<float>("x");
        QTest::addColumn<float>("tanhApprox");
        QTest::addColumn<float>("exact");
        QTest::newRow("0") << 0.0f << 0.0f << 0.0f;
        QTest::newRow("1") << 1.0f << 0.8411920f << 0.8413447f;
        QTest::newRow("-1") << -1.0f << -0.1588080f << -0.1586553f;
        QTest::newRow("3") << 3.0f << 2.9963626f << 2.9959503f;
    }
    void gelu() {
        QFETCH(float, x);
        QFETCH(float, tanhApprox);
        QFETCH(float, exact);
        QVERIFY2(std::fabs(gelu_tanh(x) - tanhApprox) < 1e-6f, qPrintable(QString::number(gelu_tanh(x), 'g', 9)));
        QVERIFY2(std::fabs(gelu_erf(x) - exact) < 1e-6f, qPrintable(QString::number(gelu_erf(x), 'g', 9)));
    }

    void softmaxIgnoresMaskedEntries() {
        float row[3] = {1.0f, -std::numeric_limits<float>::infinity(), 1.0f};
        softmax(row, 3);
        QCOMPARE(row[0], 0.5f);
        QCOMPARE(row[1], 0.0f);
        QCOMPARE(row[2], 0.5f);
    }

    void configDefaultsFollowT5() {
        // google/umt5-small's config.json: no model_type, gated-gelu, untied.
        const ModelConfig c = ModelConfig::from_json(
            R"({"d_model": 512, "d_ff": 1024, "d_kv": 64, "num_heads": 6, "num_layers": 8,
                "num_decoder_layers": 8, "vocab_size": 256384, "feed_forward_proj": "gated-gelu",
                "tie_word_embeddings": false, "relative_attention_num_buckets": 32})");
        QCOMPARE(c.inner_dim(), 384);
        QVERIFY(c.is_gated_act);
        QCOMPARE(QString::fromStdString(c.dense_act_fn), QStringLiteral("gelu_new"));
        QVERIFY(!c.tie_word_embeddings);
        QCOMPARE(c.relative_attention_max_distance, 128);
        QCOMPARE(c.decoder_start_token_id, 0);
        QCOMPARE(c.eos_token_id, 1);
        const ModelConfig depth = ModelConfig::from_json(R"({"num_layers": 3, "feed_forward_proj": "relu"})");
        QCOMPARE(depth.num_decoder_layers, 3);  // defaults to num_layers
        QVERIFY(!depth.is_gated_act);
        QVERIFY(depth.tie_word_embeddings);
    }
};

QTEST_APPLESS_MAIN(TestOps)
#include "test_ops.moc"
