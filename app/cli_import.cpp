// `umt5 import`: turn a JSON transcript (umt5 export --format json) back into a conversation file.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "app/cli.h"
#include "core/chat/conversation.h"
#include "core/chat/session_lock.h"
#include "core/chat/transcript.h"

namespace umt5::cli {

namespace {

// Largest transcript read: a 59 MB one took 1.15 GB to parse. Exported transcripts of real conversations are far
// smaller (a session header, which holds the same texts, is limited to 100 MiB escaped twice).
constexpr uint64_t kMaxTranscriptBytes = uint64_t{32} << 20;

// The transcript's bytes. Only a regular file (after following symlinks) of at most kMaxTranscriptBytes is read,
// opened without blocking: a FIFO blocked forever in open(), a symlink to /dev/zero read until memory ran out.
std::string read_transcript(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
    auto fail = [&](const std::string& why) {
        ::close(fd);
        throw Error(path + ": " + why);
    };
    struct stat st {};
    if (::fstat(fd, &st) != 0) fail(std::string("cannot open (") + std::strerror(errno) + ")");
    if (!S_ISREG(st.st_mode)) {
        const char* kind = S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a named pipe (FIFO)"
                                                                                     : "a special file";
        fail(std::string("the transcript is ") + kind + ", not a regular file");
    }
    if (static_cast<uint64_t>(st.st_size) > kMaxTranscriptBytes)
        fail("the transcript is " + std::to_string(st.st_size) + " bytes; the limit is " +
             std::to_string(kMaxTranscriptBytes >> 20) + " MiB");
    std::string bytes(static_cast<size_t>(st.st_size), '\0');
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(std::string("cannot read (") + std::strerror(errno) + ")");
        if (n == 0) break;  // shrank while being read: parse what is there
        done += static_cast<size_t>(n);
    }
    bytes.resize(done);
    ::close(fd);
    return bytes;
}

}  // namespace

Action add_import(CLI::App& app) {
    struct Args {
        std::string in;
        std::string session;
        bool force = false;
    };
    auto args = std::make_shared<Args>();
    CLI::App* command = app.add_subcommand("import", "Create a conversation file from a JSON transcript");
    command->add_option("--in", args->in, "JSON transcript (a regular file of at most 32 MiB)")
        ->required()
        ->check(CLI::ExistingFile);
    command->add_option("--session", args->session, "Conversation file to write (never the --in file)")->required();
    command->add_flag("--force", args->force, "Replace the conversation file if it exists");
    return [args]() -> int {
        check_output_path(args->session, "--session", {{args->in, "--in"}}, /*force=*/true);
        const SessionLock lock(args->session, wait_message(args->session));
        if (!args->force && std::filesystem::exists(args->session))
            throw Error(args->session + " exists; add --force to replace it");
        const Conversation conversation = import_json(read_transcript(args->in), args->in);
        conversation.save(args->session, nullptr, /*include_cache=*/false);
        return 0;
    };
}

}  // namespace umt5::cli
