#pragma once
// An advisory lock (flock) that serialises the programs updating one session file. A session is replaced by
// rename on every save, so the lock cannot be taken on the session itself (a waiter would hold the old inode
// while a newcomer locks the new one); it is taken on "<session>.lock" beside it, which the holder deletes when it
// lets go. Each holder checks, once it has the lock, that the file it locked is still the one at that path, and
// starts over when it is not, so deleting the lock file never lets two holders in at once.
//
// Without it, 8 concurrent `umt5 generate --session` runs on one file kept 3 of the 10 turns: each read the file,
// generated, and wrote back its own copy over the others'.
#include <filesystem>
#include <functional>

namespace umt5 {

class SessionLock {
public:
    // Blocks until the lock on `session` is held. `on_wait` (if set) is called once, before blocking, when another
    // program holds it. Throws umt5::Error naming the lock file when it cannot be created or locked.
    explicit SessionLock(const std::filesystem::path& session, const std::function<void()>& on_wait = {});
    ~SessionLock();
    SessionLock(const SessionLock&) = delete;
    SessionLock& operator=(const SessionLock&) = delete;

    static std::filesystem::path lock_path(const std::filesystem::path& session);

private:
    std::filesystem::path path_;
    int fd_ = -1;
};

}  // namespace umt5
