#pragma once
// The transcript of one conversation: prompt and answer bubbles in a read-only rich-text view. Every paragraph
// takes its own direction from its first strong character, so Arabic and Hebrew lines run right to left next to
// left-to-right ones. Colours come from the palette, so light and dark themes both work.
#include <QHash>
#include <QPointer>
#include <QTextBrowser>

#include "app/controller.h"

class QTextFrame;

namespace studio {

class TranscriptView : public QTextBrowser {
    Q_OBJECT
public:
    explicit TranscriptView(QWidget* parent = nullptr);

    // Shows `conversation` (nullptr: an empty page with a hint). Each answer's header names the model that wrote it
    // and its precision, its token count and speed; a regenerated answer has ‹ n/m › links to its earlier versions.
    void showConversation(const ConversationView* conversation);
    // Appends streamed text to the answer being generated (the last turn's).
    void appendAnswerText(const QString& text);
    // Plain text of the transcript, as shown.
    QString transcriptText() const { return toPlainText(); }
    // Which version of turn `turn`'s answer is shown: 0 is the oldest, earlier.size() the current one.
    int shownVersion(int turn) const;
    void showVersion(int turn, int version);

protected:
    void changeEvent(QEvent* event) override;

private:
    void render();
    QTextFrame* insertBubble(QTextCursor& cursor, bool prompt);

    void onAnchor(const QUrl& url);

    ConversationView shown_;
    QHash<int, int> versions_;  // turn -> version picked with the ‹ › links, for the conversation shown
    bool hasConversation_ = false;
    QTextFrame* streamingFrame_ = nullptr;  // the answer bubble that grows while tokens arrive
    bool streamingEmpty_ = false;           // it shows the "thinking" placeholder
};

}  // namespace studio
