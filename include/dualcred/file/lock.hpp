#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "../error.hpp"
#include "fd.hpp"

namespace dualcred::file {

/// Opens (creating it 0600 if missing) the lock file `name` in `dir_fd` (AT_FDCWD for a
/// path; `path` names it in messages). Never through a symlink, and refused unless a regular
/// file: a link planted there, by anyone who may write the directory, must not make a
/// privileged writer create or lock a file elsewhere. Close-on-exec, so no child inherits it.
inline result<unique_fd> open_lock_file(int dir_fd, const std::string& name,
                                        const std::string& path) {
  unique_fd fd(::openat(dir_fd, name.c_str(),
                        O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0600));
  if (!fd) {
    if (errno == ELOOP)
      return fail(errc::invalid_argument,
                  fmt::format("the lock file {} is a symbolic link; remove it", path));
    return errno_failure(errno, path, "open the lock file");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_failure(errno, path, "stat");
  if (!S_ISREG(st.st_mode))
    return fail(errc::invalid_argument, fmt::format("the lock file {} is not a regular file ({})",
                                                    path, file_kind(st.st_mode)));
  return fd;
}

/// Holds an flock(2) on the lock file `name` in `dir_fd` (see `open_lock_file`) until the
/// returned descriptor is destroyed. Waits for another holder: without `give_up_after` for
/// as long as it takes, else at most that long, then `errc::conflict`. The lock file is
/// left in place afterwards: removing it would race with the next writer.
inline result<unique_fd> lock_file(
    int dir_fd, const std::string& name, const std::string& path, bool exclusive,
    std::optional<std::chrono::milliseconds> give_up_after = std::nullopt) {
  DUALCRED_TRY(fd, open_lock_file(dir_fd, name, path));
  const int how = exclusive ? LOCK_EX : LOCK_SH;
  const auto deadline =
      std::chrono::steady_clock::now() + give_up_after.value_or(std::chrono::milliseconds(0));
  while (::flock(fd.get(), give_up_after ? how | LOCK_NB : how) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK || !give_up_after) return errno_failure(errno, path, "lock");
    if (std::chrono::steady_clock::now() >= deadline)
      return fail(errc::conflict, fmt::format("{} stayed locked by another writer for {:.3g} s",
                                              path, give_up_after->count() / 1000.0));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return fd;
}

}  // namespace dualcred::file
