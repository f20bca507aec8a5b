// Linear in each precision against an independent reference computed in double: F32 exactly, BF16 on inputs and
// weights rounded to bfloat16, int8 on the quantized values the layer documents (per output feature weight scales,
// per input row activation scales, round to nearest even). Shapes cover decoder steps (1 row), padded row buckets
// (below and above 128 rows), the fused residual add and the fused GELU.
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "core/engine/linear.h"
#include "core/engine/ops.h"
#include "test_util.h"

using namespace umt5;

Q_DECLARE_METATYPE(umt5::Precision)
Q_DECLARE_METATYPE(umt5::Activation)

namespace {

std::vector<float> random_values(size_t count, unsigned seed, float spread) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, spread);
    std::vector<float> values(count);
    for (float& v : values) v = normal(rng);
    return values;
}

// An F32 [out, in] weight tensor holding w.
Tensor weight_tensor(const std::vector<float>& w, int64_t out, int64_t in) {
    Tensor weight({out, in}, DType::F32);
    std::copy(w.begin(), w.end(), weight.data<float>());
    return weight;
}

// Symmetric int8 quantization of one vector: returns the scale, writes the integers.
float quantize(const float* x, int64_t n, std::vector<int>& q) {
    float largest = 0;
    for (int64_t i = 0; i < n; ++i) largest = std::max(largest, std::fabs(x[i]));
    const float scale = largest > 0 ? largest / 127.0f : 1.0f;
    q.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
        q[static_cast<size_t>(i)] = static_cast<int>(std::nearbyint(std::clamp(x[i] / scale, -127.0f, 127.0f)));
    return scale;
}

double activate(double v, Activation activation) {
    switch (activation) {
    case Activation::None: return v;
    case Activation::GeluTanh: return gelu_tanh(static_cast<float>(v));
    case Activation::GeluErf: return gelu_erf(static_cast<float>(v));
    case Activation::Relu: return std::max(v, 0.0);
    }
    return v;
}

// y [rows, out] = activation(x W^T) (+ y) as the precision defines it.
std::vector<double> reference(const std::vector<float>& x, const std::vector<float>& w, int64_t rows, int64_t in,
                              int64_t out, Precision precision, Activation activation,
                              const std::vector<float>& residual) {
    std::vector<double> y(static_cast<size_t>(rows * out));
    std::vector<int> qx, qw;
    std::vector<std::vector<int>> quantized_rows(static_cast<size_t>(out));
    std::vector<float> weight_scales(static_cast<size_t>(out));
    if (precision == Precision::Int8)
        for (int64_t n = 0; n < out; ++n)
            weight_scales[static_cast<size_t>(n)] = quantize(&w[static_cast<size_t>(n * in)], in, quantized_rows[n]);
    const auto round_bf16 = [](float v) { return static_cast<double>(bf16_to_f32(f32_to_bf16(v))); };
    for (int64_t r = 0; r < rows; ++r) {
        const float* row = &x[static_cast<size_t>(r * in)];
        const float row_scale = precision == Precision::Int8 ? quantize(row, in, qx) : 1.0f;
        for (int64_t n = 0; n < out; ++n) {
            double sum = 0;
            for (int64_t k = 0; k < in; ++k) {
                const float xv = row[k];
                const float wv = w[static_cast<size_t>(n * in + k)];
                switch (precision) {
                case Precision::F32: sum += static_cast<double>(xv) * wv; break;
                case Precision::BF16: sum += round_bf16(xv) * round_bf16(wv); break;
                case Precision::Int8:
                    sum += static_cast<double>(qx[static_cast<size_t>(k)]) * quantized_rows[n][static_cast<size_t>(k)];
                    break;
                }
            }
            if (precision == Precision::Int8) sum *= static_cast<double>(row_scale) * weight_scales[n];
            const auto i = static_cast<size_t>(r * out + n);
            y[i] = residual.empty() ? activate(sum, activation) : residual[i] + sum;
        }
    }
    return y;
}

void precision_rows() {
    QTest::addColumn<Precision>("precision");
    for (const Precision precision : {Precision::F32, Precision::BF16, Precision::Int8})
        QTest::newRow(precision_name(precision)) << precision;
}

}  // namespace

class TestLinear : public QObject {
    Q_OBJECT

private slots:
    void matchesReference_data() {
        QTest::addColumn<Precision>("precision");
        QTest::addColumn<int>("rows");
        QTest::addColumn<int>("in");
        QTest::addColumn<int>("out");
        QTest::addColumn<bool>("accumulate");
        QTest::addColumn<Activation>("activation");
        struct Case {
            const char* name;
            int rows, in, out;
            bool accumulate;
            Activation activation;
        };
        const Case cases[] = {
            {"decoder step", 1, 64, 48, false, Activation::None},
            {"decoder step, residual", 1, 48, 64, true, Activation::None},
            {"decoder step, gelu", 1, 64, 96, false, Activation::GeluTanh},
            {"odd sizes", 3, 37, 29, false, Activation::None},
            {"padded bucket", 13, 64, 40, true, Activation::None},
            {"padded bucket, gelu erf", 21, 32, 40, false, Activation::GeluErf},
            {"bucket above 128 rows", 131, 32, 24, true, Activation::None},
            {"relu", 9, 16, 16, false, Activation::Relu},
            // 8 MiB or more when packed in bf16 or int8: stored on 2 MiB pages (Linear's own allocation).
            {"large weights", 2, 128, 65536, true, Activation::None},
        };
        for (const Precision precision : {Precision::F32, Precision::BF16, Precision::Int8})
            for (const Case& c : cases)
                QTest::addRow("%s %s", precision_name(precision), c.name)
                    << precision << c.rows << c.in << c.out << c.accumulate << c.activation;
    }

