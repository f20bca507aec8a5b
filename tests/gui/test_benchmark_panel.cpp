// The benchmark panel driven through the real Controller and worker thread on the tiny random model (which never
// emits eos): streamed columns, chart, results table, cancel, CSV/JSON/PNG saving, queueing behind generations and
// the main window's Tools › Benchmark. No test looks at how fast anything was.
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <QAbstractAxis>
#include <QChart>
#include <QDialog>
#include <QFile>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLegend>
#include <QLineSeries>
#include <QLocale>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QTableWidget>

#include <memory>

#include "app/controller.h"
#include "test_util.h"
#include "ui/benchmark_panel.h"
#include "ui/main_window.h"
#include "ui/prompt_edit.h"

using studio::BenchmarkPanel;
using studio::Controller;

namespace {

constexpr int kTimeoutMs = 120000;
constexpr int kTokens = 6;
const QString kPrompt = QStringLiteral("translate English to German: The file could not be saved.");

QString tinyDir() { return QString::fromStdString(umt5test::tiny_a_dir().string()); }
QString demoDir() { return QString::fromStdString(umt5test::demo_model_dir().string()); }

// The number at the start of a table cell such as "12.5 ms" or "3.20×" (0 when there is none).
double leadingNumber(const QString& text) {
    QString digits = text.section(QLatin1Char(' '), 0, 0);
    digits.remove(QStringLiteral("×"));
    bool ok = false;
    const double value = QLocale().toDouble(digits, &ok);
    return ok ? value : 0;
}

}  // namespace

class TestBenchmarkPanel : public QObject {
    Q_OBJECT
private slots:
    void init();
    void cleanup();

    void runFillsColumnsChartAndTable();
    void repeatsChartTheMedians();
    void cancelMidRunReturnsToIdle();
    void savesCsvAndJson();
    void savesChartAsPng();
    void saveFailuresAreReported();
    void runNeedsPromptAndModel();
    void queuesBehindGeneration();
    void generationQueuesBehindBenchmark();
    void menuActionOpensPanelWithPrompt();
    void marksWhereTheModelWouldStop();
    void chartFollowsPalette();

private:
    bool loadTiny();
    bool loadModel(const QString& dir);
    bool runAndWait(int tokens, int repeats = 1);
    QString cell(int row, int column) const;

    std::unique_ptr<QTemporaryDir> dataDir_;
    std::unique_ptr<Controller> controller_;
    std::unique_ptr<BenchmarkPanel> panel_;
};

void TestBenchmarkPanel::init() {
    dataDir_ = std::make_unique<QTemporaryDir>();
    QVERIFY(dataDir_->isValid());
    controller_ = std::make_unique<Controller>(dataDir_->path());
    studio::GenerationSettings settings = controller_->settings();
    settings.threads = 2;
    controller_->setSettings(settings);
    panel_ = std::make_unique<BenchmarkPanel>(*controller_);
    panel_->resize(1000, 700);
    panel_->show();
    QVERIFY(QTest::qWaitForWindowExposed(panel_.get()));
}

void TestBenchmarkPanel::cleanup() {
    panel_.reset();
    controller_.reset();
    dataDir_.reset();
}

bool TestBenchmarkPanel::loadTiny() { return loadModel(tinyDir()); }

bool TestBenchmarkPanel::loadModel(const QString& dir) {
    QSignalSpy loaded(controller_.get(), &Controller::modelLoaded);
    controller_->loadModel(dir);
    return loaded.wait(kTimeoutMs) || loaded.count() == 1;
}

bool TestBenchmarkPanel::runAndWait(int tokens, int repeats) {
    QSignalSpy finished(panel_.get(), &BenchmarkPanel::finished);
    panel_->setPrompt(kPrompt);
    panel_->setNewTokens(tokens);
    panel_->setRepeats(repeats);
    if (!panel_->run())
        return false;
    return finished.wait(kTimeoutMs) || finished.count() == 1;
}

QString TestBenchmarkPanel::cell(int row, int column) const {
    const auto* table = panel_->findChild<QTableWidget*>(QStringLiteral("benchmarkResults"));
    const QTableWidgetItem* item = table ? table->item(row, column) : nullptr;
    return item ? item->text() : QString();
}

