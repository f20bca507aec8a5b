#pragma once
// The transcript of one conversation: prompt and answer bubbles in a read-only rich-text view. Every paragraph
// takes its own direction from its first strong character, so Arabic and Hebrew lines run right to left next to
// left-to-right ones. Colours come from the palette, so light and dark themes both work.
#include <QPointer>
#include <QTextBrowser>

#include "app/controller.h"

class QTextFrame;

namespace studio {

class TranscriptView : public QTextBrowser {
    Q_OBJECT
public:
    explicit TranscriptView(QWidget* parent = nullptr);

    void setModelName(const QString& name);
    // Shows `conversation` (nullptr: an empty page with a hint).
    void showConversation(const ConversationView* conversation);
    // Appends streamed text to the answer being generated (the last turn's).
    void appendAnswerText(const QString& text);
    // Plain text of the transcript, as shown.
    QString transcriptText() const { return toPlainText(); }

protected:
    void changeEvent(QEvent* event) override;

private:
    void render();
    QTextFrame* insertBubble(QTextCursor& cursor, bool prompt);

    QString modelName_;
    ConversationView shown_;
    bool hasConversation_ = false;
    QTextFrame* streamingFrame_ = nullptr;  // the answer bubble that grows while tokens arrive
    bool streamingEmpty_ = false;           // it shows the "thinking" placeholder
};

}  // namespace studio
