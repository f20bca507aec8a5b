#include "ui/benchmark_panel.h"

#include <QChart>
#include <QChartView>
#include <QDir>
#include <QEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLegend>
#include <QLineSeries>
#include <QLocale>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSaveFile>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTextCharFormat>
#include <QTextCursor>
#include <QValueAxis>
#include <QVBoxLayout>

#include <algorithm>

#include "app/controller.h"

namespace studio {

namespace {

constexpr int kDefaultNewTokens = 64;
constexpr int kMaxNewTokens = 2048;
constexpr int kMaxRepeats = 50;

// Rows of the results table; the columns are the two modes.
enum Row { FirstToken, TokensPerSecond, MedianMsPerToken, TotalTime, Speedup, Identical, RowCount };

// The first token position where the two outputs differ, or -1.
int firstDifference(const QList<int>& a, const QList<int>& b) {
    const qsizetype common = std::min(a.size(), b.size());
    for (qsizetype i = 0; i < common; ++i)
        if (a[i] != b[i])
            return int(i);
    return a.size() == b.size() ? -1 : int(common);
}

// A round distance between labelled token positions, for at most eight intervals.
int positionStep(int tokens) {
    for (int step : {1, 2, 4, 8, 10, 16, 20, 25, 32, 50, 64, 100, 128, 200, 250, 256})
        if (tokens <= 8 * step)
            return step;
    return 500;
}

// Cache-on tokens more than three times slower than the median one (plus a millisecond of slack).
int latencySpikes(const QList<double>& ms) {
    if (ms.isEmpty())
        return 0;
    QList<double> sorted = ms;
    std::sort(sorted.begin(), sorted.end());
    const double limit = 3 * sorted[sorted.size() / 2] + 1.0;
    return int(std::count_if(ms.begin(), ms.end(), [limit](double value) { return value > limit; }));
}

QJsonObject modeJson(const BenchmarkModeReport& mode) {
    QJsonArray perPosition;
    for (double ms : mode.perPositionMs)
        perPosition.append(ms);
    QJsonArray ids;
    for (int id : mode.outputIds)
        ids.append(id);
    return {{QStringLiteral("runs"), mode.runs},
            {QStringLiteral("first_token_ms"), mode.firstTokenMs},
            {QStringLiteral("tokens_per_s"), mode.tokensPerSecond},
            {QStringLiteral("ms_per_token_median"), mode.msPerTokenMedian},
            {QStringLiteral("total_ms"), mode.totalMs},
            {QStringLiteral("per_position_ms"), perPosition},
            {QStringLiteral("output_ids"), ids},
            {QStringLiteral("text"), mode.text},
            {QStringLiteral("end_of_sequence"), mode.endOfSequence}};
}

// RFC 4180 quoting for fields that need it.
QString csvField(const QString& value) {
    if (!value.contains(QLatin1Char(',')) && !value.contains(QLatin1Char('"')) && !value.contains(QLatin1Char('\n')))
        return value;
    QString quoted = value;
    quoted.replace(QLatin1Char('"'), QStringLiteral("\"\""));
    return QLatin1Char('"') + quoted + QLatin1Char('"');
}

bool writeAtomically(const QString& path, const QByteArray& data, QString* error) {
    QSaveFile file(path);
    if (file.open(QIODevice::WriteOnly) && file.write(data) == data.size() && file.commit())
        return true;
    if (error)
        *error = file.errorString();
    return false;
}

}  // namespace

BenchmarkPanel::BenchmarkPanel(Controller& controller, QWidget* parent) : QWidget(parent), controller_(controller) {
    setObjectName(QStringLiteral("benchmarkPanel"));
    createWidgets();
    connectController();
    applyChartPalette();
    resetResults(newTokens_->value());
    fitTableHeight();
    updateActions();
}

BenchmarkPanel::~BenchmarkPanel() {
    if (isRunning())
        controller_.cancelBenchmark(runningId_);
}

void BenchmarkPanel::createWidgets() {
    auto* layout = new QVBoxLayout(this);

    auto* form = new QFormLayout;
    prompt_ = new QPlainTextEdit(this);
    prompt_->setObjectName(QStringLiteral("benchmarkPrompt"));
    prompt_->setTabChangesFocus(true);
    prompt_->setPlaceholderText(tr("The prompt to decode, e.g. translate English to German: Where is the station?"));
    prompt_->setFixedHeight(prompt_->fontMetrics().lineSpacing() * 3 + 12);
    prompt_->setPlainText(tr("translate English to German: The file could not be saved because the disk is full."));
    form->addRow(tr("&Prompt:"), prompt_);

    auto* controls = new QHBoxLayout;
    newTokens_ = new QSpinBox(this);
    newTokens_->setObjectName(QStringLiteral("benchmarkNewTokens"));
    newTokens_->setRange(1, kMaxNewTokens);
    newTokens_->setValue(kDefaultNewTokens);
    newTokens_->setToolTip(tr("Tokens generated in every run; end-of-sequence is ignored so both modes do the same "
                              "work"));
    repeats_ = new QSpinBox(this);
    repeats_->setObjectName(QStringLiteral("benchmarkRepeats"));
    repeats_->setRange(1, kMaxRepeats);
    repeats_->setValue(1);
    repeats_->setToolTip(tr("Runs per mode, alternating cache on and off; the table shows medians"));
    auto* tokensLabel = new QLabel(tr("&New tokens:"), this);
    tokensLabel->setBuddy(newTokens_);
    auto* repeatsLabel = new QLabel(tr("&Repeats:"), this);
    repeatsLabel->setBuddy(repeats_);
    runButton_ = new QPushButton(tr("R&un"), this);
    runButton_->setObjectName(QStringLiteral("benchmarkRun"));
    runButton_->setDefault(true);
    cancelButton_ = new QPushButton(tr("&Cancel"), this);
    cancelButton_->setObjectName(QStringLiteral("benchmarkCancel"));
    progress_ = new QProgressBar(this);
    progress_->setObjectName(QStringLiteral("benchmarkProgress"));
    progress_->setAccessibleName(tr("Benchmark progress"));
    progress_->setRange(0, 1);
    progress_->setValue(0);
    progress_->setFormat(tr("%v of %m tokens"));
    controls->addWidget(tokensLabel);
    controls->addWidget(newTokens_);
    controls->addSpacing(12);
    controls->addWidget(repeatsLabel);
    controls->addWidget(repeats_);
    controls->addSpacing(12);
    controls->addWidget(runButton_);
    controls->addWidget(cancelButton_);
    controls->addSpacing(12);
    controls->addWidget(progress_, 1);
    form->addRow(controls);
    layout->addLayout(form);

    status_ = new QLabel(this);
    status_->setObjectName(QStringLiteral("benchmarkStatus"));
    status_->setWordWrap(true);
    layout->addWidget(status_);

    // Both outputs side by side, filled as their tokens arrive.
    auto* texts = new QWidget(this);
    auto* textsLayout = new QHBoxLayout(texts);
    textsLayout->setContentsMargins(0, 0, 0, 0);
    auto makeColumn = [this, textsLayout](QLabel*& title, QPlainTextEdit*& text, const QString& name) {
        auto* column = new QVBoxLayout;
        title = new QLabel(this);
        QFont bold = title->font();
        bold.setBold(true);
        title->setFont(bold);
        text = new QPlainTextEdit(this);
        text->setObjectName(name);
        text->setReadOnly(true);
        title->setBuddy(text);
        column->addWidget(title);
        column->addWidget(text, 1);
        textsLayout->addLayout(column);
    };
    makeColumn(onTitle_, onText_, QStringLiteral("cacheOnText"));
    makeColumn(offTitle_, offText_, QStringLiteral("cacheOffText"));
    onText_->setAccessibleName(tr("Output with the cache"));
    offText_->setAccessibleName(tr("Output without the cache"));

    // Per-token latency against position: flat with the cache, rising without it.
    onSeries_ = new QLineSeries;
    onSeries_->setName(tr("Cache on"));
    offSeries_ = new QLineSeries;
    offSeries_->setName(tr("Cache off"));
    chart_ = new QChart;
    chart_->addSeries(onSeries_);
    chart_->addSeries(offSeries_);
    chart_->setTitle(tr("Latency per token"));
    chart_->legend()->setAlignment(Qt::AlignBottom);
    positionAxis_ = new QValueAxis;
    positionAxis_->setTitleText(tr("Token position"));
    positionAxis_->setLabelFormat(QStringLiteral("%d"));
    positionAxis_->setTickType(QValueAxis::TicksDynamic);
    positionAxis_->setTickAnchor(0);
    latencyAxis_ = new QValueAxis;
    latencyAxis_->setTitleText(tr("Latency (ms)"));
    chart_->addAxis(positionAxis_, Qt::AlignBottom);
    chart_->addAxis(latencyAxis_, Qt::AlignLeft);
    for (QLineSeries* series : {onSeries_, offSeries_}) {
        series->attachAxis(positionAxis_);
        series->attachAxis(latencyAxis_);
    }
    chartView_ = new QChartView(chart_, this);
    chartView_->setObjectName(QStringLiteral("benchmarkChart"));
    chartView_->setRenderHint(QPainter::Antialiasing);
    chartView_->setMinimumSize(360, 240);
    chartView_->setAccessibleName(tr("Latency per token chart"));

    table_ = new QTableWidget(RowCount, 2, this);
    table_->setObjectName(QStringLiteral("benchmarkResults"));
    table_->setAccessibleName(tr("Benchmark results"));
    table_->setHorizontalHeaderLabels({tr("Cache on"), tr("Cache off")});
    table_->setVerticalHeaderLabels({tr("Time to first token"), tr("Tokens/s"), tr("Median time per token"),
                                     tr("Total time"), tr("Speedup with the cache"), tr("Outputs identical")});
    table_->verticalHeaderItem(FirstToken)->setToolTip(tr("From the start of a run to its first token, encoder "
                                                          "included"));
    table_->verticalHeaderItem(TokensPerSecond)->setToolTip(tr("New tokens over decoding time (encoder excluded)"));
    table_->verticalHeaderItem(TotalTime)->setToolTip(tr("Wall time of a run: encoder and every token"));
    table_->verticalHeaderItem(Speedup)->setToolTip(tr("Decoding time per token without the cache over the time "
                                                       "with it"));
    table_->verticalHeaderItem(Identical)->setToolTip(tr("Whether every run of both modes produced the same "
                                                         "tokens"));
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setSelectionMode(QAbstractItemView::NoSelection);
    table_->setFocusPolicy(Qt::NoFocus);
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    table_->verticalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    table_->setSpan(Speedup, 0, 1, 2);
    table_->setSpan(Identical, 0, 1, 2);
    table_->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    table_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);

