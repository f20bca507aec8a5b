// The project's own matrix kernels (core/engine/kernels.h) against oneDNN's f32 matmul, their batch invariance
// (a row computed alone equals the same row inside any batch, bit for bit), and which kernel Linear picks for this
// CPU. ctest runs this suite natively and again as test_kernels_avx2 / test_kernels_avx2_vnni with
// ONEDNN_MAX_CPU_ISA capping the CPU (cpu.h reads the cap once per process), so the AVX2 dispatch is tested on any
// machine that has AVX2.
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include <dnnl.hpp>

#include "core/engine/cpu.h"
#include "core/engine/kernels.h"
#include "core/engine/linear.h"
#include "core/engine/runtime.h"

using namespace umt5;
using kernels::Kernel;

Q_DECLARE_METATYPE(umt5::kernels::Kernel)
Q_DECLARE_METATYPE(umt5::Precision)
Q_DECLARE_METATYPE(umt5::Activation)

namespace {

constexpr Kernel kKernels[] = {Kernel::F32Avx2, Kernel::Bf16Avx2, Kernel::Int8Avx2, Kernel::Int8AvxVnni};

std::vector<float> random_values(size_t count, unsigned seed, float spread) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, spread);
    std::vector<float> values(count);
    for (float& v : values) v = normal(rng);
    return values;
}

float bf16_rounded(float v) { return bf16_to_f32(f32_to_bf16(v)); }

// y [m, n] = x [m, k] * w [n, k]^T by oneDNN's f32 matmul on plain layouts.
std::vector<float> onednn_f32(const std::vector<float>& x, const std::vector<float>& w, int64_t m, int64_t k,
                              int64_t n) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const dnnl::memory::desc src({m, k}, dt::f32, tag::ab), wei({k, n}, dt::f32, tag::ba), dst({m, n}, dt::f32, tag::ab);
    const dnnl::matmul matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, dst), cpu_engine()));
    std::vector<float> y(static_cast<size_t>(m * n));
    dnnl::memory s(src, cpu_engine(), const_cast<float*>(x.data())), v(wei, cpu_engine(), const_cast<float*>(w.data())),
        d(dst, cpu_engine(), y.data());
    matmul.execute(thread_stream(), {{DNNL_ARG_SRC, s}, {DNNL_ARG_WEIGHTS, v}, {DNNL_ARG_DST, d}});
    thread_stream().wait();
    return y;
}

// sum over k of |x[r][k] w[c][k]|, for error bounds.
std::vector<double> magnitudes(const std::vector<float>& x, const std::vector<float>& w, int64_t m, int64_t k,
                               int64_t n) {
    std::vector<double> result(static_cast<size_t>(m * n));
    for (int64_t r = 0; r < m; ++r)
        for (int64_t c = 0; c < n; ++c) {
            double sum = 0;
            for (int64_t i = 0; i < k; ++i) sum += std::fabs(double(x[r * k + i]) * w[c * k + i]);
            result[static_cast<size_t>(r * n + c)] = sum;
        }
    return result;
}

// An F32 sum of k products, in any order, is within gamma_k * sum |products| of the exact sum (Higham, "Accuracy and
// Stability of Numerical Algorithms", 3.1), gamma_k = k u / (1 - k u), u = 2^-24; two such sums differ by at most
// twice that. (The products of bf16-rounded values are exact in F32, so the same bound holds for them.)
double accumulation_bound(int64_t k, double magnitude) {
    const double ku = static_cast<double>(k) * std::ldexp(1.0, -24);
    return 2 * ku / (1 - ku) * magnitude;
}

// What an int8 kernel must produce: each row and each weight row quantized as kernels::quantize_row does, the
// integer sum computed exactly, then (row scale * weight scale) * sum in F32.
struct Int8Reference {
    std::vector<int8_t> qw;
    std::vector<float> weight_scales;
    std::vector<float> y;
    std::vector<double> bound;  // how far the quantized product may be from the exact one
};

