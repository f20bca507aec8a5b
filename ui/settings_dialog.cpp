#include "ui/settings_dialog.h"

#include <algorithm>

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRegularExpressionValidator>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QThread>
#include <QVBoxLayout>

namespace studio {

SettingsDialog::SettingsDialog(const GenerationSettings& settings, QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("Settings"));
    setObjectName(QStringLiteral("settingsDialog"));
    auto* layout = new QVBoxLayout(this);

    auto* generation = new QGroupBox(tr("Generation"), this);
    auto* form = new QFormLayout(generation);
    maxNewTokens_ = new QSpinBox(generation);
    maxNewTokens_->setRange(1, 4096);
    maxNewTokens_->setToolTip(tr("Most tokens one Send, Continue or Regenerate produces"));
    form->addRow(tr("Max &new tokens:"), maxNewTokens_);
    temperature_ = new QDoubleSpinBox(generation);
    temperature_->setRange(0.0, 5.0);
    temperature_->setSingleStep(0.1);
    temperature_->setDecimals(2);
    temperature_->setSpecialValueText(tr("0 (greedy)"));
    form->addRow(tr("&Temperature:"), temperature_);
    topK_ = new QSpinBox(generation);
    topK_->setRange(0, 100000);
    topK_->setSpecialValueText(tr("off"));
    form->addRow(tr("Top-&k:"), topK_);
    topP_ = new QDoubleSpinBox(generation);
    topP_->setRange(0.01, 1.0);
    topP_->setSingleStep(0.05);
    topP_->setDecimals(2);
    form->addRow(tr("Top-&p:"), topP_);
    repetitionPenalty_ = new QDoubleSpinBox(generation);
    repetitionPenalty_->setRange(1.0, 5.0);
    repetitionPenalty_->setSingleStep(0.05);
    repetitionPenalty_->setDecimals(2);
    repetitionPenalty_->setSpecialValueText(tr("1 (off)"));
    form->addRow(tr("&Repetition penalty:"), repetitionPenalty_);
    randomSeed_ = new QCheckBox(tr("New r&andom seed for every answer"), generation);
    randomSeed_->setObjectName(QStringLiteral("randomSeed"));
    randomSeed_->setToolTip(tr("When sampling, Regenerate then gives a different answer; the seed used is saved "
                               "with each answer"));
    form->addRow(QString(), randomSeed_);
    seed_ = new QLineEdit(generation);
    seed_->setObjectName(QStringLiteral("seed"));
    seed_->setValidator(new QRegularExpressionValidator(QRegularExpression(QStringLiteral("[0-9]{1,19}")), seed_));
    seed_->setToolTip(tr("Same seed and settings give the same answer when sampling"));
    form->addRow(tr("Fixed &seed:"), seed_);
    connect(randomSeed_, &QCheckBox::toggled, seed_, [this](bool random) { seed_->setEnabled(!random); });
    layout->addWidget(generation);

    auto* engine = new QGroupBox(tr("Engine"), this);
    auto* engineForm = new QFormLayout(engine);
    threads_ = new QSpinBox(engine);
    threads_->setRange(0, 256);
    threads_->setSpecialValueText(tr("automatic (up to %n, fewer while other programs are busy)", nullptr,
                                     QThread::idealThreadCount()));
    engineForm->addRow(tr("T&hreads:"), threads_);
    precision_ = new QComboBox(engine);
    precision_->addItem(tr("fp32 — exact (default)"), QStringLiteral("fp32"));
    precision_->addItem(tr("bf16 — half the weight memory, about twice as fast"), QStringLiteral("bf16"));
    precision_->addItem(tr("int8 — a quarter of the memory, small quality loss"), QStringLiteral("int8"));
    precision_->setToolTip(tr("Weight precision of the linear layers; changing it reloads the model"));
    engineForm->addRow(tr("&Precision:"), precision_);
    precisionNote_ = new QLabel(engine);
    precisionNote_->setObjectName(QStringLiteral("precisionNote"));
    precisionNote_->setWordWrap(true);
    precisionNote_->setVisible(false);
    engineForm->addRow(QString(), precisionNote_);
    useCache_ = new QCheckBox(tr("Keep the decoder &KV cache between turns"), engine);
    engineForm->addRow(QString(), useCache_);
    cacheBudget_ = new QSpinBox(engine);
    cacheBudget_->setRange(0, 1 << 20);
    cacheBudget_->setSuffix(tr(" MiB"));
    cacheBudget_->setToolTip(tr("When all conversations' caches exceed this, the least recently used are dropped "
                                "(and rebuilt on demand)"));
    engineForm->addRow(tr("Cache &memory budget:"), cacheBudget_);
    connect(useCache_, &QCheckBox::toggled, cacheBudget_, &QSpinBox::setEnabled);
    layout->addWidget(engine);

    auto* buttons = new QDialogButtonBox(
        QDialogButtonBox::Ok | QDialogButtonBox::Cancel | QDialogButtonBox::RestoreDefaults, this);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(buttons->button(QDialogButtonBox::RestoreDefaults), &QPushButton::clicked, this,
            [this] { setSettings(GenerationSettings{}); });
    layout->addWidget(buttons);

    setSettings(settings);
}

void SettingsDialog::setSettings(const GenerationSettings& s) {
    maxNewTokens_->setValue(s.maxNewTokens);
    temperature_->setValue(s.temperature);
    topK_->setValue(s.topK);
    topP_->setValue(s.topP);
    repetitionPenalty_->setValue(s.repetitionPenalty);
    randomSeed_->setChecked(s.randomSeed);
    seed_->setText(QString::number(s.seed));
    seed_->setEnabled(!s.randomSeed);
    threads_->setValue(s.threads);
    precision_->setCurrentIndex(std::max(0, precision_->findData(s.precision)));
    useCache_->setChecked(s.useCache);
    cacheBudget_->setValue(s.cacheBudgetMiB);
    cacheBudget_->setEnabled(s.useCache);
}

void SettingsDialog::setPrecisionChoices(const QList<PrecisionChoice>& choices) {
    auto* model = qobject_cast<QStandardItemModel*>(precision_->model());
    QStringList notes;
    for (const PrecisionChoice& choice : choices) {
        const int index = precision_->findData(choice.name);
        if (index < 0 || !model)
            continue;
        QStandardItem* item = model->item(index);
        item->setEnabled(choice.runs);
        item->setToolTip(choice.runs ? tr("Runs here on %1 (%2)").arg(choice.isa, choice.kernel) : choice.reason);
        if (!choice.runs) {
            notes << tr("%1 is not available: %2.").arg(choice.name, choice.reason);
            if (precision_->currentIndex() == index)
                precision_->setCurrentIndex(precision_->findData(QStringLiteral("fp32")));
        }
    }
    precisionNote_->setText(notes.join(QLatin1Char('\n')));
    precisionNote_->setVisible(!notes.isEmpty());
}

GenerationSettings SettingsDialog::settings() const {
    GenerationSettings s;
    s.maxNewTokens = maxNewTokens_->value();
    s.temperature = temperature_->value();
    s.topK = topK_->value();
    s.topP = topP_->value();
    s.repetitionPenalty = repetitionPenalty_->value();
    s.randomSeed = randomSeed_->isChecked();
    s.seed = seed_->text().toULongLong();
    s.threads = threads_->value();
    s.precision = precision_->currentData().toString();
    s.useCache = useCache_->isChecked();
    s.cacheBudgetMiB = cacheBudget_->value();
    return s;
}

}  // namespace studio
