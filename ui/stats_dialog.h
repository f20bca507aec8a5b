#pragma once
// Per-token latency of the latest generation, as a chart (Qt Charts).
#include <QDialog>
#include <QVariantMap>

namespace studio {

class StatsDialog : public QDialog {
    Q_OBJECT
public:
    StatsDialog(const QString& title, const QVariantMap& stats, QWidget* parent = nullptr);
};

}  // namespace studio
