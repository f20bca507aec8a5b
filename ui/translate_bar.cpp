#include "ui/translate_bar.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QRegularExpression>
#include <QToolButton>

namespace studio {

TranslateBar::TranslateBar(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("translateBar"));
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    auto* label = new QLabel(tr("&Translate:"), this);
    direction_ = new QComboBox(this);
    direction_->setObjectName(QStringLiteral("translateDirection"));
    direction_->addItem(tr("English → language"), true);
    direction_->addItem(tr("language → English"), false);
    language_ = new QComboBox(this);
    language_->setObjectName(QStringLiteral("translateLanguage"));
    for (const QString& language : languages())
        language_->addItem(language);
    label->setBuddy(language_);
    auto* apply = new QToolButton(this);
    apply->setObjectName(QStringLiteral("translateApply"));
    apply->setText(tr("Use"));
    apply->setToolTip(tr("Put the translation prefix in front of the prompt"));
    layout->addWidget(label);
    layout->addWidget(direction_);
    layout->addWidget(language_);
    layout->addWidget(apply);
    layout->addStretch(1);

    connect(apply, &QToolButton::clicked, this, [this] { emit prefixRequested(currentPrefix()); });
    auto changed = [this] { emit prefixChanged(currentPrefix()); };
    connect(direction_, &QComboBox::currentIndexChanged, this, changed);
    connect(language_, &QComboBox::currentIndexChanged, this, changed);
}

const QStringList& TranslateBar::languages() {
    static const QStringList list = {
        QStringLiteral("German"),  QStringLiteral("French"),     QStringLiteral("Spanish"),
        QStringLiteral("Italian"), QStringLiteral("Portuguese"), QStringLiteral("Russian"),
        QStringLiteral("Ukrainian"), QStringLiteral("Polish"),   QStringLiteral("Swedish"),
        QStringLiteral("Dutch"),   QStringLiteral("Czech"),      QStringLiteral("Turkish"),
        QStringLiteral("Japanese"), QStringLiteral("Chinese"),   QStringLiteral("Korean"),
        QStringLiteral("Vietnamese"), QStringLiteral("Indonesian"), QStringLiteral("Arabic"),
        QStringLiteral("Hindi"),   QStringLiteral("Greek")};
    return list;
}

QString TranslateBar::prefix(const QString& language, bool fromEnglish) {
    return fromEnglish ? QStringLiteral("translate English to %1: ").arg(language)
                       : QStringLiteral("translate %1 to English: ").arg(language);
}

int TranslateBar::prefixLength(const QString& prompt) {
    static const QRegularExpression re(QStringLiteral("^translate [A-Za-z]+ to [A-Za-z]+: ?"));
    const QRegularExpressionMatch match = re.match(prompt);
    return match.hasMatch() ? int(match.capturedLength()) : 0;
}

QString TranslateBar::applyPrefix(const QString& prompt, const QString& prefix) {
    return prefix + prompt.mid(prefixLength(prompt));
}

QString TranslateBar::currentPrefix() const {
    return prefix(language_->currentText(), direction_->currentData().toBool());
}

void TranslateBar::setLanguage(const QString& language) {
    const int index = language_->findText(language);
    if (index >= 0)
        language_->setCurrentIndex(index);
}

void TranslateBar::setFromEnglish(bool fromEnglish) { direction_->setCurrentIndex(fromEnglish ? 0 : 1); }

}  // namespace studio
