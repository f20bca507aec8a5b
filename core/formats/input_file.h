#pragma once
// The one way the core opens a file it reads: model files (config.json, spiece.model, weight files, shard
// indexes), session files and imported transcripts. A path given by the user or found in a model folder may be
// a symlink to /dev/zero, a named pipe, a directory or a socket; reading those would block forever in open()
// (a FIFO with no writer) or read until memory runs out (/dev/zero). open_input_file follows symlinks, opens
// with O_NONBLOCK (so a FIFO cannot block) and refuses anything but a regular file; read_input_file then reads
// at most the size limit of the file's kind. Every error is one line naming the file and what is wrong.
//
// Limits (docs/user-guide.md, "Limits on input files", lists them for users):
//   kind          what is bounded            limit
//   config        config.json                  1 MiB
//   tokenizer     spiece.model                64 MiB
//   index         *.index.json                16 MiB
//   weights       a safetensors JSON header   16 MiB (the tensor data is not bounded)
//   session       a session's JSON header    100 MiB (the cache tensors are not bounded)
//   transcript    an imported JSON transcript 32 MiB
#include <cstdint>
#include <filesystem>
#include <string>

namespace umt5 {

enum class InputKind { config, tokenizer, index, weights, session, transcript };

// What the file is, in words, for messages: "model configuration", "sentencepiece model", "shard index",
// "weight file", "conversation file", "transcript".
const char* input_kind_name(InputKind kind);
// The most bytes read into memory for a file of this kind: the whole file for config, tokenizer, index and
// transcript; the JSON header for weights and session (their tensor data is read or mapped on demand).
uint64_t input_size_limit(InputKind kind);
// "1 MiB", "100 MiB": a limit in the words of the messages and the docs.
std::string size_in_words(uint64_t bytes);

// An open regular file (read-only, close-on-exec). Movable, not copyable; closes on destruction.
class InputFile {
public:
    InputFile() = default;
    ~InputFile();
    InputFile(InputFile&& other) noexcept;
    InputFile& operator=(InputFile&& other) noexcept;
    InputFile(const InputFile&) = delete;
    InputFile& operator=(const InputFile&) = delete;

    int fd() const { return fd_; }
    // Size when opened.
    uint64_t size() const { return size_; }
    const std::string& label() const { return label_; }  // the path as given, for messages
    InputKind kind() const { return kind_; }
    // Gives up ownership of the descriptor (for libraries that take it over, e.g. zip_fdopen).
    int release();

    // Copies [offset, offset + n) of the file to `out` with pread; throws "<what> cannot be read (...)" when the
    // bytes are no longer there (the file shrank since it was opened) or reading fails.
    void read_at(uint64_t offset, void* out, uint64_t n, const std::string& what) const;
    // The whole file from the start, at most input_size_limit(kind()) bytes (a file that grew past it while being
    // read throws too).
    std::string read_all() const;

private:
    friend InputFile open_input_file(const std::filesystem::path& path, InputKind kind);
    int fd_ = -1;
    uint64_t size_ = 0;
    std::string label_;
    InputKind kind_ = InputKind::weights;
};

// Opens `path` (symlinks followed) for reading. Throws umt5::Error when it does not exist, cannot be opened,
// is not a regular file ("PATH: the sentencepiece model is a named pipe (FIFO), not a regular file"), or, for
// the kinds read whole (config, tokenizer, index, transcript), is larger than the kind's limit.
InputFile open_input_file(const std::filesystem::path& path, InputKind kind);
// open_input_file(path, kind).read_all().
std::string read_input_file(const std::filesystem::path& path, InputKind kind);

}  // namespace umt5
