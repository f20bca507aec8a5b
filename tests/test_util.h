#pragma once
// Shared helpers for the Qt Test suites.
#include <QString>
#include <filesystem>

#include "core/build_paths.h"

namespace umt5test {

// tests/data in the source tree.
inline std::filesystem::path data_dir() { return std::filesystem::path(UMT5_TEST_DATA_DIR); }
inline std::filesystem::path tiny_a_dir() { return data_dir() / "umt5-tiny-a"; }
inline std::filesystem::path demo_model_dir() { return std::filesystem::path(UMT5_SOURCE_MODEL_DIR); }
// The built `umt5` command-line tool.
inline QString cli_path() { return QString::fromUtf8(UMT5_CLI_PATH); }

}  // namespace umt5test
