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
};

}  // namespace studio
