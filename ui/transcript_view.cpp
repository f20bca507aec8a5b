#include "ui/transcript_view.h"

#include <algorithm>

#include <QEvent>
#include <QStringList>
#include <QLocale>
#include <QScrollBar>
#include <QTextBlock>
#include <QTextCursor>
#include <QTextDocument>
#include <QTextFrame>
#include <QUrl>

namespace studio {

namespace {

QColor mix(const QColor& a, const QColor& b, double t) {
    return QColor::fromRgbF(float(a.redF() * (1 - t) + b.redF() * t), float(a.greenF() * (1 - t) + b.greenF() * t),
                            float(a.blueF() * (1 - t) + b.blueF() * t));
}

const QString kVersionScheme = QStringLiteral("umt5-version");

QString finishNote(const QString& finish, bool current) {
    if (finish == QLatin1String("stopped"))
        return QObject::tr("stopped");
    if (finish == QLatin1String("length"))
        return current ? QObject::tr("reached the token limit — Continue extends it")
                       : QObject::tr("reached the token limit");
    return {};
}

QString tokenCount(int tokens) {
    return tokens == 1 ? QObject::tr("1 token") : QObject::tr("%1 tokens").arg(QLocale().toString(tokens));
}

// "demo-umt5 (int8)"; answers saved before the model was kept with them say so instead of borrowing a name.
QString modelLabel(const QString& model, const QString& precision) {
    if (model.isEmpty())
        return QObject::tr("umT5 (model not recorded)");
    return precision.isEmpty() ? model : QStringLiteral("%1 (%2)").arg(model, precision);
}

QString answerHeader(const AnswerSnapshot& answer) {
    QString header = modelLabel(answer.model, answer.precision);
    header += QStringLiteral("  ·  ") + tokenCount(answer.tokens);
    if (answer.tokensPerSecond > 0)
        header += QObject::tr(", %1 tokens/s").arg(QLocale().toString(answer.tokensPerSecond, 'f', 1));
    return header;
}

}  // namespace

TranscriptView::TranscriptView(QWidget* parent) : QTextBrowser(parent) {
    setObjectName(QStringLiteral("transcript"));
    setOpenLinks(false);
    setReadOnly(true);
    setUndoRedoEnabled(false);
    setAccessibleName(tr("Transcript"));
    document()->setDocumentMargin(12);
    connect(this, &QTextBrowser::anchorClicked, this, &TranscriptView::onAnchor);
    render();
}

void TranscriptView::showConversation(const ConversationView* conversation) {
    const QString before = shown_.id;
    hasConversation_ = conversation != nullptr;
    shown_ = conversation ? *conversation : ConversationView{};
    if (shown_.id != before)
        versions_.clear();
    // A turn being regenerated shows its new answer.
    if (!shown_.turns.isEmpty() && shown_.turns.last().finish.isEmpty())
        versions_.remove(int(shown_.turns.size()) - 1);
    render();
}

int TranscriptView::shownVersion(int turn) const {
    if (turn < 0 || turn >= shown_.turns.size())
        return 0;
    const int current = int(shown_.turns.at(turn).earlier.size());
    return std::clamp(versions_.value(turn, current), 0, current);
}

void TranscriptView::showVersion(int turn, int version) {
    if (turn < 0 || turn >= shown_.turns.size())
        return;
    const TurnSnapshot& t = shown_.turns.at(turn);
    if (t.finish.isEmpty())
        return;  // streaming
    versions_[turn] = std::clamp(version, 0, int(t.earlier.size()));
    render();
}

void TranscriptView::onAnchor(const QUrl& url) {
    // umt5-version:<turn>/<version>
    if (url.scheme() != kVersionScheme)
        return;
    const QStringList parts = url.path().split(QLatin1Char('/'));
    bool turnOk = false, versionOk = false;
    const int turn = parts.value(0).toInt(&turnOk);
    const int version = parts.value(1).toInt(&versionOk);
    if (parts.size() == 2 && turnOk && versionOk)
        showVersion(turn, version);
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
                                           : tr("Type a prompt below and press Enter to start a conversation."),
                          note);
        cursor.insertBlock(centered);
        cursor.insertText(tr("The demo model translates: try “translate English to Japanese: File not found”."), note);
        return;
    }

    QTextCharFormat link = label;
    link.setAnchor(true);
    link.setForeground(pal.color(QPalette::Link));
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
        const int versions = int(turn.earlier.size()) + 1;
        const int version = streaming ? versions - 1 : shownVersion(i);
        const AnswerSnapshot current{turn.answer, turn.finish, turn.tokens, turn.model, turn.precision,
                                     turn.tokensPerSecond};
        const AnswerSnapshot& answer = version < turn.earlier.size() ? turn.earlier.at(version) : current;
        if (versions > 1 && !streaming) {
            // ‹ n/m › before the header: links to the previous and next version of this answer.
            auto arrow = [&](const QString& glyph, int target) {
                if (target < 0 || target >= versions) {
                    cursor.insertText(glyph, note);
                    return;
                }
                QTextCharFormat f = link;
                f.setAnchorHref(QStringLiteral("%1:%2/%3").arg(kVersionScheme).arg(i).arg(target));
                cursor.insertText(glyph, f);
            };
            arrow(QStringLiteral("‹"), version - 1);
            cursor.insertText(QStringLiteral(" %1/%2 ").arg(version + 1).arg(versions), label);
            arrow(QStringLiteral("›"), version + 1);
            cursor.insertText(QStringLiteral("  "), label);
        }
        cursor.insertText(streaming ? modelLabel(turn.model, turn.precision) + tr("  ·  generating…")
                                    : answerHeader(answer),
                          label);
        QTextFrame* answerFrame = insertBubble(cursor, false);
        if (streaming && turn.answer.isEmpty()) {
            cursor.insertText(QStringLiteral("…"), note);
            streamingEmpty_ = true;
        } else {
            cursor.insertText(answer.answer, text);
        }
        const QString extra = streaming ? QString() : finishNote(answer.finish, last && version == versions - 1);
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
