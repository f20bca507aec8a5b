// The prompt box on its own: pasting from the clipboard, whatever the clipboard holds (or does not).
#include <QSignalSpy>
#include <QTest>

#include <QClipboard>
#include <QGuiApplication>
#include <QMimeData>

#include "ui/prompt_edit.h"

using studio::PromptEdit;

class TestPromptEdit : public QObject {
    Q_OBJECT
private slots:
    void pasteKeepsPrompt_data();
    void pasteKeepsPrompt();
};

void TestPromptEdit::pasteKeepsPrompt_data() {
    QTest::addColumn<QString>("clipboard");  // how the clipboard is filled
    QTest::addColumn<QString>("expected");
    // No formats at all is what X11 gives when nobody owns the clipboard (the program copied from has quit):
    // Qt 6.4's own paste read the first format of an empty list and crashed.
    QTest::newRow("no formats") << "empty" << "translate English to German: ";
    QTest::newRow("cleared") << "cleared" << "translate English to German: ";
    QTest::newRow("html only") << "html" << "translate English to German: ";
    QTest::newRow("text") << "text" << "translate English to German: Open the file";
    QTest::newRow("text and html") << "text+html" << "translate English to German: Open the file";
}

void TestPromptEdit::pasteKeepsPrompt() {
    QFETCH(QString, clipboard);
    QFETCH(QString, expected);
    QClipboard* board = QGuiApplication::clipboard();
    if (clipboard == QLatin1String("empty")) {
        board->setMimeData(new QMimeData);
    } else if (clipboard == QLatin1String("cleared")) {
        board->clear();
    } else {
        auto* data = new QMimeData;
        if (clipboard.contains(QLatin1String("text")))
            data->setText(QStringLiteral("Open the file"));
        if (clipboard.contains(QLatin1String("html")))
            data->setHtml(QStringLiteral("<b>Open</b> the file"));
        board->setMimeData(data);
    }

    PromptEdit prompt;
    prompt.show();
    QVERIFY(QTest::qWaitForWindowExposed(&prompt));
    QSignalSpy submitted(&prompt, &PromptEdit::submitRequested);
    QTest::keyClicks(&prompt, QStringLiteral("translate English to German: "));
    QTest::keyClick(&prompt, Qt::Key_V, Qt::ControlModifier);
    QCOMPARE(prompt.toPlainText(), expected);
    QTest::keyClick(&prompt, Qt::Key_Insert, Qt::ShiftModifier);  // the other paste key
    QCOMPARE(prompt.toPlainText().size(), expected.size() + (expected.endsWith(QLatin1String("file")) ? 13 : 0));
    QCOMPARE(submitted.count(), 0);
}

QTEST_MAIN(TestPromptEdit)
#include "test_prompt_edit.moc"