Int8Reference int8_reference(const std::vector<float>& x, const std::vector<float>& w, int64_t m, int64_t k,
                             int64_t n, const std::vector<float>& residual) {
    Int8Reference ref;
    ref.qw.resize(static_cast<size_t>(n * k));
    ref.weight_scales.resize(static_cast<size_t>(n));
    for (int64_t c = 0; c < n; ++c) {
        float largest = 0;
        for (int64_t i = 0; i < k; ++i) largest = std::max(largest, std::fabs(w[c * k + i]));
        const float scale = largest > 0 ? largest / 127.0f : 1.0f;
        ref.weight_scales[static_cast<size_t>(c)] = scale;
        for (int64_t i = 0; i < k; ++i)
            ref.qw[static_cast<size_t>(c * k + i)] =
                static_cast<int8_t>(std::nearbyint(std::clamp(w[c * k + i] / scale, -127.0f, 127.0f)));
    }
    std::vector<int8_t> qx(static_cast<size_t>(k));
    ref.y.resize(static_cast<size_t>(m * n));
    ref.bound.resize(static_cast<size_t>(m * n));
    for (int64_t r = 0; r < m; ++r) {
        const float row_scale = kernels::quantize_row(&x[static_cast<size_t>(r * k)], k, qx.data());
        for (int64_t c = 0; c < n; ++c) {
            int64_t sum = 0;
            double bound = 0;
            const float ws = ref.weight_scales[static_cast<size_t>(c)];
            for (int64_t i = 0; i < k; ++i) {
                sum += int64_t{qx[static_cast<size_t>(i)]} * ref.qw[static_cast<size_t>(c * k + i)];
                // |x w - x^ w^| <= |x| |w - w^| + |w^| |x - x^|, each rounding error at most half a step.
                const double w_hat = double(ref.qw[static_cast<size_t>(c * k + i)]) * ws;
                bound += std::fabs(x[r * k + i]) * ws / 2 + std::fabs(w_hat) * row_scale / 2;
            }
            const auto index = static_cast<size_t>(r * n + c);
            const float product = row_scale * ws * static_cast<float>(sum);
            ref.y[index] = residual.empty() ? product : residual[index] + product;
            ref.bound[index] = bound;
        }
    }
    return ref;
}

std::vector<float> run_kernel(Kernel kernel, const std::vector<float>& x, const std::vector<float>& w, int64_t m,
                              int64_t k, int64_t n, const std::vector<float>* residual = nullptr) {
    std::vector<float> y = residual ? *residual : std::vector<float>(static_cast<size_t>(m * n), -99.0f);
    if (kernels::kernel_precision(kernel) == Precision::Int8) {
        const Int8Reference ref = int8_reference(x, w, 1, k, n, {});
        const kernels::PackedWeights packed(kernel, ref.qw.data(), ref.weight_scales.data(), n, k);
        packed.multiply(x.data(), m, y.data(), residual != nullptr);
    } else {
        const kernels::PackedWeights packed(kernel, w.data(), n, k);
        packed.multiply(x.data(), m, y.data(), residual != nullptr);
    }
    return y;
}

bool same_bits(const float* a, const float* b, size_t count) { return std::memcmp(a, b, count * sizeof(float)) == 0; }

Tensor weight_tensor(const std::vector<float>& w, int64_t out, int64_t in) {
    Tensor weight({out, in}, DType::F32);
    std::copy(w.begin(), w.end(), weight.data<float>());
    return weight;
}

void add_kernel_rows() {
    QTest::addColumn<Kernel>("kernel");
    for (const Kernel kernel : kKernels) QTest::newRow(kernels::kernel_name(kernel)) << kernel;
}

void skip_unless_supported(Kernel kernel) {
    if (!kernels::supported(kernel))
        QSKIP(qPrintable(QString("%1 cannot run here: %2").arg(kernels::kernel_name(kernel),
                                                                  QString::fromStdString(cpu_summary()))));
}

}  // namespace

