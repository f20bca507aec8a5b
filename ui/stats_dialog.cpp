#include "ui/stats_dialog.h"

#include <QChart>
#include <QChartView>
#include <QDialogButtonBox>
#include <QLabel>
#include <QLineSeries>
#include <QLocale>
#include <QValueAxis>
#include <QVBoxLayout>

#include <algorithm>

namespace studio {

StatsDialog::StatsDialog(const QString& title, const QVariantMap& stats, QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("Generation Statistics — %1").arg(title));
    auto* layout = new QVBoxLayout(this);
    const QLocale locale;
    auto ms = [&](const char* key) { return locale.toString(stats.value(QLatin1String(key)).toDouble(), 'f', 1); };
    auto* summary = new QLabel(this);
    summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    summary->setText(tr("%1 tokens at %2 tokens/s · encoder %3 ms%4 · first token %5 ms · decoding %6 ms · finish: %7")
                         .arg(stats.value(QStringLiteral("tokens")).toInt())
                         .arg(locale.toString(stats.value(QStringLiteral("tokensPerSecond")).toDouble(), 'f', 1))
                         .arg(ms("encodeMs"))
                         .arg(stats.value(QStringLiteral("encoderReused")).toBool() ? tr(" (reused)") : QString())
                         .arg(ms("firstTokenMs"))
                         .arg(ms("decodeMs"))
                         .arg(stats.value(QStringLiteral("finish")).toString()));
    summary->setWordWrap(true);
    layout->addWidget(summary);

    auto* series = new QLineSeries;
    series->setName(tr("latency per token (ms)"));
    const QVariantList perToken = stats.value(QStringLiteral("perTokenMs")).toList();
    double most = 1.0;
    for (int i = 0; i < perToken.size(); ++i) {
        const double value = perToken[i].toDouble();
        series->append(i + 1, value);
        most = std::max(most, value);
    }
    auto* chart = new QChart;
    chart->addSeries(series);
    chart->legend()->hide();
    chart->setTitle(series->name());
    auto* x = new QValueAxis;
    x->setTitleText(tr("token"));
    x->setLabelFormat(QStringLiteral("%d"));
    x->setRange(1, std::max<qsizetype>(2, perToken.size()));
    auto* y = new QValueAxis;
    y->setTitleText(tr("ms"));
    y->setRange(0, most * 1.1);
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    series->attachAxis(x);
    series->attachAxis(y);
    // Follow the application palette instead of the chart's fixed light theme.
    chart->setBackgroundBrush(palette().brush(QPalette::Base));
    chart->setTitleBrush(palette().brush(QPalette::Text));
    for (QValueAxis* axis : {x, y}) {
        axis->setLabelsBrush(palette().brush(QPalette::Text));
        axis->setTitleBrush(palette().brush(QPalette::Text));
    }
    auto* view = new QChartView(chart, this);
    view->setRenderHint(QPainter::Antialiasing);
    view->setMinimumSize(520, 300);
    layout->addWidget(view, 1);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(buttons);
}

}  // namespace studio
