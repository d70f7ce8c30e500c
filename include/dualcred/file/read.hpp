#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "../detail/secure_zero.hpp"
#include "../error.hpp"
#include "../secret.hpp"

namespace dualcred::file {

struct read_limits {
  std::size_t max_size = 64 * 1024;
  bool refuse_shared_permissions = false;
  /// Whether the last path component may be a symbolic link. A Kubernetes service account
  /// token is one (`token -> ..data/token`); a key file inside a secret directory may not be.
  bool follow_symlink = true;
};

// A file descriptor closed on scope exit.
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
  ~unique_fd() { reset(); }
  [[nodiscard]] int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_ = -1;
};

inline error file_errno_error(int err, const std::string& path, std::string_view action) {
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

// What a non-regular file is, for messages.
[[nodiscard]] inline std::string_view file_kind(mode_t mode) noexcept {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a file";
}

// Reads a whole regular file into a secret: `name` relative to `dir_fd` (AT_FDCWD for a
// plain path), `path` naming it in messages. Returns nullopt when the file does not exist.
//
// Opened non-blocking, so a FIFO cannot stall the caller (opening one for reading waits for
// a writer); without following a final symlink unless `limits.follow_symlink`; then the
// opened descriptor must be a regular file (no race with a path swap), within the size and
// permission limits. Every buffer that held file bytes is zeroed.
inline result<std::optional<secret>> read_secret_file_at(int dir_fd, const char* name,
                                                         const std::string& path,
                                                         const read_limits& limits) {
  // Checked before opening too, so a device is never opened (opening one can act on it);
  // the check on the opened descriptor below is the one that holds against a swap.
  struct stat before {};
  if (::fstatat(dir_fd, name, &before, limits.follow_symlink ? 0 : AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(before.st_mode))
      return fail(errc::invalid_argument,
                  fmt::format("{} is a symbolic link, which is not allowed here", path));
    if (!S_ISREG(before.st_mode))
      return fail(errc::invalid_argument,
                  fmt::format("{} is not a regular file ({})", path, file_kind(before.st_mode)));
  }
  const int flags =
      O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (limits.follow_symlink ? 0 : O_NOFOLLOW);
  const unique_fd file(::openat(dir_fd, name, flags));
  const int fd = file.get();
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return std::optional<secret>();
    if (err == ELOOP && !limits.follow_symlink)
      return fail(errc::invalid_argument,
                  fmt::format("{} is a symbolic link, which is not allowed here", path));
    return boost::outcome_v2::failure(file_errno_error(err, path, "open"));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return boost::outcome_v2::failure(file_errno_error(errno, path, "stat"));
  if (!S_ISREG(st.st_mode))
    return fail(errc::invalid_argument,
                fmt::format("{} is not a regular file ({})", path, file_kind(st.st_mode)));
  if (limits.refuse_shared_permissions && (st.st_mode & (S_IRGRP | S_IROTH)) != 0)
    return fail(errc::permission_denied,
                fmt::format("{} is readable by group or others (mode {:04o}); chmod 600 it", path,
                            st.st_mode & 07777));
  if (static_cast<std::size_t>(st.st_size) > limits.max_size)
    return fail(errc::malformed, fmt::format("{} is larger than {} bytes", path, limits.max_size));

  // Read one byte past the limit so a file that grew since fstat is still caught.
  std::string buffer(limits.max_size + 1, '\0');
  std::size_t used = 0;
  struct scrub {
    std::string& s;
    std::size_t& used;
    ~scrub() { dualcred::detail::secure_zero(s.data(), used); }
  } scrub_buffer{buffer, used};
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data() + used, buffer.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return boost::outcome_v2::failure(file_errno_error(errno, path, "read"));
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
    if (used > limits.max_size)
      return fail(errc::malformed,
                  fmt::format("{} is larger than {} bytes", path, limits.max_size));
  }
  return std::optional<secret>(secret(std::string_view(buffer.data(), used)));
}

// The same for a path. One reader for every secret file (provider files, key files, Vault
// token and JWT files); a caller that needs the file maps nullopt to its own `not_found`.
inline result<std::optional<secret>> read_secret_file(const std::string& path,
                                                      const read_limits& limits) {
  return read_secret_file_at(AT_FDCWD, path.c_str(), path, limits);
}

}  // namespace dualcred::file
