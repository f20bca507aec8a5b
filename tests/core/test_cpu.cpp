// core/engine/cpu: the ONEDNN_MAX_CPU_ISA spellings the project accepts, and that the cap it reports is the one
// the environment asked for. ctest runs this suite twice: natively, and as test_cpu_avx2 with
// ONEDNN_MAX_CPU_ISA=AVX2, where UMT5_TEST_EXPECT_CAP=avx2 makes capHonoured insist on the AVX2 cap.
#include <QtTest>

#include <cstdlib>
#include <string>

#include "core/engine/cpu.h"

using namespace umt5;

Q_DECLARE_METATYPE(umt5::Isa)

class TestCpu : public QObject {
    Q_OBJECT
private slots:
    void parseIsa_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<bool>("known");
        QTest::addColumn<Isa>("isa");
        QTest::newRow("AVX2") << "AVX2" << true << Isa::avx2;
        QTest::newRow("avx2 lower case") << "avx2" << true << Isa::avx2;
        QTest::newRow("SSE41") << "SSE41" << true << Isa::sse41;
        QTest::newRow("AVX") << "AVX" << true << Isa::avx;
        QTest::newRow("AVX2_VNNI") << "AVX2_VNNI" << true << Isa::avx2_vnni;
        QTest::newRow("AVX512_CORE") << "AVX512_CORE" << true << Isa::avx512_core;
        QTest::newRow("Avx512_Core_Vnni mixed case") << "Avx512_Core_Vnni" << true << Isa::avx512_core_vnni;
        QTest::newRow("AVX512_CORE_BF16") << "AVX512_CORE_BF16" << true << Isa::avx512_core_bf16;
        QTest::newRow("AVX512_CORE_AMX") << "AVX512_CORE_AMX" << true << Isa::avx512_core_amx;
        QTest::newRow("ALL is the top") << "ALL" << true << Isa::avx512_core_amx;
        QTest::newRow("empty") << "" << false << Isa::sse41;
        QTest::newRow("unknown name") << "AVX3" << false << Isa::sse41;
        QTest::newRow("trailing space") << "AVX2 " << false << Isa::sse41;
        QTest::newRow("oneDNN's AVX512_MIC is not on the core ladder") << "AVX512_MIC" << false << Isa::sse41;
    }
    void parseIsa() {
        QFETCH(QString, text);
        QFETCH(bool, known);
        QFETCH(Isa, isa);
        Isa parsed = Isa::avx512_core_bf16;  // a value parse_isa must overwrite on success, keep on failure
        QCOMPARE(parse_isa(text.toStdString(), parsed), known);
        QCOMPARE(parsed, known ? isa : Isa::avx512_core_bf16);
    }

    void namesRoundTrip_data() {
        QTest::addColumn<Isa>("isa");
        for (Isa isa : {Isa::sse41, Isa::avx, Isa::avx2, Isa::avx2_vnni, Isa::avx512_core, Isa::avx512_core_vnni,
                        Isa::avx512_core_bf16, Isa::avx512_core_amx})
            QTest::newRow(isa_name(isa)) << isa;
    }
    void namesRoundTrip() {
        QFETCH(Isa, isa);
        Isa parsed;
        QVERIFY(parse_isa(isa_name(isa), parsed));
        QCOMPARE(parsed, isa);
    }

    // The cap is the native step lowered by the environment, and cpu_allows follows it step by step.
    void capHonoured() {
        const CpuInfo& info = cpu_info();
        QVERIFY(info.cap <= info.native);
        Isa expected = info.native;
        for (const char* variable : {"ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"}) {
            Isa requested;
            if (const char* value = std::getenv(variable); value && parse_isa(value, requested)) {
                expected = std::min(info.native, requested);
                break;
            }
        }
        QCOMPARE(info.cap, expected);
        if (const char* must = std::getenv("UMT5_TEST_EXPECT_CAP")) {
            Isa wanted;
            QVERIFY2(parse_isa(must, wanted), must);
            if (info.native < wanted)
                QSKIP(qPrintable(QStringLiteral("this CPU (%1) is below the expected cap %2")
                                     .arg(isa_name(info.native), must)));
            QCOMPARE(isa_name(info.cap), isa_name(wanted));
            QVERIFY(QString::fromStdString(cpu_summary()).contains(QLatin1String("capped by ONEDNN_MAX_CPU_ISA")) ==
                    (info.cap != info.native));
        }
        for (Isa isa : {Isa::sse41, Isa::avx, Isa::avx2, Isa::avx2_vnni, Isa::avx512_core, Isa::avx512_core_vnni,
                        Isa::avx512_core_bf16, Isa::avx512_core_amx})
            QCOMPARE(cpu_allows(isa), isa <= info.cap);
    }

    void summaryNamesModelFeaturesAndCap() {
        const CpuInfo& info = cpu_info();
        const QString summary = QString::fromStdString(cpu_summary());
        QVERIFY2(summary.startsWith(QString::fromStdString(info.model) + QLatin1Char(';')), qPrintable(summary));
        for (const std::string& feature : info.features)
            QVERIFY2(summary.contains(QLatin1Char(' ') + QString::fromStdString(feature)), qPrintable(summary));
        QVERIFY2(summary.contains(QStringLiteral("kernels up to %1").arg(isa_name(info.cap))), qPrintable(summary));
        QVERIFY(!summary.contains(QLatin1Char('\n')));
    }
};

QTEST_APPLESS_MAIN(TestCpu)
#include "test_cpu.moc"