class TestKernels : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { qInfo("%s", cpu_summary().c_str()); }

    void matchesOneDnnF32_data() {
        QTest::addColumn<Kernel>("kernel");
        QTest::addColumn<int>("rows");
        QTest::addColumn<int>("in");
        QTest::addColumn<int>("out");
        QTest::addColumn<bool>("accumulate");
        struct Case {
            const char* name;
            int rows, in, out;
            bool accumulate;
        };
        // Sizes below, at and above the kernels' blocks: 16 columns, 4 blocks per group, 4 rows per tile, k in
        // pairs (AVX2 int8) and quads (AVX-VNNI).
        const Case cases[] = {
            {"decoder step", 1, 512, 384, false},  {"decoder step, residual", 1, 384, 512, true},
            {"odd sizes", 3, 37, 29, false},       {"one column", 2, 5, 1, true},
            {"partial group", 5, 33, 100, false},  {"two rows", 2, 64, 128, false},
            {"13 rows", 13, 64, 72, true},         {"131 rows", 131, 32, 24, false},
            {"long k", 4, 3001, 20, false},
        };
        for (const Kernel kernel : kKernels)
            for (const Case& c : cases)
                QTest::addRow("%s, %s", kernels::kernel_name(kernel), c.name)
                    << kernel << c.rows << c.in << c.out << c.accumulate;
    }

    void matchesOneDnnF32() {
        QFETCH(Kernel, kernel);
        QFETCH(int, rows);
        QFETCH(int, in);
        QFETCH(int, out);
        QFETCH(bool, accumulate);
        skip_unless_supported(kernel);
        const std::vector<float> w = random_values(static_cast<size_t>(out * in), 11, 0.05f);
        const std::vector<float> x = random_values(static_cast<size_t>(rows * in), 12, 1.0f);
        const std::vector<float> residual =
            accumulate ? random_values(static_cast<size_t>(rows * out), 13, 1.0f) : std::vector<float>();
        const std::vector<float> y = run_kernel(kernel, x, w, rows, in, out, accumulate ? &residual : nullptr);
        const auto index = [&](int r, int c) { return static_cast<size_t>(r * out + c); };

        if (kernels::kernel_precision(kernel) == Precision::Int8) {
            // The integer sums are exact and scaled as the reference scales them: equal bit for bit, and within the
            // quantization error of oneDNN's f32 result on the unquantized data.
            const Int8Reference ref = int8_reference(x, w, rows, in, out, residual);
            const std::vector<float> exact = onednn_f32(x, w, rows, in, out);
            const std::vector<double> magnitude = magnitudes(x, w, rows, in, out);
            for (int r = 0; r < rows; ++r)
                for (int c = 0; c < out; ++c) {
                    const size_t i = index(r, c);
                    QVERIFY2(same_bits(&y[i], &ref.y[i], 1),
                             qPrintable(QString("row %1 column %2: %3, expected %4").arg(r).arg(c).arg(y[i]).arg(ref.y[i])));
                    const double product = accumulate ? double(y[i]) - residual[i] : y[i];
                    const double slack = accumulation_bound(in, magnitude[i]) + 1e-6 * (1 + std::fabs(product));
                    QVERIFY2(std::fabs(product - exact[i]) <= ref.bound[i] + slack,
                             qPrintable(QString("row %1 column %2: %3 vs oneDNN f32 %4, bound %5")
                                            .arg(r).arg(c).arg(product).arg(exact[i]).arg(ref.bound[i])));
                }
            return;
        }
        // F32: oneDNN on the same data; bf16: oneDNN on the bf16-rounded data (the kernel's exact products), and
        // on the raw data within the rounding error (bf16 keeps 8 significant bits: each factor is off by at most 2^-8
        // relative, so each product by 2^-7 + 2^-16).
        const bool bf16 = kernel == Kernel::Bf16Avx2;
        std::vector<float> xr = x, wr = w;
        if (bf16) {
            for (float& v : xr) v = bf16_rounded(v);
            for (float& v : wr) v = bf16_rounded(v);
        }
        const std::vector<float> expected = onednn_f32(xr, wr, rows, in, out);
        const std::vector<float> raw = onednn_f32(x, w, rows, in, out);
        const std::vector<double> magnitude = magnitudes(xr, wr, rows, in, out);
        for (int r = 0; r < rows; ++r)
            for (int c = 0; c < out; ++c) {
                const size_t i = index(r, c);
                const double product = accumulate ? double(y[i]) - residual[i] : y[i];
                // The residual add rounds once more (half an ulp of the sum), and subtracting it back is exact
                // enough at these magnitudes only up to one ulp of y.
                const double add_slack = accumulate ? std::ldexp(std::fabs(y[i]), -23) : 0.0;
                const double bound = accumulation_bound(in, magnitude[i]) + add_slack;
                QVERIFY2(std::fabs(product - expected[i]) <= bound,
                         qPrintable(QString("row %1 column %2: %3 vs oneDNN f32 %4, bound %5")
                                        .arg(r).arg(c).arg(product).arg(expected[i]).arg(bound)));
                if (bf16) {
                    const double rounding = (std::ldexp(1.0, -7) + std::ldexp(1.0, -16)) * magnitude[i] * 1.01;
                    QVERIFY(std::fabs(product - raw[i]) <= bound + rounding);
                }
            }
    }

    void rowsDoNotDependOnTheBatch_data() { add_kernel_rows(); }
    void rowsDoNotDependOnTheBatch() {
        // Every row of every batch size equals the same row computed alone, bit for bit (a decode step and the
        // same position inside a prefix agree); the batch sizes cross the 4-row tiles and the 2-block tiles.
        QFETCH(Kernel, kernel);
        skip_unless_supported(kernel);
        const int in = 96, out = 200, most = 37;
        const std::vector<float> w = random_values(static_cast<size_t>(out * in), 21, 0.05f);
        const std::vector<float> x = random_values(static_cast<size_t>(most * in), 22, 1.0f);
        std::vector<std::vector<float>> alone(most);
        for (int r = 0; r < most; ++r) {
            const std::vector<float> row(x.begin() + r * in, x.begin() + (r + 1) * in);
            alone[static_cast<size_t>(r)] = run_kernel(kernel, row, w, 1, in, out);
        }
        for (const int rows : {2, 3, 4, 5, 8, 13, most}) {
            const std::vector<float> batch = run_kernel(kernel, x, w, rows, in, out);
            for (int r = 0; r < rows; ++r)
                QVERIFY2(same_bits(&batch[static_cast<size_t>(r * out)], alone[static_cast<size_t>(r)].data(),
                                   static_cast<size_t>(out)),
                         qPrintable(QString("row %1 of %2").arg(r).arg(rows)));
        }
    }

    void resultsDoNotDependOnTheThreadCount_data() { add_kernel_rows(); }
    void resultsDoNotDependOnTheThreadCount() {
        QFETCH(Kernel, kernel);
        skip_unless_supported(kernel);
        const int in = 128, out = 1000, rows = 3;
        const std::vector<float> w = random_values(static_cast<size_t>(out * in), 31, 0.05f);
        const std::vector<float> x = random_values(static_cast<size_t>(rows * in), 32, 1.0f);
        const int threads = num_threads();
        set_num_threads(1);
        const std::vector<float> one = run_kernel(kernel, x, w, rows, in, out);
        set_num_threads(std::max(2, threads));
        const std::vector<float> several = run_kernel(kernel, x, w, rows, in, out);
        set_num_threads(threads);
        QVERIFY(same_bits(one.data(), several.data(), one.size()));
    }

    void linearRowsDoNotDependOnTheBatch_data() {
        QTest::addColumn<Precision>("precision");
        QTest::addColumn<bool>("accumulate");
        QTest::addColumn<Activation>("activation");
        for (const Precision precision : {Precision::F32, Precision::BF16, Precision::Int8}) {
            QTest::addRow("%s", precision_name(precision)) << precision << false << Activation::None;
            QTest::addRow("%s, residual", precision_name(precision)) << precision << true << Activation::None;
            QTest::addRow("%s, gelu", precision_name(precision)) << precision << false << Activation::GeluTanh;
        }
    }
    void linearRowsDoNotDependOnTheBatch() {
        // Through Linear, on whichever kernel it chose (oneDNN's too): row buckets and padding included.
        QFETCH(Precision, precision);
        QFETCH(bool, accumulate);
        QFETCH(Activation, activation);
        const int in = 64, out = 80, most = 140;
        const std::vector<float> w = random_values(static_cast<size_t>(out * in), 41, 0.1f);
        const std::vector<float> x = random_values(static_cast<size_t>(most * in), 42, 1.0f);
        const std::vector<float> residual = random_values(static_cast<size_t>(most * out), 43, 1.0f);
        const Linear linear(weight_tensor(w, out, in), precision, activation);
        const auto run = [&](int first, int rows) {
            std::vector<float> y(residual.begin() + first * out, residual.begin() + (first + rows) * out);
            linear.forward(x.data() + first * in, rows, y.data(), accumulate);
            return y;
        };
        for (const int rows : {2, 5, 8, 13, 64, 131, most}) {
            const std::vector<float> batch = run(0, rows);
            for (const int r : {0, rows / 2, rows - 1}) {
                const std::vector<float> alone = run(r, 1);
                QVERIFY2(same_bits(&batch[static_cast<size_t>(r * out)], alone.data(), static_cast<size_t>(out)),
                         qPrintable(QString("%1: row %2 of %3").arg(QString::fromStdString(linear.kernel())).arg(r).arg(rows)));
            }
        }
    }

    void linearPicksTheKernelForThisCpu_data() {
        QTest::addColumn<Precision>("precision");
        for (const Precision precision : {Precision::F32, Precision::BF16, Precision::Int8})
            QTest::newRow(precision_name(precision)) << precision;
    }
    void linearPicksTheKernelForThisCpu() {
        // Below AVX-512 (a real AVX2 CPU, or ONEDNN_MAX_CPU_ISA=AVX2 / AVX2_VNNI) every precision runs on the
        // project's kernels, int8 on AVX-VNNI where the CPU has it; on AVX-512 oneDNN keeps f32 and int8, and bf16
        // where it has a bf16 kernel.
        QFETCH(Precision, precision);
        const CpuInfo& cpu = cpu_info();
        if (!cpu_allows(Isa::avx2)) QSKIP(qPrintable("no AVX2 here: " + QString::fromStdString(cpu_summary())));
        const Linear linear(weight_tensor(random_values(64 * 32, 51, 0.1f), 64, 32), precision);
        const std::string kernel = linear.kernel();
        qInfo("%s: %s", precision_name(precision), kernel.c_str());
        const bool vnni = cpu.cap >= Isa::avx2_vnni &&
                          std::find(cpu.features.begin(), cpu.features.end(), "AVX-VNNI") != cpu.features.end();
        if (cpu.cap < Isa::avx512_core) {
            const char* expected = precision == Precision::F32    ? "own avx2 f32"
                                   : precision == Precision::BF16 ? "own avx2 bf16"
                                   : vnni                         ? "own avx2_vnni int8"
                                                                  : "own avx2 int8";
            QCOMPARE(QString::fromStdString(kernel), QString(expected));
        } else if (precision != Precision::BF16 || cpu.cap >= Isa::avx512_core_bf16) {
            QVERIFY2(kernel.rfind("oneDNN ", 0) == 0, kernel.c_str());
        } else {
            QVERIFY2(kernel.rfind("oneDNN ", 0) == 0 || kernel == "own avx2 bf16", kernel.c_str());
        }
        // The environment this suite's ctest entries set holds the CPU to that step.
        if (const char* cap = std::getenv("ONEDNN_MAX_CPU_ISA")) {
            Isa isa;
            QVERIFY(parse_isa(cap, isa));
            QCOMPARE(cpu.cap, std::min(isa, cpu.native));
        }
    }

    void int8KernelsAgree() {
        // AVX2 and AVX-VNNI compute the same exact integer sums, so they agree bit for bit (a model gives the same
        // int8 output on both kinds of CPU), the 128 shift of AVX-VNNI included on extreme values.
        if (!kernels::supported(Kernel::Int8AvxVnni) || !kernels::supported(Kernel::Int8Avx2))
            QSKIP(qPrintable("needs AVX2 and AVX-VNNI: " + QString::fromStdString(cpu_summary())));
        const int in = 515, out = 70, rows = 6;
        std::vector<float> w = random_values(static_cast<size_t>(out * in), 61, 0.05f);
        std::vector<float> x = random_values(static_cast<size_t>(rows * in), 62, 1.0f);
        for (int i = 0; i < in; ++i) {  // row 0 and column 0 all at the extremes of the quantized range
            x[static_cast<size_t>(i)] = i % 2 ? -3.0f : 3.0f;
            w[static_cast<size_t>(i)] = -1.0f;
        }
        const std::vector<float> a = run_kernel(Kernel::Int8Avx2, x, w, rows, in, out);
        const std::vector<float> b = run_kernel(Kernel::Int8AvxVnni, x, w, rows, in, out);
        QVERIFY(same_bits(a.data(), b.data(), a.size()));
    }
};

QTEST_APPLESS_MAIN(TestKernels)
#include "test_kernels.moc"
