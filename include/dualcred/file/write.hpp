#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "../error.hpp"
#include "read.hpp"
#include "secret_dir.hpp"

namespace dualcred::file {

inline error errno_error(int err, const std::string& path, std::string_view action) {
  return file::file_errno_error(err, path, action);
}

// Opens the lock file `name` in `dir_fd` (AT_FDCWD for a path; created 0600 if missing)
// without following a symlink, and refuses it unless a regular file: a link planted there
// must not make the rotator create or lock a file elsewhere.
inline result<unique_fd> open_lock_file(int dir_fd, const std::string& name,
                                        const std::string& path) {
  unique_fd fd(::openat(dir_fd, name.c_str(),
                        O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0600));
  if (!fd) {
    if (errno == ELOOP)
      return fail(errc::invalid_argument,
                  fmt::format("the lock file {} is a symbolic link; remove it", path));
    return boost::outcome_v2::failure(errno_error(errno, path, "open the lock file"));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return boost::outcome_v2::failure(errno_error(errno, path, "stat"));
  if (!S_ISREG(st.st_mode))
    return fail(errc::invalid_argument, fmt::format("the lock file {} is not a regular file ({})",
                                                    path, file::file_kind(st.st_mode)));
  return fd;
}

// Holds an flock(2) on the lock file `name` in `dir_fd` (see `open_lock_file`) until
// destroyed.
inline result<unique_fd> lock_file(int dir_fd, const std::string& name, const std::string& path,
                                   bool exclusive) {
  DUALCRED_TRY(fd, open_lock_file(dir_fd, name, path));
  while (::flock(fd.get(), exclusive ? LOCK_EX : LOCK_SH) != 0) {
    if (errno == EINTR) continue;
    return boost::outcome_v2::failure(errno_error(errno, path, "lock"));
  }
  return fd;
}

// Writes all of `data` to `fd`.
inline result<void> write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return boost::outcome_v2::failure(errno_error(errno, path, "write"));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return boost::outcome_v2::success();
}

// fsync of a directory, so a rename or symlink in it survives a crash.
inline result<void> sync_dir(int fd, const std::string& path) {
  if (::fsync(fd) != 0) return boost::outcome_v2::failure(errno_error(errno, path, "fsync"));
  return boost::outcome_v2::success();
}
inline result<void> sync_dir(const std::string& dir) {
  unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return boost::outcome_v2::failure(errno_error(errno, dir, "open"));
  return sync_dir(fd.get(), dir);
}

// Creates `dir/stem.XXXXXX` with mkostemp; returns the descriptor and fills `path`.
inline result<unique_fd> temp_file(const std::string& dir, std::string_view stem,
                                   std::string& path) {
  path = fmt::format("{}/{}.XXXXXX", dir, stem);
  unique_fd fd(::mkostemp(path.data(), O_CLOEXEC));
  if (!fd) return boost::outcome_v2::failure(errno_error(errno, dir, "create a file in"));
  return fd;
}

// Removes `name`, a flat directory of files inside `parent_fd`, without following any
// symlink: the directory is opened O_NOFOLLOW and its entries unlinked relative to it, so
// nothing outside it can be removed. Best effort (a leftover is retried on the next write).
inline void remove_flat_dir(int parent_fd, const std::string& name) {
  unique_fd fd(::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return;
  auto names = list_dir(fd.get(), name, [](std::string_view) { return true; });
  if (names)
    for (const auto& n : names.value()) ::unlinkat(fd.get(), n.c_str(), 0);
  ::unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR);
}

inline std::string parent_dir(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

inline std::string base_name(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace dualcred::file
