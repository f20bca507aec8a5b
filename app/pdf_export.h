#pragma once
// PDF transcripts: the HTML export laid out by Qt's rich text engine (QTextDocument) and written by QPdfWriter.
// Kept out of umt5core, which stays Qt-free; the `umt5` tool (`export --format pdf`) and the app link it.
#include <memory>
#include <string>

namespace umt5 {

class PdfRenderer {
public:
    // Qt lays out text only inside a QGuiApplication: when the process has none (the command-line tool), one is
    // created for the renderer's lifetime, on the offscreen platform if no display is available.
    PdfRenderer();
    ~PdfRenderer();
    PdfRenderer(const PdfRenderer&) = delete;
    PdfRenderer& operator=(const PdfRenderer&) = delete;

    // The bytes of an A4 PDF of `html` with `title` as its document title. Throws umt5::Error if Qt fails.
    std::string render(const std::string& html, const std::string& title) const;

private:
    struct OwnApplication;  // the QGuiApplication created here, if any
    std::unique_ptr<OwnApplication> own_;
};

}  // namespace umt5