    notes_ = new QLabel(this);
    notes_->setObjectName(QStringLiteral("benchmarkNotes"));
    notes_->setWordWrap(true);
    notes_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    notes_->setForegroundRole(QPalette::PlaceholderText);

    warning_ = new QLabel(this);
    warning_->setObjectName(QStringLiteral("benchmarkWarning"));
    warning_->setWordWrap(true);
    QFont bold = warning_->font();
    bold.setBold(true);
    warning_->setFont(bold);
    warning_->hide();

    saveCsvButton_ = new QPushButton(tr("Save &CSV…"), this);
    saveJsonButton_ = new QPushButton(tr("Save &JSON…"), this);
    saveChartButton_ = new QPushButton(tr("Save Chart as &PNG…"), this);
    auto* saveRow = new QHBoxLayout;
    saveRow->addWidget(saveCsvButton_);
    saveRow->addWidget(saveJsonButton_);
    saveRow->addWidget(saveChartButton_);
    saveRow->addStretch(1);

    auto* results = new QWidget(this);
    auto* resultsLayout = new QVBoxLayout(results);
    resultsLayout->setContentsMargins(0, 0, 0, 0);
    resultsLayout->addWidget(table_);
    resultsLayout->addWidget(warning_);
    resultsLayout->addWidget(notes_);
    resultsLayout->addStretch(1);
    resultsLayout->addLayout(saveRow);

