#pragma once
// The benchmark panel: decodes the user's prompt with the KV cache and without it (Controller::runBenchmark, on
// the worker thread behind any generation) and shows both outputs as they stream, per-token latency against
// position, and a results table with the speedup and whether the two outputs are identical. Results save as CSV
// and JSON, the chart as PNG. A plain QWidget: the main window shows it in a dialog, but a dock or tab works too.
#include <QWidget>

#include "app/benchmark_types.h"

class QChart;
class QChartView;
class QLabel;
class QLineSeries;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableWidget;
class QValueAxis;

namespace studio {

class Controller;

class BenchmarkPanel : public QWidget {
    Q_OBJECT
public:
    explicit BenchmarkPanel(Controller& controller, QWidget* parent = nullptr);
    ~BenchmarkPanel() override;

    QString prompt() const;
    void setPrompt(const QString& prompt);
    void setNewTokens(int tokens);
    void setRepeats(int repeats);

    // Queues a benchmark of the prompt; false when one is already running, the prompt is empty or no model is
    // loaded.
    bool run();
    // Cancels the running benchmark; the panel is idle again at once (the worker stops at the next token).
    void cancel();
    bool isRunning() const { return runningId_ != 0; }

    // The latest complete result (none after a cancel or a failure).
    bool hasReport() const { return hasReport_; }
    const BenchmarkReport& report() const { return report_; }

    // Write the latest result atomically; on failure return false and describe it in `error`.
    bool saveCsv(const QString& path, QString* error = nullptr) const;
    bool saveJson(const QString& path, QString* error = nullptr) const;
    bool saveChart(const QString& path, QString* error = nullptr) const;

    QLineSeries* series(BenchmarkModeIndex mode) const { return mode == kCacheOn ? onSeries_ : offSeries_; }

signals:
    // A benchmark completed and the panel shows its result.
    void finished();
    // A benchmark failed, or was cancelled; `message` says why.
    void stopped(const QString& message);
    void runningChanged(bool running);

protected:
    void changeEvent(QEvent* event) override;

private:
    void createWidgets();
    void connectController();
    void showStatus(const QString& text);
    void setRunning(int id);
    void updateActions();
    void resetResults(int newTokens);
    void onStarted(int id);
    void onToken(int id, int mode, int run, int position, double ms, const QString& text);
    void onProgress(int id, int done, int total);
    void onFinished(int id, const BenchmarkReport& report);
    void onFailed(int id, const QString& message);
    void showReport();
    void showOutput(BenchmarkModeIndex mode, const BenchmarkModeReport& result);
    void fitTableHeight();
    void setPoints(QLineSeries* series, const QList<double>& perPositionMs);
    void growLatencyAxis(double ms);
    void applyChartPalette();
    void saveWithDialog(const QString& caption, const QString& filter, const QString& suffix,
                        bool (BenchmarkPanel::*save)(const QString&, QString*) const);

    Controller& controller_;
    QPlainTextEdit* prompt_ = nullptr;
    QSpinBox* newTokens_ = nullptr;
    QSpinBox* repeats_ = nullptr;
    QPushButton* runButton_ = nullptr;
    QPushButton* cancelButton_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QLabel* status_ = nullptr;
    QLabel* onTitle_ = nullptr;
    QLabel* offTitle_ = nullptr;
    QPlainTextEdit* onText_ = nullptr;
    QPlainTextEdit* offText_ = nullptr;
    QChart* chart_ = nullptr;
    QChartView* chartView_ = nullptr;
    QLineSeries* onSeries_ = nullptr;
    QLineSeries* offSeries_ = nullptr;
    QValueAxis* positionAxis_ = nullptr;
    QValueAxis* latencyAxis_ = nullptr;
    QTableWidget* table_ = nullptr;
    QLabel* notes_ = nullptr;
    QLabel* warning_ = nullptr;
    QPushButton* saveCsvButton_ = nullptr;
    QPushButton* saveJsonButton_ = nullptr;
    QPushButton* saveChartButton_ = nullptr;

    int runningId_ = 0;      // the benchmark this panel waits for; 0 when idle
    int requestedTokens_ = 0;
    int requestedRepeats_ = 0;
    QStringList pieces_[2];  // text of every token of the first run, per mode
    double mostMs_ = 0;
    bool hasReport_ = false;
    bool statusIsHint_ = true;  // the status line says what to do next rather than how a run went
    BenchmarkReport report_;
};

}  // namespace studio
