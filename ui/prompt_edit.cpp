#include "ui/prompt_edit.h"

#include <QKeyEvent>
#include <QMimeData>

namespace studio {

PromptEdit::PromptEdit(QWidget* parent) : QPlainTextEdit(parent) {
    setObjectName(QStringLiteral("promptEdit"));
    setPlaceholderText(tr("Ask umT5… (Enter sends, Shift+Enter starts a new line)"));
    setTabChangesFocus(true);
    setAccessibleName(tr("Prompt"));
}

QSize PromptEdit::sizeHint() const {
    const int lines = 3;
    const int height = fontMetrics().lineSpacing() * lines + 2 * (frameWidth() + int(document()->documentMargin()));
    return {QPlainTextEdit::sizeHint().width(), height};
}

void PromptEdit::keyPressEvent(QKeyEvent* event) {
    const bool enter = event->key() == Qt::Key_Return || event->key() == Qt::Key_Enter;
    if (enter) {
        const Qt::KeyboardModifiers mods = event->modifiers() & ~Qt::KeypadModifier;
        if (mods & Qt::ShiftModifier) {
            textCursor().insertText(QStringLiteral("\n"));
            ensureCursorVisible();
            event->accept();
            return;
        }
        if (mods == Qt::NoModifier || mods == Qt::ControlModifier) {
            emit submitRequested();
            event->accept();
            return;
        }
    }
    QPlainTextEdit::keyPressEvent(event);
}

bool PromptEdit::canInsertFromMimeData(const QMimeData* source) const { return source && source->hasText(); }

void PromptEdit::insertFromMimeData(const QMimeData* source) {
    if (!source || !source->hasText())
        return;
    const QString text = source->text();
    if (text.isEmpty())
        return;
    textCursor().insertText(text);
    ensureCursorVisible();
}

}  // namespace studio