    auto* bottom = new QSplitter(Qt::Horizontal, this);
    results->setMinimumWidth(400);
    chartView_->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    bottom->addWidget(chartView_);
    bottom->addWidget(results);
    bottom->setStretchFactor(0, 1);
    bottom->setStretchFactor(1, 0);
    bottom->setChildrenCollapsible(false);

    auto* splitter = new QSplitter(Qt::Vertical, this);
    splitter->addWidget(texts);
    splitter->addWidget(bottom);
    splitter->setStretchFactor(0, 1);
    splitter->setStretchFactor(1, 3);
    splitter->setChildrenCollapsible(false);
    layout->addWidget(splitter, 1);

    connect(runButton_, &QPushButton::clicked, this, &BenchmarkPanel::run);
    connect(cancelButton_, &QPushButton::clicked, this, &BenchmarkPanel::cancel);
    connect(prompt_, &QPlainTextEdit::textChanged, this, &BenchmarkPanel::updateActions);
    connect(saveCsvButton_, &QPushButton::clicked, this, [this] {
        saveWithDialog(tr("Save Benchmark as CSV"), tr("CSV files (*.csv)"), QStringLiteral("csv"),
                       &BenchmarkPanel::saveCsv);
    });
    connect(saveJsonButton_, &QPushButton::clicked, this, [this] {
        saveWithDialog(tr("Save Benchmark as JSON"), tr("JSON files (*.json)"), QStringLiteral("json"),
                       &BenchmarkPanel::saveJson);
    });
    connect(saveChartButton_, &QPushButton::clicked, this, [this] {
        saveWithDialog(tr("Save Chart as PNG"), tr("PNG images (*.png)"), QStringLiteral("png"),
                       &BenchmarkPanel::saveChart);
    });
}

