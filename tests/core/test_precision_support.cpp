// What each precision runs on here (core/engine/precision_support.h), and that a precision this CPU cannot run is
// refused in one line everywhere: Linear, Model::load, and `umt5` generate / bench / --version. Written for both
// kinds of CPU: where the probe says a precision runs, it must load and translate (the same text as with oneDNN
// free to use every instruction set); where it says it does not, the exact one-line error is expected. ctest runs
// the whole suite natively and again with ONEDNN_MAX_CPU_ISA=AVX2 (scripts/test.sh).
#include <QtTest>

#include <QProcessEnvironment>

#include <algorithm>
#include <cmath>

#include "core/engine/cpu.h"
#include "core/engine/model.h"
#include "core/engine/precision_support.h"
#include "core/chat/generation.h"
#include "test_util.h"

using namespace umt5;

Q_DECLARE_METATYPE(umt5::Precision)

namespace {

void precision_rows() {
    QTest::addColumn<Precision>("precision");
    for (Precision p : {Precision::F32, Precision::BF16, Precision::Int8}) QTest::newRow(precision_name(p)) << p;
}

// `umt5 args` with ONEDNN_MAX_CPU_ISA and DNNL_MAX_CPU_ISA removed (`native`) or as this process has them.
umt5test::ToolRun run_tool_env(const QStringList& args, bool native) {
    QProcess process;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    if (native) {
        env.remove(QStringLiteral("ONEDNN_MAX_CPU_ISA"));
        env.remove(QStringLiteral("DNNL_MAX_CPU_ISA"));
    }
    process.setProcessEnvironment(env);
    process.start(umt5test::cli_path(), args);
    process.waitForFinished(300000);
    return {process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1,
            QString::fromUtf8(process.readAllStandardOutput()), QString::fromUtf8(process.readAllStandardError())};
}

QString expected_load_error(Precision p, const std::filesystem::path& dir) {
    return QStringLiteral("umt5: error: cannot load %1 in %2: %3")
        .arg(QString::fromStdString(dir.string()), precision_name(p),
             QString::fromStdString(precision_support(p).reason));
}

}  // namespace

