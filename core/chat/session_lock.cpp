#include "core/chat/session_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/formats/error.h"

namespace umt5 {

std::filesystem::path SessionLock::lock_path(const std::filesystem::path& session) {
    std::filesystem::path lock = session;
    lock += ".lock";
    return lock;
}

SessionLock::SessionLock(const std::filesystem::path& session, const std::function<void()>& on_wait)
    : path_(lock_path(session)) {
    const std::string name = path_.string();
    auto fail = [&](const char* what, int error) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        throw Error(name + ": cannot " + what + " the lock file (" + std::strerror(error) + ")");
    };
    bool waited = false;
    for (;;) {
        // O_NOFOLLOW and O_NONBLOCK: a symlink or FIFO planted under the lock's name is refused, not followed or
        // waited on.
        fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
        if (fd_ < 0) fail("create", errno);
        struct stat held {};
        if (::fstat(fd_, &held) != 0) fail("read", errno);
        if (!S_ISREG(held.st_mode)) fail("use", EINVAL);
        int rc = ::flock(fd_, LOCK_EX | LOCK_NB);
        if (rc != 0 && errno == EWOULDBLOCK) {
            if (on_wait && !waited) on_wait();
            waited = true;
            do rc = ::flock(fd_, LOCK_EX);
            while (rc != 0 && errno == EINTR);
        }
        if (rc != 0) fail("lock", errno);
        // The previous holder deletes the file before unlocking: the inode locked may no longer be the path's.
        struct stat now {};
        if (::stat(path_.c_str(), &now) == 0 && now.st_dev == held.st_dev && now.st_ino == held.st_ino) return;
        ::close(fd_);
        fd_ = -1;
    }
}

SessionLock::~SessionLock() {
    if (fd_ < 0) return;
    // Unlink while still holding the lock, so a waiter that then gets this inode sees it is stale and retries.
    ::unlink(path_.c_str());
    ::close(fd_);
}

}  // namespace umt5