void BenchmarkPanel::connectController() {
    connect(&controller_, &Controller::benchmarkStarted, this, &BenchmarkPanel::onStarted);
    connect(&controller_, &Controller::benchmarkToken, this, &BenchmarkPanel::onToken);
    connect(&controller_, &Controller::benchmarkProgress, this, &BenchmarkPanel::onProgress);
    connect(&controller_, &Controller::benchmarkFinished, this, &BenchmarkPanel::onFinished);
    connect(&controller_, &Controller::benchmarkFailed, this, &BenchmarkPanel::onFailed);
    connect(&controller_, &Controller::modelLoaded, this, &BenchmarkPanel::updateActions);
    connect(&controller_, &Controller::modelLoadStarted, this, &BenchmarkPanel::updateActions);
    connect(&controller_, &Controller::modelLoadFailed, this, &BenchmarkPanel::updateActions);
}

QString BenchmarkPanel::prompt() const { return prompt_->toPlainText(); }

void BenchmarkPanel::setPrompt(const QString& prompt) { prompt_->setPlainText(prompt); }

void BenchmarkPanel::setNewTokens(int tokens) { newTokens_->setValue(tokens); }

void BenchmarkPanel::setRepeats(int repeats) { repeats_->setValue(repeats); }

void BenchmarkPanel::updateActions() {
    const bool running = isRunning();
    const bool ready = controller_.hasModel() && !controller_.isLoading();
    runButton_->setEnabled(!running && ready && !prompt().trimmed().isEmpty());
    cancelButton_->setEnabled(running);
    for (QWidget* input : {static_cast<QWidget*>(prompt_), static_cast<QWidget*>(newTokens_),
                           static_cast<QWidget*>(repeats_)})
        input->setEnabled(!running);
    for (QPushButton* save : {saveCsvButton_, saveJsonButton_, saveChartButton_})
        save->setEnabled(hasReport_ && !running);
    // A hint about what to do next, unless the status reports on a run.
    if (!running && (!ready || statusIsHint_)) {
        status_->setText(controller_.isLoading() ? tr("Loading the model…")
                         : !ready                ? tr("Open a model to run a benchmark.")
                                                 : tr("Ready: press Run to decode the prompt with the cache on and off."));
        statusIsHint_ = true;
    }
}

void BenchmarkPanel::showStatus(const QString& text) {
    status_->setText(text);
    statusIsHint_ = false;
}

void BenchmarkPanel::setRunning(int id) {
    const bool changed = (runningId_ != 0) != (id != 0);
    runningId_ = id;
    updateActions();
    if (changed)
        emit runningChanged(isRunning());
}

