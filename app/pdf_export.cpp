#include "app/pdf_export.h"

#include <QBuffer>
#include <QFontMetricsF>
#include <QGuiApplication>
#include <QHash>
#include <QImage>
#include <QMarginsF>
#include <QPageLayout>
#include <QPageSize>
#include <QPainter>
#include <QPdfWriter>
#include <QTextBlock>
#include <QTextCursor>
#include <QTextBoundaryFinder>
#include <QTextDocument>
#include <QTextImageFormat>
#include <QUrl>

#include <algorithm>

#include <cstdio>
#include <cstdlib>

#include "core/formats/error.h"

namespace umt5 {

namespace {

bool has_display() { return std::getenv("DISPLAY") || std::getenv("WAYLAND_DISPLAY"); }

// Qt's rich text ignores dir="auto": every paragraph gets the direction of its first strong character, so Arabic
// and Hebrew lines run (and align) right to left. Paragraph backgrounds go: a paragraph split by a page break
// painted its background down to the bottom of the page, an empty grey block; the speaker lines still tell
// prompts from answers.
void prepare_blocks(QTextDocument& document) {
    for (QTextBlock block = document.begin(); block.isValid(); block = block.next()) {
        QTextBlockFormat format = block.blockFormat();
        format.setLayoutDirection(block.text().isRightToLeft() ? Qt::RightToLeft : Qt::LeftToRight);
        format.clearBackground();
        QTextCursor(block).setBlockFormat(format);
    }
}

// Whether a grapheme is an emoji that Noto Color Emoji draws: pictographs, emoticons and flags (U+1F000..U+1FAFF)
// with their modifiers and joiners, or anything asking for emoji presentation (U+FE0F).
bool is_emoji(const QString& grapheme) {
    const QList<uint> points = grapheme.toUcs4();
    if (points.isEmpty()) return false;
    return (points.first() >= 0x1F000 && points.first() <= 0x1FAFF) || points.contains(0xFE0F);
}

// Noto Color Emoji has bitmap glyphs only; QPdfWriter embeds it as a font without outlines, so viewers showed
// nothing where the emoji were. Each emoji grapheme (skin tones, flags and ZWJ sequences included) is drawn by
// the raster engine, which renders the colour bitmaps, and goes into the document as an image of the text's height.
void emoji_as_images(QTextDocument& document) {
    struct Found {
        int position, length;
        QString text;
    };
    QList<Found> found;
    for (QTextBlock block = document.begin(); block.isValid(); block = block.next()) {
        const QString text = block.text();
        QTextBoundaryFinder graphemes(QTextBoundaryFinder::Grapheme, text);
        for (qsizetype start = 0, end = graphemes.toNextBoundary(); end != -1; start = end, end = graphemes.toNextBoundary()) {
            // Qt 6.4 ends a grapheme at a zero-width joiner ("🏳️‍🌈" came out as a white flag and a rainbow).
            while (end > 0 && end < text.size() && text.at(end - 1) == QChar(0x200D) && graphemes.toNextBoundary() != -1)
                end = graphemes.position();
            if (is_emoji(text.mid(start, end - start)))
                found.append({block.position() + int(start), int(end - start), text.mid(start, end - start)});
        }
    }
    QFont emojiFont(QStringLiteral("Noto Color Emoji"));
    emojiFont.setPixelSize(109);  // the font's bitmap size: drawn 1:1, then scaled down by the PDF
    const QFontMetrics metrics(emojiFont);
    QHash<QString, QString> names;
    // Replace from the end, so the positions found stay right.
    for (auto it = found.crbegin(); it != found.crend(); ++it) {
        QString& name = names[it->text];
        if (name.isEmpty()) {
            name = QStringLiteral("umt5-emoji:%1").arg(names.size());
            QImage image(std::max(1, metrics.horizontalAdvance(it->text)), metrics.height(),
                         QImage::Format_ARGB32_Premultiplied);
            image.fill(Qt::transparent);
            QPainter painter(&image);
            painter.setFont(emojiFont);
            painter.drawText(0, metrics.ascent(), it->text);
            painter.end();
            document.addResource(QTextDocument::ImageResource, QUrl(name), image);
        }
        QTextCursor cursor(&document);
        cursor.setPosition(it->position + 1);
        const QFont textFont = cursor.charFormat().font();
        cursor.setPosition(it->position);
        cursor.setPosition(it->position + it->length, QTextCursor::KeepAnchor);
        const QImage image = document.resource(QTextDocument::ImageResource, QUrl(name)).value<QImage>();
        // One line of the surrounding text high (points to the document's 96 dpi pixels).
        const double height = QFontMetricsF(textFont).height();
        QTextImageFormat format;
        format.setName(name);
        format.setHeight(height);
        format.setWidth(height * image.width() / image.height());
        format.setVerticalAlignment(QTextCharFormat::AlignBottom);
        cursor.insertImage(format);
    }
}

}  // namespace

struct PdfRenderer::OwnApplication {
    QtMessageHandler previous_handler = nullptr;
    std::unique_ptr<QGuiApplication> application;
};

PdfRenderer::PdfRenderer() {
    if (QCoreApplication::instance()) return;
    if (!std::getenv("QT_QPA_PLATFORM") && !has_display()) setenv("QT_QPA_PLATFORM", "offscreen", 1);
    static int argc = 1;
    static char name[] = "umt5";
    static char* argv[] = {name, nullptr};
    own_ = std::make_unique<OwnApplication>();
    // Qt's start-up notices (e.g. about XDG_RUNTIME_DIR) are noise for a command-line tool; errors still show.
    own_->previous_handler = qInstallMessageHandler([](QtMsgType type, const QMessageLogContext&, const QString& text) {
        if (type == QtCriticalMsg || type == QtFatalMsg) std::fprintf(stderr, "umt5: Qt: %s\n", qPrintable(text));
    });
    own_->application = std::make_unique<QGuiApplication>(argc, argv);
}

PdfRenderer::~PdfRenderer() {
    if (!own_) return;
    own_->application.reset();
    qInstallMessageHandler(own_->previous_handler);
}

std::string PdfRenderer::render(const std::string& html, const std::string& title) const {
    if (!qobject_cast<QGuiApplication*>(QCoreApplication::instance()))
        throw Error("PDF export needs a QGuiApplication");
    QByteArray bytes;
    {
        QBuffer buffer(&bytes);
        buffer.open(QIODevice::WriteOnly);
        QPdfWriter writer(&buffer);
        writer.setPageSize(QPageSize(QPageSize::A4));
        writer.setPageMargins(QMarginsF(18, 18, 18, 18), QPageLayout::Millimeter);
        writer.setResolution(300);
        writer.setTitle(QString::fromStdString(title));
        writer.setCreator(QStringLiteral("umT5 Studio"));
        QTextDocument document;
        document.setHtml(QString::fromUtf8(html.data(), static_cast<qsizetype>(html.size())));
        prepare_blocks(document);
        emoji_as_images(document);
        document.print(&writer);
    }
    if (!bytes.startsWith("%PDF-")) throw Error("Qt could not produce the PDF");
    return std::string(bytes.constData(), static_cast<size_t>(bytes.size()));
}

}  // namespace umt5
