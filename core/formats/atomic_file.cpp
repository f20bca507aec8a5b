#include "core/formats/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "core/formats/error.h"

namespace umt5 {

namespace {

std::string describe_errno(int error) { return std::strerror(error); }

// Creates a new file beside `path` named ".<name>.tmp-<random>" with the usual 0666 & ~umask permissions.
int create_temporary(const std::filesystem::path& path, std::filesystem::path& temporary) {
    std::random_device device;
    static const char* hex = "0123456789abcdef";
    for (int attempt = 0; attempt < 100; ++attempt) {
        std::string suffix;
        for (int i = 0; i < 12; ++i) suffix += hex[device() & 15];
        std::string name = ".";
        name += path.filename().string();
        name += ".tmp-";
        name += suffix;
        temporary = path.parent_path() / name;
        const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

// Makes the rename itself durable; failing to do so does not make the new file invalid, so errors are ignored.
void sync_directory(const std::filesystem::path& dir) {
    const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

}  // namespace

void write_file_atomically(const std::filesystem::path& path, const std::string& bytes) {
    const std::string name = path.string();
    if (path.filename().empty()) throw Error(name + ": cannot write: not a file name");
    std::filesystem::path temporary;
    const int fd = create_temporary(path, temporary);
    if (fd < 0) throw Error(name + ": cannot write: " + describe_errno(errno));

    auto fail = [&](const std::string& what, int error) {
        ::unlink(temporary.c_str());
        throw Error(name + ": " + what + ": " + describe_errno(error));
    };
    size_t written = 0;
    while (written < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int error = errno;
            ::close(fd);
            fail("cannot write", error);
        }
        written += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
        const int error = errno;
        ::close(fd);
        fail("cannot write", error);
    }
    if (::close(fd) != 0) {
        const int error = errno;
        fail("cannot write", error);
    }
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        const int error = errno;
        fail("cannot replace the file", error);
    }
    sync_directory(path.parent_path());
}

}  // namespace umt5