class TestPrecisionSupport : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { qInfo("CPU: %s\n%s", cpu_summary().c_str(), precision_table().c_str()); }

    void fp32RunsEverywhere() {
        const PrecisionSupport& s = precision_support(Precision::F32);
        QVERIFY2(s.runs, s.reason.c_str());
        QVERIFY(!s.kernel.empty());
        Isa isa;
        QVERIFY2(parse_isa(s.isa, isa), s.isa.c_str());
        QVERIFY(isa <= cpu_info().cap);  // no kernel above the cap
        QVERIFY(s.reason.empty());
    }

    void tableListsEveryPrecision() {
        const std::vector<PrecisionSupport>& all = precision_support();
        QCOMPARE(all.size(), size_t{3});
        const QStringList lines = QString::fromStdString(precision_table()).split('\n', Qt::SkipEmptyParts);
        QCOMPARE(lines.size(), 3);
        for (size_t i = 0; i < all.size(); ++i) {
            const PrecisionSupport& s = all[i];
            QCOMPARE(s.runs, precision_support(s.precision).runs);
            const QString line = lines[static_cast<int>(i)].simplified();
            QVERIFY2(line.startsWith(QString(precision_name(s.precision)) + (s.runs ? " runs " : " no ")),
                     qPrintable(line));
            QVERIFY2(line.endsWith(QString::fromStdString(s.runs ? s.kernel : s.reason)), qPrintable(line));
        }
    }

    // The reason names the missing feature in words, and only when the cap lacks what oneDNN needs.
    void reasonNamesTheMissingFeature() {
        const CpuInfo& cpu = cpu_info();
        const bool capped = cpu.cap != cpu.native;
        const std::string bf16 = unsupported_reason(Precision::BF16, "could not create a primitive descriptor");
        if (cpu.cap < Isa::avx512_core) {
            QVERIFY2(bf16.rfind("bf16 needs a CPU with AVX-512 (AVX512F, AVX512BW, AVX512VL and AVX512DQ); this "
                                "one has ", 0) == 0, bf16.c_str());
            QCOMPARE(bf16.find("primitive descriptor"), std::string::npos);
        } else {
            QVERIFY2(bf16.rfind("bf16 does not work on this CPU (", 0) == 0, bf16.c_str());
            QVERIFY(bf16.find("could not create a primitive descriptor") != std::string::npos);
        }
        const std::string int8 = unsupported_reason(Precision::Int8, "off by 70 %");
        const bool vnni = cpu.cap == Isa::avx2_vnni || cpu.cap >= Isa::avx512_core_vnni;
        QVERIFY2(int8.rfind(vnni ? "int8 does not work on this CPU (" : "int8 needs a CPU with AVX512-VNNI or AVX-VNNI", 0) == 0,
                 int8.c_str());
        for (const std::string& reason : {bf16, int8}) {
            QCOMPARE(reason.find("held there by ONEDNN_MAX_CPU_ISA") != std::string::npos, capped);
            QCOMPARE(reason.find('\n'), std::string::npos);
        }
    }

    // Linear itself, against the probe: where it runs, the layer names the probe's kernel and multiplies right;
    // where oneDNN has no kernel, Linear throws UnsupportedPrecision (never dnnl::error) with the probe's reason;
    // where the probe found wrong products (int8 without VNNI), this product is wrong too.
    void linearAgreesWithTheProbe_data() { precision_rows(); }
    void linearAgreesWithTheProbe() {
        QFETCH(Precision, precision);
        const PrecisionSupport& s = precision_support(precision);
        Tensor weight({48, 32}, DType::F32);
        for (int64_t i = 0; i < 48 * 32; ++i) weight.data<float>()[i] = static_cast<float>(i % 5) - 2.0f;
        try {
            const Linear linear(std::move(weight), precision);
            // Weights and inputs are small integers, exact in bf16; int8 stores +-1 as +-64/127 of +-2, 0.8 % off.
            std::vector<float> x(3 * 32, 1.0f), y(3 * 48);
            linear.forward(x.data(), 3, y.data());
            double worst = 0;
            for (int64_t r = 0; r < 3; ++r)
                for (int64_t n = 0; n < 48; ++n) {
                    float expected = 0;
                    for (int64_t k = 0; k < 32; ++k) expected += static_cast<float>((n * 32 + k) % 5) - 2.0f;
                    worst = std::max(worst, static_cast<double>(std::fabs(y[static_cast<size_t>(r * 48 + n)] - expected)));
                }
            const double tolerance = precision == Precision::Int8 ? 0.3 : 0.0;
            if (s.runs) {
                QCOMPARE(linear.kernel(), s.kernel);
                QVERIFY2(worst <= tolerance, qPrintable(QStringLiteral("off by %1").arg(worst)));
            } else {
                QVERIFY2(s.reason.find("wrong results") != std::string::npos, s.reason.c_str());
                QVERIFY2(worst > tolerance, "the probe refused a precision whose product is right here");
            }
        } catch (const UnsupportedPrecision& e) {
            QVERIFY2(!s.runs, e.what());
            QCOMPARE(e.reason(), s.reason);
            QCOMPARE(std::string(e.what()), s.reason + " (" + precision_name(precision) + " linear layer [48, 32])");
        }
    }

    void modelLoadAgreesWithTheProbe_data() { precision_rows(); }
    void modelLoadAgreesWithTheProbe() {
        QFETCH(Precision, precision);
        const PrecisionSupport& s = precision_support(precision);
        LoadOptions options;
        options.precision = precision;
        const std::filesystem::path dir = umt5test::demo_model_dir();
        if (s.runs) {
            const auto model = Model::load(dir, options);
            GenerationOptions generation;
            generation.max_new_tokens = 8;
            const GenerationResult result = generate(*model, "translate English to German: File not found", generation);
            QVERIFY(!result.text.empty());
        } else {
            try {
                Model::load(dir, options);
                QFAIL("the model loaded although the probe said the precision does not run");
            } catch (const Error& e) {
                QCOMPARE(QStringLiteral("umt5: error: ") + e.what(), expected_load_error(precision, dir));
            }
        }
    }

    // The tool: --version shows the CPU and the table; generate and bench either translate as with every
    // instruction set available, or fail with the one line.
    void versionShowsCpuAndPrecisions() {
        const umt5test::ToolRun run = umt5test::run_tool({"--version"});
        QCOMPARE(run.exit_code, 0);
        QVERIFY2(run.out.contains(QStringLiteral("CPU: ") + QString::fromStdString(cpu_summary())), qPrintable(run.out));
        QVERIFY2(run.out.contains(QString::fromStdString(precision_table()).trimmed()), qPrintable(run.out));
    }

    void generateInEachPrecision_data() { precision_rows(); }
    void generateInEachPrecision() {
        QFETCH(Precision, precision);
        const QStringList args{"generate", "--precision", precision_name(precision), "--prompt",
                               "translate English to German: The file could not be saved"};
        const umt5test::ToolRun here = umt5test::run_tool(args);
        if (!precision_support(precision).runs) {
            QCOMPARE(here.exit_code, 1);
            QCOMPARE(here.out, QString());
            QCOMPARE(here.err, expected_load_error(precision, umt5test::demo_model_dir()) + '\n');
            return;
        }
        QCOMPARE(here.exit_code, 0);
        QVERIFY(!here.out.trimmed().isEmpty());
        const umt5test::ToolRun native = run_tool_env(args, /*native=*/true);
        QCOMPARE(native.exit_code, 0);
        QCOMPARE(here.out, native.out);
    }

    void benchInEachPrecision_data() { precision_rows(); }
    void benchInEachPrecision() {
        QFETCH(Precision, precision);
        const umt5test::ToolRun run = umt5test::run_tool({"bench", "--precision", precision_name(precision), "--prompt",
                                                          "translate English to German: File", "--new-tokens", "4",
                                                          "--json"});
        if (!precision_support(precision).runs) {
            QCOMPARE(run.exit_code, 1);
            QCOMPARE(run.err, expected_load_error(precision, umt5test::demo_model_dir()) + '\n');
            return;
        }
        QCOMPARE(run.exit_code, 0);
        QVERIFY2(run.out.contains(QStringLiteral("\"identical\":true")), qPrintable(run.out));
    }
};

QTEST_APPLESS_MAIN(TestPrecisionSupport)
#include "test_precision_support.moc"
