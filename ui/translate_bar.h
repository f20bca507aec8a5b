#pragma once
// The demo model's prompt helper: the model was trained on "translate English to <language>: <text>" and the
// reverse direction for 20 languages. The bar puts that prefix in front of the prompt (replacing any earlier one).
#include <QString>
#include <QStringList>
#include <QWidget>

class QComboBox;

namespace studio {

class TranslateBar : public QWidget {
    Q_OBJECT
public:
    explicit TranslateBar(QWidget* parent = nullptr);

    static const QStringList& languages();
    // "translate English to German: " or "translate German to English: ".
    static QString prefix(const QString& language, bool fromEnglish);
    // `prompt` with its leading "translate A to B: " (if any) replaced by `prefix`.
    static QString applyPrefix(const QString& prompt, const QString& prefix);
    // The length of the "translate A to B: " prefix `prompt` starts with, or 0.
    static int prefixLength(const QString& prompt);

    QString currentPrefix() const;
    void setLanguage(const QString& language);
    void setFromEnglish(bool fromEnglish);

signals:
    // The user asked to put the current prefix in front of the prompt.
    void prefixRequested(const QString& prefix);
    // Language or direction changed (the window updates a prefix that is already there).
    void prefixChanged(const QString& prefix);

private:
    QComboBox* direction_;
    QComboBox* language_;
};

}  // namespace studio
