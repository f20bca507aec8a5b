#pragma once
// Shared helpers for the libFuzzer targets: a private scratch directory and whole-file writes.
//
// Policy every target checks: malformed input may only ever throw umt5::Error. Any other exception escaping
// (std::bad_alloc, nlohmann::json exceptions, std::out_of_range...) is uncaught and aborts: a finding, as are
// sanitizer reports, timeouts and allocations over libFuzzer's -malloc_limit_mb.
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace umt5fuzz {

// A directory of this process, removed at exit. /dev/shm when it exists, so writes cost no disk I/O.
inline const std::filesystem::path& scratch_dir() {
    static const std::filesystem::path dir = [] {
        std::string pattern = (std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp");
        pattern += "/umt5-fuzz-XXXXXX";
        if (!::mkdtemp(pattern.data())) std::abort();
        static std::filesystem::path keep = pattern;
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(keep, ec);
        });
        return std::filesystem::path(pattern);
    }();
    return dir;
}

inline void write_file(const std::filesystem::path& path, const uint8_t* data, size_t size) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (size && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
}

}  // namespace umt5fuzz
