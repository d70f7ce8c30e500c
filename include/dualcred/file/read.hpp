#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "../detail/scrubbed_string.hpp"
#include "../error.hpp"
#include "../secret.hpp"
#include "fd.hpp"

namespace dualcred::file {

struct read_limits {
  std::size_t max_size = 64 * 1024;
  bool refuse_shared_permissions = false;
  /// Whether the last path component may be a symbolic link. A Kubernetes service account
  /// token is one (`token -> ..data/token`); a key file inside a secret directory may not be.
  bool follow_symlink = true;
};

/// A whole file's bytes, in storage zeroed when freed, and the `fstat` of the descriptor
/// they were read from.
struct file_bytes {
  dualcred::detail::scrubbed_string text;
  struct stat st {};
};

/// Refuses `name` in `dir_fd` when it is a symlink (unless `follow_symlink`) or not a
/// regular file; a file that cannot be stat'ed passes (opening it says why). Checked before
/// opening so a device is never opened (opening one can act on it); the check on the opened
/// descriptor is the one that holds against a swap.
inline result<void> refuse_special_at(int dir_fd, const char* name, const std::string& path,
                                      bool follow_symlink) {
  struct stat st {};
  if (::fstatat(dir_fd, name, &st, follow_symlink ? 0 : AT_SYMLINK_NOFOLLOW) != 0)
    return boost::outcome_v2::success();
  if (S_ISLNK(st.st_mode))
    return fail(errc::invalid_argument,
                fmt::format("{} is a symbolic link, which is not allowed here", path));
  if (!S_ISREG(st.st_mode))
    return fail(errc::invalid_argument,
                fmt::format("{} is not a regular file ({})", path, file_kind(st.st_mode)));
  return boost::outcome_v2::success();
}

/// Reads the rest of `fd`, whose `fstat` is `st`, into one buffer allocated up front from
/// the size: nothing is reallocated, so no copy of the bytes is left in freed memory. One
/// byte more is asked for, so a file that grew since `fstat` is refused, not cut.
inline result<dualcred::detail::scrubbed_string> read_sized(int fd, const struct stat& st,
                                                            const std::string& path,
                                                            std::size_t max_size) {
  const auto expected = static_cast<std::size_t>(st.st_size);
  if (expected > max_size)
    return fail(errc::malformed, fmt::format("{} is larger than {} bytes", path, max_size));
  dualcred::detail::scrubbed_string out;
  out.s.resize(expected + 1);
  std::size_t used = 0;
  for (;;) {
    const ssize_t n = ::read(fd, out.s.data() + used, out.s.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_failure(errno, path, "read");
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
    if (used > expected)
      return fail(errc::provider_unavailable,
                  fmt::format("{} changed while it was being read", path));
  }
  out.s.resize(used);  // shrinking keeps the buffer
  return out;
}

/// Reads a whole regular file: `name` relative to `dir_fd` (AT_FDCWD for a plain path),
/// `path` naming it in messages. nullopt when the file does not exist.
///
/// Opened non-blocking, so a FIFO cannot stall the caller (opening one for reading waits for
/// a writer); without following a final symlink unless `limits.follow_symlink`; then the
/// opened descriptor must be a regular file (no race with a path swap), within the size and
/// permission limits.
inline result<std::optional<file_bytes>> read_file_at(int dir_fd, const char* name,
                                                      const std::string& path,
                                                      const read_limits& limits) {
  DUALCRED_TRY(refuse_special_at(dir_fd, name, path, limits.follow_symlink));
  const int flags =
      O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (limits.follow_symlink ? 0 : O_NOFOLLOW);
  const unique_fd fd(::openat(dir_fd, name, flags));
  if (!fd) {
    const int err = errno;
    if (err == ENOENT) return std::optional<file_bytes>();
    if (err == ELOOP && !limits.follow_symlink)
      return fail(errc::invalid_argument,
                  fmt::format("{} is a symbolic link, which is not allowed here", path));
    return errno_failure(err, path, "open");
  }
  file_bytes out;
  if (::fstat(fd.get(), &out.st) != 0) return errno_failure(errno, path, "stat");
  if (!S_ISREG(out.st.st_mode))
    return fail(errc::invalid_argument,
                fmt::format("{} is not a regular file ({})", path, file_kind(out.st.st_mode)));
  if (limits.refuse_shared_permissions && (out.st.st_mode & (S_IRGRP | S_IROTH)) != 0)
    return fail(errc::permission_denied,
                fmt::format("{} is readable by group or others (mode {:04o}); chmod 600 it", path,
                            out.st.st_mode & 07777));
  DUALCRED_TRY(text, read_sized(fd.get(), out.st, path, limits.max_size));
  out.text = std::move(text);
  return std::optional<file_bytes>(std::move(out));
}

/// `read_file_at` for a path.
inline result<std::optional<file_bytes>> read_file(const std::string& path,
                                                   const read_limits& limits) {
  return read_file_at(AT_FDCWD, path.c_str(), path, limits);
}

/// `read_file_at`, the bytes as a secret.
inline result<std::optional<secret>> read_secret_file_at(int dir_fd, const char* name,
                                                         const std::string& path,
                                                         const read_limits& limits) {
  DUALCRED_TRY(bytes, read_file_at(dir_fd, name, path, limits));
  if (!bytes) return std::optional<secret>();
  return std::optional<secret>(secret(std::string_view(bytes->text.s)));
}

/// The same for a path. One reader for every secret file (provider files, key files, Vault
/// token and JWT files, the rotation tool's secret files); a caller that needs the file maps
/// nullopt to its own `not_found`.
inline result<std::optional<secret>> read_secret_file(const std::string& path,
                                                      const read_limits& limits) {
  return read_secret_file_at(AT_FDCWD, path.c_str(), path, limits);
}

}  // namespace dualcred::file
