#include "core/formats/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "core/formats/error.h"

namespace umt5 {

namespace {

// Real files are far below these: umT5-XXL's config.json is 0.8 KB, its spiece.model 4.3 MB, a 13B model's
// shard index 60 KB and umT5-XXL's safetensors header 90 KB. Parsing JSON takes about 19 times the text's size
// in memory (a 61 MB safetensors header took 1.1 GB, a 200 MB config.json 3.8 GB), so the JSON limits keep a
// hostile file under a few hundred megabytes. The session header keeps the reader's limit that sessions
// were always written for.
constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kConfigLimit = 1 * kMiB;
constexpr uint64_t kTokenizerLimit = 64 * kMiB;
constexpr uint64_t kIndexLimit = 16 * kMiB;
constexpr uint64_t kWeightsHeaderLimit = 16 * kMiB;
constexpr uint64_t kSessionHeaderLimit = 100 * kMiB;
constexpr uint64_t kTranscriptLimit = 32 * kMiB;

bool read_whole(InputKind kind) {
    return kind == InputKind::config || kind == InputKind::tokenizer || kind == InputKind::index ||
           kind == InputKind::transcript;
}

// The errno values open() and read() give for a path, in words a user understands (strerror's "Operation not
// supported" or "No such device or address" say nothing about the file).
std::string reason_of(int error) {
    switch (error) {
    case ENOENT: return "no such file";
    case EACCES: case EPERM: return "permission denied";
    case ELOOP: return "too many levels of symbolic links (a symlink loop?)";
    case ENAMETOOLONG: return "the path is too long";
    case ENOTDIR: return "a part of the path is not a directory";
    case ENXIO: return "it is a socket or a device without a driver, not a regular file";
    case EOPNOTSUPP: return "the file system does not allow reading it as a file";
    case EISDIR: return "it is a directory";
    case EIO: return "input/output error: the disk or the network file system failed";
    case EMFILE: case ENFILE: return "too many open files";
    case ENOMEM: return "out of memory";
    default: {
        std::string text = std::strerror(error);
        if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
        return text;
    }
    }
}

const char* file_type_name(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a named pipe (FIFO)";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    return "not a plain file";
}

}  // namespace

const char* input_kind_name(InputKind kind) {
    switch (kind) {
    case InputKind::config: return "model configuration";
    case InputKind::tokenizer: return "sentencepiece model";
    case InputKind::index: return "shard index";
    case InputKind::weights: return "weight file";
    case InputKind::session: return "conversation file";
    case InputKind::transcript: return "transcript";
    }
    return "file";
}

uint64_t input_size_limit(InputKind kind) {
    switch (kind) {
    case InputKind::config: return kConfigLimit;
    case InputKind::tokenizer: return kTokenizerLimit;
    case InputKind::index: return kIndexLimit;
    case InputKind::weights: return kWeightsHeaderLimit;
    case InputKind::session: return kSessionHeaderLimit;
    case InputKind::transcript: return kTranscriptLimit;
    }
    return 0;
}

std::string size_in_words(uint64_t bytes) {
    if (bytes >= kMiB && bytes % kMiB == 0) return std::to_string(bytes / kMiB) + " MiB";
    if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes / 1024) + " KiB";
    return std::to_string(bytes) + " bytes";
}

InputFile::~InputFile() {
    if (fd_ >= 0) ::close(fd_);
}

InputFile::InputFile(InputFile&& other) noexcept
    : fd_(other.fd_), size_(other.size_), label_(std::move(other.label_)), kind_(other.kind_) {
    other.fd_ = -1;
}

InputFile& InputFile::operator=(InputFile&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = other.fd_;
        size_ = other.size_;
        label_ = std::move(other.label_);
        kind_ = other.kind_;
        other.fd_ = -1;
    }
    return *this;
}

int InputFile::release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
}

void InputFile::read_at(uint64_t offset, void* out, uint64_t n, const std::string& what) const {
    if (offset > size_ || n > size_ - offset) throw Error(what + " cannot be read (past the end of the file)");
    auto* dst = static_cast<char*>(out);
    while (n > 0) {
        const ssize_t got = ::pread(fd_, dst, std::min<uint64_t>(n, 1u << 30), static_cast<off_t>(offset));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) throw Error(what + " cannot be read (" + reason_of(errno) + ")");
        if (got == 0)
            throw Error(what + " cannot be read (the file is shorter than when it was opened: changed on disk?)");
        dst += got;
        offset += static_cast<uint64_t>(got);
        n -= static_cast<uint64_t>(got);
    }
}

std::string InputFile::read_all() const {
    const uint64_t limit = input_size_limit(kind_);
    auto too_large = [&](const std::string& size) {
        return Error(label_ + ": the " + input_kind_name(kind_) + " is too large (" + size + "; the limit is " +
                     size_in_words(limit) + ")");
    };
    if (size_ > limit) throw too_large(std::to_string(size_) + " bytes");
    std::string text;
    text.resize(static_cast<size_t>(size_));
    uint64_t done = 0;
    for (;;) {
        if (done == text.size()) {
            // The file may have grown since fstat (or, like files in /proc, report size 0): read on, in steps,
            // up to one byte past the limit.
            if (done > limit) throw too_large("over " + size_in_words(limit));
            text.resize(static_cast<size_t>(std::min<uint64_t>(limit + 1, std::max<uint64_t>(done * 2, 4096))));
        }
        const ssize_t got = ::pread(fd_, text.data() + done, text.size() - done, static_cast<off_t>(done));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) throw Error(label_ + ": cannot read the " + input_kind_name(kind_) + " (" + reason_of(errno) + ")");
        if (got == 0) break;
        done += static_cast<uint64_t>(got);
    }
    if (done > limit) throw too_large("over " + size_in_words(limit));
    text.resize(static_cast<size_t>(done));
    return text;
}

InputFile open_input_file(const std::filesystem::path& path, InputKind kind) {
    const std::string label = path.string();
    const std::string what = input_kind_name(kind);
    if (label.find('\0') != std::string::npos) throw Error("a file name contains a NUL byte");
    // O_NONBLOCK: opening a FIFO read-only otherwise waits for a writer, forever. It changes nothing for the
    // regular files that pass the check below. O_NOCTTY: a terminal device must not become our controlling one.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        const int error = errno;
        throw Error(label + ": cannot open the " + what + " (" + reason_of(error) + ")");
    }
    InputFile file;
    file.fd_ = fd;
    file.label_ = label;
    file.kind_ = kind;
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int error = errno;
        throw Error(label + ": cannot open the " + what + " (" + reason_of(error) + ")");
    }
    if (!S_ISREG(st.st_mode))
        throw Error(label + ": the " + what + " is " + file_type_name(st.st_mode) + ", not a regular file");
    // Reads should wait for the disk as usual (O_NONBLOCK has no effect on regular files on Linux, but other
    // file systems, FUSE ones included, may honour it).
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    file.size_ = static_cast<uint64_t>(st.st_size);
    if (read_whole(kind) && file.size_ > input_size_limit(kind))
        throw Error(label + ": the " + what + " is too large (" + std::to_string(file.size_) + " bytes; the limit is " +
                    size_in_words(input_size_limit(kind)) + ")");
    return file;
}

std::string read_input_file(const std::filesystem::path& path, InputKind kind) {
    return open_input_file(path, kind).read_all();
}

}  // namespace umt5