void TestBenchmarkPanel::runFillsColumnsChartAndTable() {
    QVERIFY(loadTiny());
    auto* run = panel_->findChild<QPushButton*>(QStringLiteral("benchmarkRun"));
    auto* cancel = panel_->findChild<QPushButton*>(QStringLiteral("benchmarkCancel"));
    QVERIFY(run && cancel);
    QSignalSpy tokens(controller_.get(), &Controller::benchmarkToken);
    QSignalSpy progress(controller_.get(), &Controller::benchmarkProgress);
    QSignalSpy finished(panel_.get(), &BenchmarkPanel::finished);
    panel_->setPrompt(kPrompt);
    panel_->setNewTokens(kTokens);
    QVERIFY(run->isEnabled());
    QTest::mouseClick(run, Qt::LeftButton);
    QVERIFY(panel_->isRunning());
    QVERIFY(!run->isEnabled());
    QVERIFY(cancel->isEnabled());
    QVERIFY(finished.wait(kTimeoutMs));
    QVERIFY(!panel_->isRunning());
    QVERIFY(run->isEnabled());
    QVERIFY(!cancel->isEnabled());

    // Every timed token of both modes was reported, with its position and a latency.
    QCOMPARE(tokens.count(), 2 * kTokens);
    QCOMPARE(progress.count(), 2 * kTokens);
    QCOMPARE(progress.last().at(1).toInt(), 2 * kTokens);
    QCOMPARE(progress.last().at(2).toInt(), 2 * kTokens);
    for (const QList<QVariant>& event : tokens)
        QVERIFY(event.at(4).toDouble() > 0);

    // Both columns are filled with the same text (greedy decoding, so the cache must not change a token).
    const studio::BenchmarkReport& report = panel_->report();
    QVERIFY(panel_->hasReport());
    auto* onText = panel_->findChild<QPlainTextEdit*>(QStringLiteral("cacheOnText"));
    auto* offText = panel_->findChild<QPlainTextEdit*>(QStringLiteral("cacheOffText"));
    QVERIFY(onText && offText);
    QVERIFY(!onText->toPlainText().isEmpty());
    QCOMPARE(onText->toPlainText(), report.cacheOn.text);
    QCOMPARE(offText->toPlainText(), onText->toPlainText());
    QCOMPARE(report.cacheOn.outputIds.size(), kTokens);
    QCOMPARE(report.cacheOff.outputIds, report.cacheOn.outputIds);
    QCOMPARE(report.cacheOn.endOfSequence, -1);  // tiny-a never produces eos
    QVERIFY(!onText->toPlainText().contains(QStringLiteral("end of sequence")));

    // One point per token in each series, at positions 1..N with positive latencies.
    for (QLineSeries* series : {panel_->series(studio::kCacheOn), panel_->series(studio::kCacheOff)}) {
        QCOMPARE(series->count(), kTokens);
        for (int i = 0; i < kTokens; ++i) {
            QCOMPARE(series->at(i).x(), double(i + 1));
            QVERIFY(series->at(i).y() > 0);
        }
    }

    // The table: positive numbers for both modes, a speedup, and a clear tick for identical outputs.
    for (int row = 0; row < 4; ++row)
        for (int column = 0; column < 2; ++column)
            QVERIFY2(leadingNumber(cell(row, column)) > 0, qPrintable(cell(row, column)));
    QVERIFY(cell(4, 0).endsWith(QStringLiteral("×")));
    QVERIFY(leadingNumber(cell(4, 0)) > 0);
    QVERIFY2(cell(5, 0).startsWith(QStringLiteral("✓")), qPrintable(cell(5, 0)));
    QCOMPARE(report.newTokens, kTokens);
    QCOMPARE(report.repeat, 1);
    QVERIFY(report.promptTokens > 1);
    QVERIFY(report.identical);
    QVERIFY(!report.stopped);
}

