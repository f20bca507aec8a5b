// SettingsDialog's precision list: a precision this CPU cannot run is shown disabled with the reason (tooltip
// and the note under the list) and cannot come back out of settings(); the About box's precision report names
// the CPU and every precision's kernel or reason.
#include <QComboBox>
#include <QLabel>
#include <QStandardItemModel>
#include <QTest>

#include "app/precision_choices.h"
#include "ui/main_window.h"
#include "ui/settings_dialog.h"

using studio::GenerationSettings;
using studio::PrecisionChoice;
using studio::SettingsDialog;

namespace {

const QString kReason = QStringLiteral("bf16 needs a CPU with AVX-512 (AVX512F, AVX512BW, AVX512VL and AVX512DQ); "
                                       "this one has AVX2");

QList<PrecisionChoice> choicesWithoutBf16() {
    return {{QStringLiteral("fp32"), true, QStringLiteral("avx2"), QStringLiteral("gemm:jit"), {}},
            {QStringLiteral("bf16"), false, {}, {}, kReason},
            {QStringLiteral("int8"), true, QStringLiteral("avx2"), QStringLiteral("gemm:jit"), {}}};
}

QStandardItem* item(QComboBox* box, const QString& name) {
    return qobject_cast<QStandardItemModel*>(box->model())->item(box->findData(name));
}

}  // namespace

class TestSettingsDialog : public QObject {
    Q_OBJECT
private slots:
    void refusedPrecisionIsDisabledWithReason_data() {
        QTest::addColumn<QString>("saved");
        QTest::addColumn<QString>("shown");
        QTest::newRow("fp32 stays") << QStringLiteral("fp32") << QStringLiteral("fp32");
        QTest::newRow("int8 stays") << QStringLiteral("int8") << QStringLiteral("int8");
        QTest::newRow("bf16 becomes fp32") << QStringLiteral("bf16") << QStringLiteral("fp32");
    }
    void refusedPrecisionIsDisabledWithReason() {
        QFETCH(QString, saved);
        QFETCH(QString, shown);
        GenerationSettings settings;
        settings.precision = saved;
        SettingsDialog dialog(settings);
        dialog.setPrecisionChoices(choicesWithoutBf16());
        QComboBox* box = nullptr;
        for (QComboBox* candidate : dialog.findChildren<QComboBox*>())
            if (candidate->findData(QStringLiteral("bf16")) >= 0)
                box = candidate;
        QVERIFY(box);
        QVERIFY(!item(box, QStringLiteral("bf16"))->isEnabled());
        QCOMPARE(item(box, QStringLiteral("bf16"))->toolTip(), kReason);
        QVERIFY(item(box, QStringLiteral("fp32"))->isEnabled());
        QVERIFY(item(box, QStringLiteral("int8"))->isEnabled());
        QCOMPARE(item(box, QStringLiteral("int8"))->toolTip(), QStringLiteral("Runs here on avx2 (gemm:jit)"));
        auto* note = dialog.findChild<QLabel*>(QStringLiteral("precisionNote"));
        QVERIFY(note);
        QVERIFY(!note->isHidden());
        QCOMPARE(note->text(), QStringLiteral("bf16 is not available: %1.").arg(kReason));
        QCOMPARE(dialog.settings().precision, shown);

        // The keyboard cannot reach the disabled entry either: from fp32, Down goes to int8.
        box->setCurrentIndex(box->findData(QStringLiteral("fp32")));
        box->setFocus();
        QTest::keyClick(box, Qt::Key_Down);
        QCOMPARE(dialog.settings().precision, QStringLiteral("int8"));
    }

    void everyPrecisionRunningShowsNoNote() {
        SettingsDialog dialog(GenerationSettings{});
        QList<PrecisionChoice> all = choicesWithoutBf16();
        all[1] = {QStringLiteral("bf16"), true, QStringLiteral("avx512_core_amx"), QStringLiteral("brg:avx512_core_amx"), {}};
        dialog.setPrecisionChoices(all);
        auto* note = dialog.findChild<QLabel*>(QStringLiteral("precisionNote"));
        QVERIFY(note);
        QVERIFY(note->isHidden());
    }

    // The About box's last part, from the real probe of this CPU.
    void aboutReportsCpuAndPrecisions() {
        const QString report = studio::MainWindow::precisionReport();
        QVERIFY2(report.contains(studio::cpuSummary().toHtmlEscaped()), qPrintable(report));
        for (const PrecisionChoice& choice : studio::precisionChoices()) {
            QVERIFY2(report.contains(QStringLiteral("<b>%1</b>").arg(choice.name)), qPrintable(report));
            QVERIFY2(report.contains((choice.runs ? choice.kernel : choice.reason).toHtmlEscaped()), qPrintable(report));
        }
    }
};

QTEST_MAIN(TestSettingsDialog)
#include "test_settings_dialog.moc"
