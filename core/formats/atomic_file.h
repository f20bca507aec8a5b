#pragma once
// Writing a whole file so that readers see either the old content or the new one, never a mix: the bytes go to a
// temporary file in the same directory, which is flushed to disk and then renamed over the target.
#include <filesystem>
#include <string>

namespace umt5 {

// Replaces (or creates) `path` with `bytes`. On any failure the temporary file is removed, the previous file (if
// any) is left as it was, and umt5::Error is thrown with a one-line message naming `path`.
void write_file_atomically(const std::filesystem::path& path, const std::string& bytes);

}  // namespace umt5