void BenchmarkPanel::resetResults(int newTokens) {
    onText_->clear();
    offText_->clear();
    pieces_[kCacheOn].clear();
    pieces_[kCacheOff].clear();
    onTitle_->setText(tr("Cache on"));
    offTitle_->setText(tr("Cache off"));
    onSeries_->clear();
    offSeries_->clear();
    chart_->setTitle(tr("Latency per token"));
    positionAxis_->setRange(0, newTokens);
    positionAxis_->setTickInterval(positionStep(newTokens));
    mostMs_ = 0;
    latencyAxis_->setRange(0, 1);
    for (int row = 0; row < RowCount; ++row)
        for (int column = 0; column < 2; ++column)
            table_->setItem(row, column, nullptr);
    notes_->clear();
    warning_->clear();
    warning_->hide();
}

bool BenchmarkPanel::run() {
    if (isRunning() || !controller_.hasModel() || controller_.isLoading() || prompt().trimmed().isEmpty())
        return false;
    requestedTokens_ = newTokens_->value();
    requestedRepeats_ = repeats_->value();
    hasReport_ = false;
    resetResults(requestedTokens_);
    progress_->setRange(0, 2 * requestedTokens_ * requestedRepeats_);
    progress_->setValue(0);
    showStatus(controller_.isBusy() ? tr("Waiting for the current generation to finish…")
                                          : tr("Starting…"));
    setRunning(controller_.runBenchmark(prompt(), requestedTokens_, requestedRepeats_));
    return true;
}

void BenchmarkPanel::cancel() {
    if (!isRunning())
        return;
    controller_.cancelBenchmark(runningId_);
    statusIsHint_ = false;
    setRunning(0);
    showStatus(tr("Cancelled after %1 of %2 tokens.").arg(progress_->value()).arg(progress_->maximum()));
    emit stopped(tr("Cancelled."));
}

void BenchmarkPanel::onStarted(int id) {
    if (id != runningId_)
        return;
    showStatus(tr("Warming up, then decoding with the cache on and off in turn…"));
}

void BenchmarkPanel::onToken(int id, int mode, int run, int position, double ms, const QString& text) {
    if (id != runningId_ || (mode != kCacheOn && mode != kCacheOff))
        return;
    const bool on = mode == kCacheOn;
    showStatus(tr("%1, run %2 of %3: token %4 of %5")
                         .arg(on ? tr("Cache on") : tr("Cache off"))
                         .arg(run + 1)
                         .arg(requestedRepeats_)
                         .arg(position + 1)
                         .arg(requestedTokens_));
    // The first run of each mode streams live; later runs only change the medians shown at the end.
    if (run != 0)
        return;
    QPlainTextEdit* column = on ? onText_ : offText_;
    if (!text.isEmpty()) {
        column->moveCursor(QTextCursor::End);
        column->insertPlainText(text);
    }
    pieces_[mode].append(text);
    (on ? onTitle_ : offTitle_)->setText(tr("%1 — %2 of %3 tokens")
                                             .arg(on ? tr("Cache on") : tr("Cache off"))
                                             .arg(pieces_[mode].size())
                                             .arg(requestedTokens_));
    (on ? onSeries_ : offSeries_)->append(position + 1, ms);
    growLatencyAxis(ms);
}

void BenchmarkPanel::onProgress(int id, int done, int total) {
    if (id != runningId_)
        return;
    progress_->setRange(0, total);
    progress_->setValue(done);
}

void BenchmarkPanel::onFinished(int id, const BenchmarkReport& report) {
    if (id != runningId_)
        return;
    report_ = report;
    hasReport_ = !report.stopped;
    setRunning(0);
    showReport();
    if (hasReport_) {
        const QString speedup = QLocale().toString(report.speedup, 'f', 2);
        showStatus(report.speedup >= 1
                             ? tr("Done: with the cache, decoding was %1× as fast on this prompt.").arg(speedup)
                             : tr("Done: with the cache, decoding was only %1× as fast here; see the warning below.")
                                   .arg(speedup));
        emit finished();
    } else {
        showStatus(tr("Stopped before every run completed; the table shows what finished."));
        emit stopped(tr("Stopped."));
    }
    updateActions();
}

