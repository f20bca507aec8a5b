// The Controller's side of "precisions offered where they run": a precision this CPU cannot run is neither saved
// nor loaded, one saved on another machine is replaced by fp32 at start, and a model that fails to load at start
// is replaced by the embedded demo model in fp32 with a message, never by "no model". Rows that need a precision
// this CPU cannot run (bf16 with ONEDNN_MAX_CPU_ISA=AVX2) or can run skip with the reason; an unknown precision
// name exercises the refusal on every CPU.
#include <QSettings>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

#include "app/controller.h"
#include "core/engine/precision_support.h"
#include "test_util.h"

using studio::Controller;
using studio::GenerationSettings;

namespace {

constexpr int kTimeoutMs = 60000;

QString demoDir() { return QString::fromStdString(umt5test::demo_model_dir().string()); }

// Skips the running row unless `precision` is one this CPU refuses (an unknown name always is).
#define SKIP_UNLESS_REFUSED(precision)                                                                        \
    do {                                                                                                      \
        if (studio::precisionChoice(precision).runs)                                                          \
            QSKIP(qPrintable(QStringLiteral("%1 runs on this CPU (%2), so it cannot be refused here")        \
                                 .arg(precision, studio::precisionChoice(precision).kernel)));                \
    } while (false)

}  // namespace

class TestControllerPrecision : public QObject {
    Q_OBJECT
private slots:
    void init() {
        dataDir_ = std::make_unique<QTemporaryDir>();
        QVERIFY(dataDir_->isValid());
    }
    void cleanup() { dataDir_.reset(); }

    void choicesAreTheEngineProbe() {
        const QList<studio::PrecisionChoice> choices = studio::precisionChoices();
        const std::vector<umt5::PrecisionSupport>& support = umt5::precision_support();
        QCOMPARE(choices.size(), qsizetype(support.size()));
        for (qsizetype i = 0; i < choices.size(); ++i) {
            const umt5::PrecisionSupport& s = support[static_cast<size_t>(i)];
            QCOMPARE(choices[i].name, QString::fromLatin1(umt5::precision_name(s.precision)));
            QCOMPARE(choices[i].runs, s.runs);
            QCOMPARE(choices[i].kernel, QString::fromStdString(s.kernel));
            QCOMPARE(choices[i].reason, QString::fromStdString(s.reason));
        }
        QVERIFY(studio::precisionChoice(QStringLiteral("fp32")).runs);
        QVERIFY(!studio::precisionChoice(QStringLiteral("fp16")).runs);
    }

    void refusedPrecisionIsNeitherSavedNorLoaded_data() {
        QTest::addColumn<QString>("precision");
        QTest::newRow("unknown name") << QStringLiteral("fp16");
        QTest::newRow("bf16") << QStringLiteral("bf16");
        QTest::newRow("int8") << QStringLiteral("int8");
    }
    void refusedPrecisionIsNeitherSavedNorLoaded() {
        QFETCH(QString, precision);
        SKIP_UNLESS_REFUSED(precision);
        {
            Controller controller(dataDir_->path());
            QSignalSpy loaded(&controller, &Controller::modelLoaded);
            controller.loadModel(demoDir());
            QVERIFY(loaded.wait(kTimeoutMs));
            QSignalSpy rejected(&controller, &Controller::precisionRejected);
            QSignalSpy failed(&controller, &Controller::modelLoadFailed);
            GenerationSettings wanted = controller.settings();
            wanted.precision = precision;
            wanted.maxNewTokens = 77;  // the rest of the settings is applied and saved
            controller.setSettings(wanted);
            QCOMPARE(rejected.count(), 1);
            QCOMPARE(rejected.at(0).at(0).toString(), precision);
            QCOMPARE(rejected.at(0).at(1).toString(), studio::precisionChoice(precision).reason);
            QCOMPARE(controller.settings().precision, QStringLiteral("fp32"));
            QCOMPARE(controller.settings().maxNewTokens, 77);
            QVERIFY(!loaded.wait(500));  // no reload
            QCOMPARE(failed.count(), 0);
            QCOMPARE(controller.modelInfo().value(QStringLiteral("precision")).toString(), QStringLiteral("fp32"));
        }
        QSettings saved(dataDir_->filePath(QStringLiteral("settings.ini")), QSettings::IniFormat);
        QCOMPARE(saved.value(QStringLiteral("generation/precision")).toString(), QStringLiteral("fp32"));
        QCOMPARE(saved.value(QStringLiteral("generation/maxNewTokens")).toInt(), 77);
    }