void TestBenchmarkPanel::repeatsChartTheMedians() {
    QVERIFY(loadTiny());
    QSignalSpy tokens(controller_.get(), &Controller::benchmarkToken);
    QVERIFY(runAndWait(4, 3));
    QCOMPARE(tokens.count(), 2 * 4 * 3);
    const studio::BenchmarkReport& report = panel_->report();
    QCOMPARE(report.repeat, 3);
    QCOMPARE(report.cacheOn.runs, 3);
    QCOMPARE(report.cacheOff.runs, 3);
    // After the runs, the chart shows the median at every position rather than the first run.
    for (auto mode : {studio::kCacheOn, studio::kCacheOff}) {
        const studio::BenchmarkModeReport& result = mode == studio::kCacheOn ? report.cacheOn : report.cacheOff;
        QLineSeries* series = panel_->series(mode);
        QCOMPARE(series->count(), 4);
        for (int i = 0; i < 4; ++i)
            QCOMPARE(series->at(i).y(), result.perPositionMs[i]);
    }
    QVERIFY(cell(5, 0).startsWith(QStringLiteral("✓")));
}

void TestBenchmarkPanel::cancelMidRunReturnsToIdle() {
    QVERIFY(loadTiny());
    QSignalSpy progress(controller_.get(), &Controller::benchmarkProgress);
    QSignalSpy workerDone(controller_.get(), &Controller::benchmarkFinished);
    QSignalSpy panelStopped(panel_.get(), &BenchmarkPanel::stopped);
    QSignalSpy panelFinished(panel_.get(), &BenchmarkPanel::finished);
    panel_->setPrompt(kPrompt);
    panel_->setNewTokens(2000);  // far more than the test waits for
    QVERIFY(panel_->run());
    QTRY_VERIFY_WITH_TIMEOUT(progress.count() >= 3, kTimeoutMs);
    auto* cancel = panel_->findChild<QPushButton*>(QStringLiteral("benchmarkCancel"));
    QTest::mouseClick(cancel, Qt::LeftButton);
    QVERIFY(!panel_->isRunning());
    QCOMPARE(panelStopped.count(), 1);
    QVERIFY(panel_->findChild<QPushButton*>(QStringLiteral("benchmarkRun"))->isEnabled());
    QVERIFY(!cancel->isEnabled());
    QVERIFY(panel_->findChild<QLabel*>(QStringLiteral("benchmarkStatus"))->text().startsWith(QStringLiteral("Cancelled")));

    // A new run at once queues behind the stopping one; the cancelled run's late events must not reach it.
    QVERIFY(runAndWait(kTokens));
    QCOMPARE(panel_->series(studio::kCacheOn)->count(), kTokens);
    QCOMPARE(panel_->series(studio::kCacheOff)->count(), kTokens);
    QCOMPARE(panel_->findChild<QPlainTextEdit*>(QStringLiteral("cacheOnText"))->toPlainText(),
             panel_->report().cacheOn.text);
    QCOMPARE(panelFinished.count(), 1);

    // The worker stopped the cancelled run at its next token and reported it incomplete.
    QCOMPARE(workerDone.count(), 2);
    QVERIFY(workerDone.at(0).at(1).value<studio::BenchmarkReport>().stopped);
    QVERIFY(!workerDone.at(1).at(1).value<studio::BenchmarkReport>().stopped);
    QVERIFY(!controller_->isBenchmarking());
}