    void matchesReference() {
        QFETCH(Precision, precision);
        QFETCH(int, rows);
        QFETCH(int, in);
        QFETCH(int, out);
        QFETCH(bool, accumulate);
        QFETCH(Activation, activation);
        UMT5_SKIP_UNLESS_RUNS(precision);
        const std::vector<float> w = random_values(static_cast<size_t>(out * in), 1, 0.2f);
        const std::vector<float> x = random_values(static_cast<size_t>(rows * in), 2, 1.0f);
        const std::vector<float> residual = accumulate ? random_values(static_cast<size_t>(rows * out), 3, 1.0f)
                                                       : std::vector<float>();

        const Linear linear(weight_tensor(w, out, in), precision, accumulate ? Activation::None : activation);
        std::vector<float> y = accumulate ? residual : std::vector<float>(static_cast<size_t>(rows * out), -99.0f);
        linear.forward(x.data(), rows, y.data(), accumulate);

        const std::vector<double> expected = reference(x, w, rows, in, out, precision,
                                                       accumulate ? Activation::None : activation, residual);
        // F32 and BF16 differ from the double reference only by F32 accumulation order; int8's integer products are
        // exact, so only the final scaling rounds.
        const double tolerance = precision == Precision::Int8 ? 1e-5 : 1e-4;
        double worst = 0;
        for (size_t i = 0; i < y.size(); ++i)
            worst = std::max(worst, std::fabs(y[i] - expected[i]) / (1.0 + std::fabs(expected[i])));
        QVERIFY2(worst <= tolerance, qPrintable(QString("worst relative error %1").arg(worst)));
    }

    void movedLayersKeepTheirWeights_data() { precision_rows(); }
    void movedLayersKeepTheirWeights() {
        // The large bf16/int8 weights live in storage the Linear owns; moving the layer (as the model does when it
        // collects its blocks) must move that storage with it.
        QFETCH(Precision, precision);
        UMT5_SKIP_UNLESS_RUNS(precision);
        const int in = 128, out = 65536;
        const std::vector<float> w = random_values(static_cast<size_t>(out * in), 6, 0.2f);
        const std::vector<float> x = random_values(static_cast<size_t>(in), 7, 1.0f);
        {
            auto original = std::make_unique<Linear>(weight_tensor(w, out, in), precision);
            std::vector<float> before(static_cast<size_t>(out)), after(static_cast<size_t>(out));
            original->forward(x.data(), 1, before.data());

            // Each source is destroyed before the weights are used again (ASan reports a use after free).
            auto moved = std::make_unique<Linear>(std::move(*original));
            original.reset();
            Linear assigned(weight_tensor(std::vector<float>(4, 1.0f), 2, 2), precision);
            assigned = std::move(*moved);
            moved.reset();
            assigned.forward(x.data(), 1, after.data());
            QVERIFY2(before == after, precision_name(precision));
        }
    }

    void rowsAreIndependentOfTheBucket_data() { precision_rows(); }
    void rowsAreIndependentOfTheBucket() {
        // The same row gives the same outputs alone and inside a padded batch (decoder steps and prefixes agree).
        QFETCH(Precision, precision);
        UMT5_SKIP_UNLESS_RUNS(precision);
        const int in = 48, out = 40;
        const std::vector<float> w = random_values(static_cast<size_t>(out * in), 4, 0.2f);
        const std::vector<float> x = random_values(static_cast<size_t>(5 * in), 5, 1.0f);
        {
            const Linear linear(weight_tensor(w, out, in), precision);
            std::vector<float> batch(static_cast<size_t>(5 * out)), single(static_cast<size_t>(out));
            linear.forward(x.data(), 5, batch.data());
            linear.forward(x.data() + 4 * in, 1, single.data());
            for (int n = 0; n < out; ++n)
                QVERIFY2(std::fabs(batch[static_cast<size_t>(4 * out + n)] - single[static_cast<size_t>(n)]) <= 1e-4f,
                         precision_name(precision));
        }
    }

    void quantizationRoundsToNearestEven() {
        UMT5_SKIP_UNLESS_RUNS(Precision::Int8);
        // Activations landing exactly halfway between two integers after scaling round to the even one: with
        // largest |x| = 127 the scale is 1, so x = 2.5 -> 2 and 3.5 -> 4; a weight of 1 (scale 1/127) makes each
        // output read one quantized activation.
        const int in = 4;
        Tensor weight({in, in}, DType::F32);
        for (int n = 0; n < in; ++n)
            for (int k = 0; k < in; ++k) weight.data<float>()[n * in + k] = n == k ? 1.0f : 0.0f;
        const Linear linear(std::move(weight), Precision::Int8);
        const float x[in] = {127.0f, 2.5f, 3.5f, -2.5f};
        float y[in];
        linear.forward(x, 1, y);
        QCOMPARE(y[1], 2.0f);
        QCOMPARE(y[2], 4.0f);
        QCOMPARE(y[3], -2.0f);
    }
};

QTEST_APPLESS_MAIN(TestLinear)
#include "test_linear.moc"