void BenchmarkPanel::onFailed(int id, const QString& message) {
    if (id != runningId_)
        return;
    setRunning(0);
    showStatus(tr("The benchmark failed: %1").arg(message));
    emit stopped(message);
}

void BenchmarkPanel::showReport() {
    const QLocale locale;
    auto number = [&](double value, int decimals, const QString& unit) {
        return unit.isEmpty() ? locale.toString(value, 'f', decimals)
                              : QStringLiteral("%1 %2").arg(locale.toString(value, 'f', decimals), unit);
    };
    auto setCell = [this](int row, int column, const QString& text, Qt::Alignment alignment) {
        auto* item = new QTableWidgetItem(text);
        item->setTextAlignment(alignment);
        table_->setItem(row, column, item);
    };
    const Qt::Alignment right = Qt::AlignRight | Qt::AlignVCenter;
    const QString dash = QStringLiteral("—");
    int column = 0;
    for (const BenchmarkModeReport* mode : {&report_.cacheOn, &report_.cacheOff}) {
        const bool ran = mode->runs > 0;
        setCell(FirstToken, column, ran ? number(mode->firstTokenMs, 1, tr("ms")) : dash, right);
        setCell(TokensPerSecond, column, ran ? number(mode->tokensPerSecond, 1, QString()) : dash, right);
        setCell(MedianMsPerToken, column, ran ? number(mode->msPerTokenMedian, 2, tr("ms")) : dash, right);
        setCell(TotalTime, column, ran ? number(mode->totalMs, 1, tr("ms")) : dash, right);
        ++column;
    }
    const bool both = report_.bothModesRan();
    setCell(Speedup, 0, both ? QStringLiteral("%1×").arg(locale.toString(report_.speedup, 'f', 2)) : dash,
            Qt::AlignCenter);
    QString identical = dash;
    if (both && report_.identical) {
        identical = tr("✓ Identical");
    } else if (both) {
        const int at = firstDifference(report_.cacheOn.outputIds, report_.cacheOff.outputIds);
        identical = at >= 0 ? tr("✗ Different from token %1").arg(at + 1) : tr("✗ Different in a later run");
    }
    setCell(Identical, 0, identical, Qt::AlignCenter);
    QFont bold = table_->font();
    bold.setBold(true);
    for (int row : {Speedup, Identical})
        table_->item(row, 0)->setFont(bold);
    table_->item(Identical, 0)->setToolTip(both && !report_.identical
                                               ? tr("The cache changed the output: please report this as a bug.")
                                               : QString());

    // The first run streamed live; with repeats, the chart shows the median at every position instead.
    if (report_.repeat > 1) {
        mostMs_ = 0;
        latencyAxis_->setRange(0, 1);
        if (report_.cacheOn.runs > 0)
            setPoints(onSeries_, report_.cacheOn.perPositionMs);
        if (report_.cacheOff.runs > 0)
            setPoints(offSeries_, report_.cacheOff.perPositionMs);
        chart_->setTitle(tr("Latency per token (median of %n runs)", nullptr, report_.repeat));
    }
    showOutput(kCacheOn, report_.cacheOn);
    showOutput(kCacheOff, report_.cacheOff);

    // Cache-on tokens cost about the same at every position, so outliers there mean the CPU was busy elsewhere.
    const int spikes = latencySpikes(report_.cacheOn.perPositionMs);
    QString warning;
    if (spikes * 20 > report_.cacheOn.perPositionMs.size())
        warning = tr("⚠ %1 of %2 cache-on tokens took far longer than the rest: other programs were probably using "
                     "the CPU, so these numbers are noisy. More repeats give steadier medians.")
                      .arg(spikes)
                      .arg(report_.cacheOn.perPositionMs.size());
    else if (both && report_.speedup < 1)
        warning = tr("⚠ Decoding was slower with the cache, which points to other programs using the CPU rather "
                     "than to the cache. More repeats give steadier medians.");
    warning_->setText(warning);
    warning_->setVisible(!warning.isEmpty());

    const QString runs = report_.repeat == 1 ? tr("1 run") : tr("%1 runs").arg(report_.repeat);
    const QString threads = report_.threads == 0   ? tr("automatic threads")
                            : report_.threads == 1 ? tr("1 thread")
                                                   : tr("%1 threads").arg(report_.threads);
    notes_->setText(tr("%1 · prompt of %2 tokens · %3 new tokens forced (end-of-sequence is ignored so both modes do "
                       "the same work) · %4 per mode, alternating, after a warm-up · %5. Time to first token includes "
                       "the encoder; tokens/s, time per token and the speedup count decoding only.")
                        .arg(report_.model)
                        .arg(report_.promptTokens)
                        .arg(report_.newTokens)
                        .arg(runs, threads));
    fitTableHeight();
}