void TestBenchmarkPanel::savesCsvAndJson() {
    QVERIFY(loadTiny());
    QVERIFY(runAndWait(kTokens));
    QTemporaryDir out;
    QVERIFY(out.isValid());

    const QString csvPath = out.filePath(QStringLiteral("bench.csv"));
    QString error;
    QVERIFY2(panel_->saveCsv(csvPath, &error), qPrintable(error));
    QFile csv(csvPath);
    QVERIFY(csv.open(QIODevice::ReadOnly));
    const QStringList lines = QString::fromUtf8(csv.readAll()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 3);
    const QStringList header = lines[0].split(QLatin1Char(','));
    const QStringList expected = {QStringLiteral("mode"),          QStringLiteral("runs"),
                                  QStringLiteral("first_token_ms"), QStringLiteral("tokens_per_s"),
                                  QStringLiteral("ms_per_token_median"), QStringLiteral("total_ms"),
                                  QStringLiteral("speedup"),       QStringLiteral("identical"),
                                  QStringLiteral("model"),         QStringLiteral("prompt_tokens"),
                                  QStringLiteral("new_tokens"),    QStringLiteral("repeat"),
                                  QStringLiteral("threads")};
    QCOMPARE(header, expected);
    for (int row = 1; row <= 2; ++row) {
        const QStringList fields = lines[row].split(QLatin1Char(','));
        QCOMPARE(fields.size(), expected.size());
        QCOMPARE(fields[0], row == 1 ? QStringLiteral("cache_on") : QStringLiteral("cache_off"));
        QCOMPARE(fields[1], QStringLiteral("1"));
        for (int column = 2; column <= 6; ++column)  // C-locale numbers, whatever the user's locale
            QVERIFY2(fields[column].toDouble() > 0, qPrintable(lines[row]));
        QCOMPARE(fields[7], QStringLiteral("true"));
        QCOMPARE(fields[8], panel_->report().model);
        QCOMPARE(fields[10].toInt(), kTokens);
        QCOMPARE(fields[12].toInt(), panel_->report().threads);
    }

    const QString jsonPath = out.filePath(QStringLiteral("bench.json"));
    QVERIFY2(panel_->saveJson(jsonPath, &error), qPrintable(error));
    QFile jsonFile(jsonPath);
    QVERIFY(jsonFile.open(QIODevice::ReadOnly));
    QJsonParseError parseError;
    const QJsonObject json = QJsonDocument::fromJson(jsonFile.readAll(), &parseError).object();
    QCOMPARE(parseError.error, QJsonParseError::NoError);
    for (const char* key : {"model", "prompt", "prompt_tokens", "new_tokens", "repeat", "threads", "cache_on",
                            "cache_off", "speedup", "identical"})
        QVERIFY2(json.contains(QLatin1String(key)), key);
    QCOMPARE(json.value(QStringLiteral("prompt")).toString(), kPrompt);
    QCOMPARE(json.value(QStringLiteral("new_tokens")).toInt(), kTokens);
    QVERIFY(json.value(QStringLiteral("identical")).toBool());
    QVERIFY(json.value(QStringLiteral("speedup")).toDouble() > 0);
    for (const char* mode : {"cache_on", "cache_off"}) {
        const QJsonObject m = json.value(QLatin1String(mode)).toObject();
        for (const char* key : {"runs", "first_token_ms", "tokens_per_s", "ms_per_token_median", "total_ms",
                                "per_position_ms", "output_ids", "text"})
            QVERIFY2(m.contains(QLatin1String(key)), key);
        QCOMPARE(m.value(QStringLiteral("per_position_ms")).toArray().size(), kTokens);
        QCOMPARE(m.value(QStringLiteral("output_ids")).toArray().size(), kTokens);
        QCOMPARE(m.value(QStringLiteral("text")).toString(), panel_->report().cacheOn.text);
    }
}

void TestBenchmarkPanel::savesChartAsPng() {
    QVERIFY(loadTiny());
    QVERIFY(runAndWait(kTokens));
    QTemporaryDir out;
    const QString path = out.filePath(QStringLiteral("chart.png"));
    QString error;
    QVERIFY2(panel_->saveChart(path, &error), qPrintable(error));
    const QImage image(path);
    QVERIFY(!image.isNull());
    QVERIFY(image.width() > 100 && image.height() > 100);
}

