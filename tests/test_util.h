#pragma once
// Shared helpers for the Qt Test suites.
#include <QProcess>
#include <QString>
#include <QStringList>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "core/engine/build_paths.h"
#include "core/engine/precision_support.h"

namespace umt5test {

// tests/data in the source tree.
inline std::filesystem::path data_dir() { return std::filesystem::path(UMT5_TEST_DATA_DIR); }
inline std::filesystem::path tiny_a_dir() { return data_dir() / "umt5-tiny-a"; }
inline std::filesystem::path demo_model_dir() { return std::filesystem::path(UMT5_SOURCE_MODEL_DIR); }
// The built `umt5` command-line tool.
inline QString cli_path() { return QString::fromUtf8(UMT5_CLI_PATH); }

// Whole-file reads and writes in binary.
inline std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}
inline void write_file(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// One run of the `umt5` tool: exit code (-1 when it crashed or hung), stdout and stderr.
struct ToolRun {
    int exit_code;
    QString out;
    QString err;
};
inline ToolRun run_tool(const QStringList& args) {
    QProcess process;
    process.start(cli_path(), args);
    process.waitForFinished(300000);
    return {process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1,
            QString::fromUtf8(process.readAllStandardOutput()), QString::fromUtf8(process.readAllStandardError())};
}

}  // namespace umt5test

// Skips the running test (with QSKIP, which prints why) when this CPU cannot run `precision`, e.g. bf16 with
// oneDNN held to AVX2: the suite then tests what runs here, and says what it left out.
#define UMT5_SKIP_UNLESS_RUNS(precision)                                                        \
    do {                                                                                          \
        const umt5::PrecisionSupport& umt5_support_ = umt5::precision_support(precision);         \
        if (!umt5_support_.runs) QSKIP(qPrintable(QString::fromStdString(umt5_support_.reason))); \
    } while (false)