    // settings.ini written on a CPU that ran bf16, read on one that cannot.
    void savedRefusedPrecisionBecomesFp32AtStart() {
        SKIP_UNLESS_REFUSED(QStringLiteral("bf16"));
        {
            QSettings saved(dataDir_->filePath(QStringLiteral("settings.ini")), QSettings::IniFormat);
            saved.setValue(QStringLiteral("generation/precision"), QStringLiteral("bf16"));
        }
        Controller controller(dataDir_->path());
        QCOMPARE(controller.settings().precision, QStringLiteral("fp32"));
        QSignalSpy fallback(&controller, &Controller::startupFallback);
        QSignalSpy loaded(&controller, &Controller::modelLoaded);
        QSignalSpy failed(&controller, &Controller::modelLoadFailed);
        controller.loadStartupModel(demoDir());
        QCOMPARE(fallback.count(), 1);
        const QString message = fallback.at(0).at(0).toString();
        QVERIFY2(message.contains(studio::precisionChoice(QStringLiteral("bf16")).reason), qPrintable(message));
        QVERIFY2(message.contains(QLatin1String("fp32 is used instead")), qPrintable(message));
        QVERIFY(loaded.wait(kTimeoutMs));
        QCOMPARE(loaded.at(0).at(0).toMap().value(QStringLiteral("precision")).toString(), QStringLiteral("fp32"));
        QCOMPARE(failed.count(), 0);
    }

    // The model of the last session is damaged (or gone): the demo model in fp32 instead, with the reason.
    void failedStartupModelFallsBackToDemoInFp32_data() {
        QTest::addColumn<QString>("precision");
        QTest::newRow("fp32") << QStringLiteral("fp32");
        QTest::newRow("int8") << QStringLiteral("int8");
    }
    void failedStartupModelFallsBackToDemoInFp32() {
        QFETCH(QString, precision);
        UMT5_SKIP_UNLESS_RUNS(umt5::parse_precision(precision.toStdString()));
        QTemporaryDir broken;
        QVERIFY(broken.isValid());
        QFile config(broken.filePath(QStringLiteral("config.json")));
        QVERIFY(config.open(QIODevice::WriteOnly));
        config.write("{ not json");
        config.close();
        {
            QSettings saved(dataDir_->filePath(QStringLiteral("settings.ini")), QSettings::IniFormat);
            saved.setValue(QStringLiteral("generation/precision"), precision);
        }
        Controller controller(dataDir_->path());
        QCOMPARE(controller.settings().precision, precision);
        QSignalSpy fallback(&controller, &Controller::startupFallback);
        QSignalSpy loaded(&controller, &Controller::modelLoaded);
        QSignalSpy failed(&controller, &Controller::modelLoadFailed);
        controller.loadStartupModel(broken.path());
        QVERIFY(loaded.wait(kTimeoutMs));
        QCOMPARE(fallback.count(), 1);
        const QString message = fallback.at(0).at(0).toString();
        QVERIFY2(message.contains(broken.path()) && message.contains(QLatin1String("config.json")) &&
                     message.contains(QLatin1String("The demo model is loaded in fp32 instead")),
                 qPrintable(message));
        QVERIFY2(!message.contains(QLatin1Char('\n')), qPrintable(message));
        QCOMPARE(failed.count(), 0);  // replaced, so not reported as a failure that leaves no model
        const QVariantMap info = loaded.at(0).at(0).toMap();
        QCOMPARE(info.value(QStringLiteral("dir")).toString(), demoDir());
        QCOMPARE(info.value(QStringLiteral("precision")).toString(), QStringLiteral("fp32"));
        QCOMPARE(controller.settings().precision, QStringLiteral("fp32"));
        QVERIFY(controller.hasModel());

        // Only the start falls back: a later failure keeps the loaded model and says so.
        controller.loadModel(broken.path());
        QVERIFY(failed.wait(kTimeoutMs));
        QCOMPARE(fallback.count(), 1);
        QCOMPARE(controller.modelInfo().value(QStringLiteral("dir")).toString(), demoDir());
    }

private:
    std::unique_ptr<QTemporaryDir> dataDir_;
};

QTEST_GUILESS_MAIN(TestControllerPrecision)
#include "test_controller_precision.moc"