void TestBenchmarkPanel::saveFailuresAreReported() {
    QTemporaryDir out;
    QString error;
    // Nothing measured yet.
    QVERIFY(!panel_->saveCsv(out.filePath(QStringLiteral("a.csv")), &error));
    QVERIFY(!error.isEmpty());
    QVERIFY(!QFile::exists(out.filePath(QStringLiteral("a.csv"))));

    QVERIFY(loadTiny());
    QVERIFY(runAndWait(2));
    const QString missingDir = out.filePath(QStringLiteral("no/such/dir/a.json"));
    error.clear();
    QVERIFY(!panel_->saveJson(missingDir, &error));
    QVERIFY(!error.isEmpty());
    // An existing file is replaced as a whole.
    const QString path = out.filePath(QStringLiteral("b.csv"));
    QFile old(path);
    QVERIFY(old.open(QIODevice::WriteOnly));
    old.write(QByteArray(10000, 'x'));
    old.close();
    QVERIFY(panel_->saveCsv(path, &error));
    QFile saved(path);
    QVERIFY(saved.open(QIODevice::ReadOnly));
    QVERIFY(saved.readAll().startsWith("mode,runs,"));
}

void TestBenchmarkPanel::runNeedsPromptAndModel() {
    auto* run = panel_->findChild<QPushButton*>(QStringLiteral("benchmarkRun"));
    auto* status = panel_->findChild<QLabel*>(QStringLiteral("benchmarkStatus"));
    QVERIFY(!run->isEnabled());
    QVERIFY(status->text().contains(QStringLiteral("Open a model")));
    QVERIFY(!panel_->run());  // no model yet
    QVERIFY(loadTiny());
    QVERIFY(run->isEnabled());
    QVERIFY(status->text().startsWith(QStringLiteral("Ready")));
    panel_->setPrompt(QStringLiteral("   "));
    QVERIFY(!run->isEnabled());
    QVERIFY(!panel_->run());
    QVERIFY(!panel_->isRunning());
}

void TestBenchmarkPanel::queuesBehindGeneration() {
    QVERIFY(loadTiny());
    QStringList order;
    connect(controller_.get(), &Controller::generationStarted, this, [&] { order << QStringLiteral("gen start"); });
    connect(controller_.get(), &Controller::generationFinished, this, [&] { order << QStringLiteral("gen end"); });
    connect(controller_.get(), &Controller::benchmarkStarted, this, [&] { order << QStringLiteral("bench start"); });
    connect(controller_.get(), &Controller::benchmarkFinished, this, [&] { order << QStringLiteral("bench end"); });
    const QString id = controller_->newConversation();
    studio::GenerationSettings settings = controller_->settings();
    settings.maxNewTokens = 40;
    QVERIFY(controller_->submit(id, QStringLiteral("Hello"), settings));
    QSignalSpy finished(panel_.get(), &BenchmarkPanel::finished);
    panel_->setPrompt(kPrompt);
    panel_->setNewTokens(kTokens);
    QVERIFY(panel_->run());
    QVERIFY(panel_->findChild<QLabel*>(QStringLiteral("benchmarkStatus"))->text().contains(QStringLiteral("Waiting")));
    QVERIFY(finished.wait(kTimeoutMs));
    QCOMPARE(order, QStringList({QStringLiteral("gen start"), QStringLiteral("gen end"), QStringLiteral("bench start"),
                                 QStringLiteral("bench end")}));
}

void TestBenchmarkPanel::generationQueuesBehindBenchmark() {
    QVERIFY(loadTiny());
    QStringList order;
    connect(controller_.get(), &Controller::generationStarted, this, [&] { order << QStringLiteral("gen start"); });
    connect(controller_.get(), &Controller::generationFinished, this, [&] { order << QStringLiteral("gen end"); });
    connect(controller_.get(), &Controller::benchmarkStarted, this, [&] { order << QStringLiteral("bench start"); });
    connect(controller_.get(), &Controller::benchmarkFinished, this, [&] { order << QStringLiteral("bench end"); });
    panel_->setPrompt(kPrompt);
    panel_->setNewTokens(20);
    QVERIFY(panel_->run());
    const QString id = controller_->newConversation();
    QSignalSpy generated(controller_.get(), &Controller::generationFinished);
    studio::GenerationSettings settings = controller_->settings();
    settings.maxNewTokens = 4;
    QVERIFY(controller_->submit(id, QStringLiteral("Hello"), settings));
    QVERIFY(generated.wait(kTimeoutMs));
    QCOMPARE(order, QStringList({QStringLiteral("bench start"), QStringLiteral("bench end"), QStringLiteral("gen start"),
                                 QStringLiteral("gen end")}));
    QVERIFY(panel_->hasReport());
}

