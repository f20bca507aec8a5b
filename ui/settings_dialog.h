#pragma once
// Generation and engine settings (stored in QSettings by the Controller).
#include <QDialog>

#include "app/worker.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QSpinBox;
class QLineEdit;

namespace studio {

class SettingsDialog : public QDialog {
    Q_OBJECT
public:
    explicit SettingsDialog(const GenerationSettings& settings, QWidget* parent = nullptr);
    GenerationSettings settings() const;
    void setSettings(const GenerationSettings& settings);

private:
    QSpinBox* maxNewTokens_;
    QDoubleSpinBox* temperature_;
    QSpinBox* topK_;
    QDoubleSpinBox* topP_;
    QDoubleSpinBox* repetitionPenalty_;
    QCheckBox* randomSeed_;
    QLineEdit* seed_;
    QSpinBox* threads_;
    QComboBox* precision_;
    QCheckBox* useCache_;
    QSpinBox* cacheBudget_;
};

}  // namespace studio