void BenchmarkPanel::showOutput(BenchmarkModeIndex mode, const BenchmarkModeReport& result) {
    if (result.runs == 0)
        return;
    QPlainTextEdit* column = mode == kCacheOn ? onText_ : offText_;
    const QStringList& pieces = pieces_[mode];
    const int end = result.endOfSequence;
    // The streamed pieces add up to the final text; when they do, mark where the model would have stopped.
    if (end < 0 || pieces.size() != result.outputIds.size() || pieces.join(QString()) != result.text) {
        column->setPlainText(result.text);
        return;
    }
    column->clear();
    QTextCursor cursor(column->document());
    cursor.insertText(pieces.mid(0, end + 1).join(QString()));
    QTextCharFormat beyond;
    beyond.setForeground(column->palette().brush(QPalette::PlaceholderText));
    QTextCharFormat marker = beyond;
    marker.setFontItalic(true);
    cursor.insertText(tr(" [end of sequence at token %1; the benchmark keeps going] ").arg(end + 1), marker);
    cursor.insertText(pieces.mid(end + 1).join(QString()), beyond);
}

void BenchmarkPanel::fitTableHeight() {
    table_->resizeRowsToContents();
    const int frame = 2 * table_->frameWidth();
    table_->setFixedHeight(table_->horizontalHeader()->height() + table_->verticalHeader()->length() + frame);
}

void BenchmarkPanel::setPoints(QLineSeries* series, const QList<double>& perPositionMs) {
    QList<QPointF> points;
    points.reserve(perPositionMs.size());
    for (qsizetype i = 0; i < perPositionMs.size(); ++i) {
        points.append(QPointF(double(i + 1), perPositionMs[i]));
        growLatencyAxis(perPositionMs[i]);
    }
    series->replace(points);
}

void BenchmarkPanel::growLatencyAxis(double ms) {
    if (ms <= mostMs_)
        return;
    mostMs_ = ms;
    latencyAxis_->setRange(0, mostMs_ * 1.1);
    latencyAxis_->applyNiceNumbers();
    const double top = latencyAxis_->max();
    latencyAxis_->setLabelFormat(top >= 10 ? QStringLiteral("%.0f") : top >= 1 ? QStringLiteral("%.1f")
                                                                                : QStringLiteral("%.2f"));
}

void BenchmarkPanel::applyChartPalette() {
    // Follow the application palette: the chart's built-in themes are fixed light or dark.
    const QPalette colours = palette();
    const bool dark = colours.color(QPalette::Window).lightness() < 128;
    chart_->setTheme(dark ? QChart::ChartThemeDark : QChart::ChartThemeLight);
    chart_->setBackgroundBrush(colours.brush(QPalette::Base));
    chart_->setTitleBrush(colours.brush(QPalette::Text));
    chart_->legend()->setLabelBrush(colours.brush(QPalette::Text));
    QColor grid = colours.color(QPalette::Text);
    grid.setAlpha(40);
    for (QValueAxis* axis : {positionAxis_, latencyAxis_}) {
        axis->setLabelsBrush(colours.brush(QPalette::Text));
        axis->setTitleBrush(colours.brush(QPalette::Text));
        axis->setGridLineColor(grid);
        axis->setLinePenColor(colours.color(QPalette::Mid));
    }
    // The same two colours in light and dark themes (the built-in themes swap them): a blue and an orange that read
    // on either background and apart from each other with the common colour-vision deficiencies.
    onSeries_->setPen(QPen(QColor(0x1f, 0x8f, 0xe0), 2.0));
    offSeries_->setPen(QPen(QColor(0xf0, 0x8a, 0x24), 2.0));
}

