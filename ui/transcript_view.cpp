#include "ui/transcript_view.h"

#include <QEvent>
#include <QLocale>
#include <QScrollBar>
#include <QTextBlock>
#include <QTextCursor>
#include <QTextDocument>
#include <QTextFrame>

namespace studio {

namespace {

QColor mix(const QColor& a, const QColor& b, double t) {
    return QColor::fromRgbF(float(a.redF() * (1 - t) + b.redF() * t), float(a.greenF() * (1 - t) + b.greenF() * t),
                            float(a.blueF() * (1 - t) + b.blueF() * t));
}

QString finishNote(const TurnSnapshot& turn) {
    if (turn.finish == QLatin1String("stopped"))
        return QObject::tr("stopped");
    if (turn.finish == QLatin1String("length"))
        return QObject::tr("reached the token limit — Continue extends it");
    return {};
}

}  // namespace

TranscriptView::TranscriptView(QWidget* parent) : QTextBrowser(parent) {
    setObjectName(QStringLiteral("transcript"));
    setOpenLinks(false);
    setReadOnly(true);
    setUndoRedoEnabled(false);
    setAccessibleName(tr("Transcript"));
    document()->setDocumentMargin(12);
    render();
}

void TranscriptView::setModelName(const QString& name) {
    if (name == modelName_)
        return;
    modelName_ = name;
    render();
}

void TranscriptView::showConversation(const ConversationView* conversation) {
    hasConversation_ = conversation != nullptr;
    shown_ = conversation ? *conversation : ConversationView{};
    render();
}

void TranscriptView::changeEvent(QEvent* event) {
    QTextBrowser::changeEvent(event);
    if (event->type() == QEvent::PaletteChange || event->type() == QEvent::FontChange)
        render();
}

QTextFrame* TranscriptView::insertBubble(QTextCursor& cursor, bool prompt) {
    const QPalette& pal = palette();
    QTextFrameFormat format;
    format.setPadding(8);
    format.setBorder(1);
    format.setBorderStyle(QTextFrameFormat::BorderStyle_Solid);
    format.setBorderBrush(mix(pal.color(QPalette::Base), pal.color(QPalette::Text), 0.18));
    format.setBackground(prompt ? mix(pal.color(QPalette::Base), pal.color(QPalette::Highlight), 0.14)
                                : pal.color(QPalette::Base));
    format.setTopMargin(2);
    format.setBottomMargin(10);
    // Prompts sit a little to the trailing side, answers to the leading side, like a chat.
    format.setLeftMargin(prompt ? 48 : 0);
    format.setRightMargin(prompt ? 0 : 48);
    QTextFrame* frame = cursor.insertFrame(format);
    return frame;
}

void TranscriptView::render() {
    QScrollBar* bar = verticalScrollBar();
    const bool atBottom = bar->value() >= bar->maximum() - 4;
    const int oldValue = bar->value();

    QTextDocument* doc = document();
    doc->clear();
    streamingFrame_ = nullptr;
    streamingEmpty_ = false;
    const QPalette& pal = palette();
    QTextCharFormat text;
    text.setForeground(pal.color(QPalette::Text));
    QTextCharFormat label;
    label.setForeground(mix(pal.color(QPalette::Base), pal.color(QPalette::Text), 0.6));
    label.setFontWeight(QFont::DemiBold);
    label.setFontPointSize(std::max(7.0, font().pointSizeF() * 0.85));
    QTextCharFormat note = label;
    note.setFontWeight(QFont::Normal);
    note.setFontItalic(true);

    QTextCursor cursor(doc);
    QTextBlockFormat plain;
    cursor.setBlockFormat(plain);

    if (!hasConversation_ || shown_.turns.isEmpty()) {
        QTextBlockFormat centered;
        centered.setAlignment(Qt::AlignHCenter);
        centered.setTopMargin(40);
        cursor.setBlockFormat(centered);
        cursor.insertText(hasConversation_ ? tr("Type a prompt below to start.")
                                           : tr("Create a conversation to start (Ctrl+N)."), note);
        cursor.insertBlock(centered);
        cursor.insertText(tr("The demo model translates: try “translate English to Japanese: File not found”."), note);
        return;
    }

    const QString model = modelName_.isEmpty() ? QStringLiteral("umT5") : modelName_;
    for (int i = 0; i < shown_.turns.size(); ++i) {
        const TurnSnapshot& turn = shown_.turns.at(i);
        const bool last = i == shown_.turns.size() - 1;
        const bool streaming = last && turn.finish.isEmpty();

        QTextBlockFormat promptLabel;
        promptLabel.setLeftMargin(48);
        cursor.setBlockFormat(promptLabel);
        cursor.insertText(tr("You"), label);
        QTextFrame* promptFrame = insertBubble(cursor, true);
        cursor.insertText(turn.prompt, text);
        cursor = promptFrame->lastCursorPosition();
        cursor.movePosition(QTextCursor::NextBlock);

        cursor.setBlockFormat(plain);
        QString header = model;
        if (streaming)
            header += tr("  ·  generating…");
        else if (last && !shown_.lastStats.isEmpty()) {
            const double tps = shown_.lastStats.value(QStringLiteral("tokensPerSecond")).toDouble();
            const int tokens = shown_.lastStats.value(QStringLiteral("tokens")).toInt();
            header += tr("  ·  %n token(s), %1 tokens/s", nullptr, tokens).arg(QLocale().toString(tps, 'f', 1));
        }
        cursor.insertText(header, label);
        QTextFrame* answerFrame = insertBubble(cursor, false);
        if (streaming && turn.answer.isEmpty()) {
            cursor.insertText(QStringLiteral("…"), note);
            streamingEmpty_ = true;
        } else {
            cursor.insertText(turn.answer, text);
        }
        const QString extra = finishNote(turn);
        if (!extra.isEmpty()) {
            cursor.insertBlock();
            cursor.insertText(extra, note);
        }
        if (streaming)
            streamingFrame_ = answerFrame;
        cursor = answerFrame->lastCursorPosition();
        cursor.movePosition(QTextCursor::NextBlock);
    }
    if (atBottom || streamingFrame_)
        bar->setValue(bar->maximum());
    else
        bar->setValue(oldValue);
}

void TranscriptView::appendAnswerText(const QString& text) {
    if (!shown_.turns.isEmpty())
        shown_.turns.last().answer += text;
    if (!streamingFrame_ || text.isEmpty())
        return;
    QScrollBar* bar = verticalScrollBar();
    const bool atBottom = bar->value() >= bar->maximum() - 4;
    QTextCursor cursor = streamingFrame_->lastCursorPosition();
    if (streamingEmpty_) {
        // Replace the "…" placeholder by the first text.
        cursor = QTextCursor(streamingFrame_->firstCursorPosition());
        cursor.setPosition(streamingFrame_->lastPosition(), QTextCursor::KeepAnchor);
        cursor.removeSelectedText();
        streamingEmpty_ = false;
    }
    QTextCharFormat format;
    format.setForeground(palette().color(QPalette::Text));
    cursor.insertText(text, format);
    if (atBottom)
        bar->setValue(bar->maximum());
}

}  // namespace studio
