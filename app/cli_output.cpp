// The files and streams the `umt5` tool writes: checks on output paths before anything is computed, and standard
// output writes that fail loudly (a closed stdout or /dev/full made `generate` exit 0 having written nothing).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "app/cli.h"
#include "core/formats/checkpoint.h"

namespace umt5::cli {

namespace {

bool same_file(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

// What replacing an existing file with this name would destroy, or nullptr for an ordinary file.
const char* precious_kind(const std::filesystem::path& path) {
    const std::string ext = path.extension().string();
    if (ext == ".umt5session") return "a conversation file";
    if (ext == ".safetensors" || ext == ".bin" || ext == ".pt" || ext == ".pth" || ext == ".gguf")
        return "a weights file";
    return nullptr;
}

// A safetensors file holding exactly what `umt5 score` writes: replacing an earlier score needs no --force.
bool is_score_output(const std::filesystem::path& path) {
    try {
        return Checkpoint::open_file(path).names() == std::vector<std::string>{"encoder_hidden", "logits"};
    } catch (const Error&) {
        return false;
    }
}

}  // namespace

void check_output_path(const std::string& out, const char* option, const std::vector<Input>& inputs, bool force,
                       bool replaceable_score) {
    struct stat target {};
    if (::stat(out.c_str(), &target) != 0) return;  // a new file (or one the write will report on)
    for (const Input& input : inputs) {
        struct stat in {};
        if (::stat(input.path.c_str(), &in) == 0 && same_file(in, target))
            throw Error(out + ": refusing to write " + option + " over " + input.what + ", an input of this command");
    }
    if (force) return;
    const char* kind = precious_kind(out);
    if (kind && !(replaceable_score && is_score_output(out)))
        throw Error(out + ": refusing to replace " + kind + " with " + option + "; add --force to replace it");
}

std::vector<Input> model_inputs(const Model& model) {
    std::vector<Input> inputs;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(model.dir(), ec))
        inputs.push_back({entry.path(), "the model's " + entry.path().filename().string()});
    return inputs;
}

void write_stdout(std::string_view text) {
    if (text.empty()) return;
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0)
        throw Error(std::string("cannot write to standard output (") + std::strerror(errno) + ")");
}

void reserve_standard_streams() {
    for (int fd = 0; fd <= 2; ++fd) {
        if (::fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
        // Read-only in the place of a closed stdout or stderr: writes fail with EBADF, as they would have.
        const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null >= 0 && null != fd) {
            ::dup2(null, fd);
            ::close(null);
        }
    }
}

void finish_stdout() {
    errno = 0;
    const bool flushed = std::fflush(stdout) == 0;
    const int error = errno;
    if (!flushed || std::ferror(stdout))
        throw Error(std::string("cannot write to standard output (") + std::strerror(error ? error : EIO) + ")");
}

}  // namespace umt5::cli