void BenchmarkPanel::changeEvent(QEvent* event) {
    QWidget::changeEvent(event);
    if (event->type() == QEvent::PaletteChange)
        applyChartPalette();
}

bool BenchmarkPanel::saveCsv(const QString& path, QString* error) const {
    if (!hasReport_) {
        if (error)
            *error = tr("There is no result to save yet.");
        return false;
    }
    // One row per mode; the figures are in the C locale so spreadsheets read them anywhere.
    QStringList lines;
    lines << QStringLiteral("mode,runs,first_token_ms,tokens_per_s,ms_per_token_median,total_ms,speedup,identical,"
                            "model,prompt_tokens,new_tokens,repeat,threads");
    const QString shared = QStringList{QString::number(report_.speedup, 'f', 4),
                                       report_.identical ? QStringLiteral("true") : QStringLiteral("false"),
                                       csvField(report_.model), QString::number(report_.promptTokens),
                                       QString::number(report_.newTokens), QString::number(report_.repeat),
                                       QString::number(report_.threads)}
                               .join(QLatin1Char(','));
    auto row = [&](const char* name, const BenchmarkModeReport& mode) {
        lines << QStringList{QLatin1String(name), QString::number(mode.runs),
                             QString::number(mode.firstTokenMs, 'f', 4), QString::number(mode.tokensPerSecond, 'f', 4),
                             QString::number(mode.msPerTokenMedian, 'f', 4), QString::number(mode.totalMs, 'f', 4),
                             shared}
                     .join(QLatin1Char(','));
    };
    row("cache_on", report_.cacheOn);
    row("cache_off", report_.cacheOff);
    return writeAtomically(path, (lines.join(QLatin1Char('\n')) + QLatin1Char('\n')).toUtf8(), error);
}

bool BenchmarkPanel::saveJson(const QString& path, QString* error) const {
    if (!hasReport_) {
        if (error)
            *error = tr("There is no result to save yet.");
        return false;
    }
    // The keys of `umt5 bench --json`, plus the prompt and both outputs.
    const QJsonObject out{{QStringLiteral("model"), report_.model},
                          {QStringLiteral("prompt"), report_.prompt},
                          {QStringLiteral("prompt_tokens"), report_.promptTokens},
                          {QStringLiteral("new_tokens"), report_.newTokens},
                          {QStringLiteral("repeat"), report_.repeat},
                          {QStringLiteral("threads"), report_.threads},
                          {QStringLiteral("cache_on"), modeJson(report_.cacheOn)},
                          {QStringLiteral("cache_off"), modeJson(report_.cacheOff)},
                          {QStringLiteral("speedup"), report_.speedup},
                          {QStringLiteral("identical"), report_.identical}};
    return writeAtomically(path, QJsonDocument(out).toJson(QJsonDocument::Indented), error);
}

bool BenchmarkPanel::saveChart(const QString& path, QString* error) const {
    QSaveFile file(path);
    if (file.open(QIODevice::WriteOnly) && chartView_->grab().save(&file, "PNG") && file.commit())
        return true;
    if (error)
        *error = file.error() != QFileDevice::NoError ? file.errorString() : tr("The chart could not be encoded.");
    return false;
}

void BenchmarkPanel::saveWithDialog(const QString& caption, const QString& filter, const QString& suffix,
                                    bool (BenchmarkPanel::*save)(const QString&, QString*) const) {
    const QString documents = QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation);
    const QString suggested = QDir(documents).filePath(QStringLiteral("umt5-benchmark.") + suffix);
    QFileDialog dialog(this, caption, suggested, filter);
    dialog.setAcceptMode(QFileDialog::AcceptSave);
    dialog.setDefaultSuffix(suffix);
    if (dialog.exec() != QDialog::Accepted || dialog.selectedFiles().isEmpty())
        return;
    const QString path = dialog.selectedFiles().first();
    QString error;
    if (!(this->*save)(path, &error))
        QMessageBox::warning(this, caption,
                             tr("Could not save %1: %2").arg(QDir::toNativeSeparators(path), error));
}

}  // namespace studio
