#pragma once
// The prompt box: Enter (or Ctrl+Enter) sends, Shift+Enter starts a new line.
#include <QPlainTextEdit>

namespace studio {

class PromptEdit : public QPlainTextEdit {
    Q_OBJECT
public:
    explicit PromptEdit(QWidget* parent = nullptr);
    QSize sizeHint() const override;

signals:
    void submitRequested();

protected:
    void keyPressEvent(QKeyEvent* event) override;
    // Plain text only, and nothing at all from an empty or missing clipboard: Qt 6.4's QWidgetTextControl reads
    // the first of the source's formats without checking there is one, so Ctrl+V with no clipboard owner (the
    // program copied from has quit) crashed the app and lost the typed prompt.
    bool canInsertFromMimeData(const QMimeData* source) const override;
    void insertFromMimeData(const QMimeData* source) override;
};

}  // namespace studio