void TestBenchmarkPanel::menuActionOpensPanelWithPrompt() {
    panel_.reset();
    studio::MainWindow window(*controller_);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QVERIFY(!window.benchmarkPanel());
    window.promptEdit()->setPlainText(QStringLiteral("translate English to French: Good morning"));
    window.activateWindow();
    QTest::keyClick(&window, Qt::Key_B, Qt::ControlModifier);
    BenchmarkPanel* panel = window.benchmarkPanel();
    QVERIFY(panel);
    QVERIFY(panel->isVisible());
    QCOMPARE(panel->prompt(), QStringLiteral("translate English to French: Good morning"));

    // Closing the benchmark window cancels a running benchmark.
    QVERIFY(loadTiny());
    panel->setNewTokens(2000);
    QSignalSpy progress(controller_.get(), &Controller::benchmarkProgress);
    QSignalSpy workerDone(controller_.get(), &Controller::benchmarkFinished);
    QVERIFY(panel->run());
    QTRY_VERIFY_WITH_TIMEOUT(progress.count() >= 1, kTimeoutMs);
    auto* dialog = qobject_cast<QDialog*>(panel->parentWidget());
    QVERIFY(dialog);
    dialog->reject();
    QVERIFY(!panel->isRunning());
    QVERIFY(workerDone.wait(kTimeoutMs) || workerDone.count() == 1);
    QVERIFY(workerDone.first().at(1).value<studio::BenchmarkReport>().stopped);
}

void TestBenchmarkPanel::marksWhereTheModelWouldStop() {
    // The demo model translates this in fewer tokens than asked for; the benchmark goes on past its eos.
    QVERIFY(loadModel(demoDir()));
    QVERIFY(runAndWait(32));
    const studio::BenchmarkReport& report = panel_->report();
    const int end = report.cacheOn.endOfSequence;
    QVERIFY(end >= 0 && end < 31);
    QCOMPARE(report.cacheOff.endOfSequence, end);
    for (const char* name : {"cacheOnText", "cacheOffText"}) {
        const QString shown = panel_->findChild<QPlainTextEdit*>(QLatin1String(name))->toPlainText();
        const QString marker = QStringLiteral(" [end of sequence at token %1; the benchmark keeps going] ").arg(end + 1);
        const qsizetype at = shown.indexOf(marker);
        QVERIFY2(at > 0, qPrintable(shown));
        // Without the marker, the column holds exactly the decoded output.
        QCOMPARE(shown.left(at) + shown.mid(at + marker.size()), report.cacheOn.text);
    }
}

void TestBenchmarkPanel::chartFollowsPalette() {
    QPalette dark;
    dark.setColor(QPalette::Window, QColor(32, 32, 36));
    dark.setColor(QPalette::WindowText, QColor(230, 230, 230));
    dark.setColor(QPalette::Base, QColor(20, 20, 24));
    dark.setColor(QPalette::Text, QColor(235, 235, 235));
    QPalette light;
    light.setColor(QPalette::Window, QColor(240, 240, 240));
    light.setColor(QPalette::Base, QColor(255, 255, 255));
    light.setColor(QPalette::Text, QColor(10, 10, 10));
    QChart* chart = panel_->series(studio::kCacheOn)->chart();
    QVERIFY(chart);
    for (const QPalette& palette : {dark, light}) {
        panel_->setPalette(palette);
        QCOMPARE(chart->backgroundBrush().color(), palette.color(QPalette::Base));
        QCOMPARE(chart->titleBrush().color(), palette.color(QPalette::Text));
        QCOMPARE(chart->legend()->labelColor(), palette.color(QPalette::Text));
        for (QAbstractAxis* axis : chart->axes()) {
            QCOMPARE(axis->labelsBrush().color(), palette.color(QPalette::Text));
            QCOMPARE(axis->titleBrush().color(), palette.color(QPalette::Text));
        }
    }
}

QTEST_MAIN(TestBenchmarkPanel)
#include "test_benchmark_panel.moc"
