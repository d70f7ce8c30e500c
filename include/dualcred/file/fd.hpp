#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "../error.hpp"

namespace dualcred::file {

/// A file descriptor, closed when this is destroyed or reset. Move-only.
class unique_fd {
 public:
  unique_fd() noexcept = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }
  [[nodiscard]] int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_ = -1;
};

/// The error for a failed system call on `path`: `not_found` for a missing file or
/// directory, `permission_denied` for EACCES and EPERM, else `provider_unavailable` with
/// the system's text. `action` is what was tried ("open", "create a file in").
[[nodiscard]] inline error errno_error(int err, const std::string& path, std::string_view action) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return {errc::not_found, fmt::format("{} does not exist", path)};
    case EACCES:
    case EPERM:
      return {errc::permission_denied,
              fmt::format("cannot {} {}: permission denied", action, path)};
    default:
      return {errc::provider_unavailable,
              fmt::format("cannot {} {}: {}", action, path, std::generic_category().message(err))};
  }
}

/// `errno_error` as a failed result, for `return file::errno_failure(errno, path, "open");`.
[[nodiscard]] inline auto errno_failure(int err, const std::string& path, std::string_view action) {
  return boost::outcome_v2::failure(errno_error(err, path, action));
}

/// What a file that is not a regular one is, for messages.
[[nodiscard]] inline std::string_view file_kind(mode_t mode) noexcept {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a file";
}

/// Writes all of `data` to `fd`, retrying short writes and EINTR.
inline result<void> write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_failure(errno, path, "write");
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return boost::outcome_v2::success();
}

/// fsync of an open file or directory: a file's bytes, or a rename or link made in a
/// directory, survive a crash only once this returned.
inline result<void> sync_fd(int fd, const std::string& path) {
  if (::fsync(fd) != 0) return errno_failure(errno, path, "fsync");
  return boost::outcome_v2::success();
}

}  // namespace dualcred::file
