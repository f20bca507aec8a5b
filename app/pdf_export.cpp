#include "app/pdf_export.h"

#include <QBuffer>
#include <QGuiApplication>
#include <QMarginsF>
#include <QPageLayout>
#include <QPageSize>
#include <QPdfWriter>
#include <QTextBlock>
#include <QTextCursor>
#include <QTextDocument>

#include <cstdio>
#include <cstdlib>

#include "core/formats/error.h"

namespace umt5 {

namespace {

bool has_display() { return std::getenv("DISPLAY") || std::getenv("WAYLAND_DISPLAY"); }

// Qt's rich text ignores dir="auto": every paragraph gets the direction of its first strong character, so Arabic
// and Hebrew lines run (and align) right to left.
void set_directions_from_text(QTextDocument& document) {
    for (QTextBlock block = document.begin(); block.isValid(); block = block.next()) {
        QTextBlockFormat format = block.blockFormat();
        format.setLayoutDirection(block.text().isRightToLeft() ? Qt::RightToLeft : Qt::LeftToRight);
        QTextCursor(block).setBlockFormat(format);
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
        set_directions_from_text(document);
        document.print(&writer);
    }
    if (!bytes.startsWith("%PDF-")) throw Error("Qt could not produce the PDF");
    return std::string(bytes.constData(), static_cast<size_t>(bytes.size()));
}

}  // namespace umt5
