#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "../../detail/secure_zero.hpp"
#include "../../error.hpp"
#include "../../secret.hpp"

namespace dualcred::detail {

struct read_limits {
  std::size_t max_size = 64 * 1024;
  bool refuse_shared_permissions = false;
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

// Reads a whole regular file into a secret, checking size and permissions on the opened
// descriptor (no race with a path swap). Returns nullopt when the file does not exist.
inline result<std::optional<secret>> read_secret_file(const std::string& path,
                                                      const read_limits& limits) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<secret>();
    return boost::outcome_v2::failure(file_errno_error(errno, path, "open"));
  }
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_on_exit{fd};

  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return boost::outcome_v2::failure(file_errno_error(errno, path, "stat"));
  if (!S_ISREG(st.st_mode))
    return fail(errc::invalid_argument, fmt::format("{} is not a regular file", path));
  if (limits.refuse_shared_permissions && (st.st_mode & (S_IRGRP | S_IROTH)) != 0)
    return fail(errc::permission_denied,
                fmt::format("{} is readable by group or others (mode {:04o}); chmod 600 it", path,
                            st.st_mode & 07777));
  if (static_cast<std::size_t>(st.st_size) > limits.max_size)
    return fail(errc::malformed, fmt::format("{} is larger than {} bytes", path, limits.max_size));

  // Read one byte past the limit so a file that grew since fstat is still caught.
  std::string buffer(limits.max_size + 1, '\0');
  std::size_t used = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data() + used, buffer.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      secure_zero(buffer.data(), used);
      return boost::outcome_v2::failure(file_errno_error(err, path, "read"));
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
    if (used > limits.max_size) {
      secure_zero(buffer.data(), used);
      return fail(errc::malformed,
                  fmt::format("{} is larger than {} bytes", path, limits.max_size));
    }
  }
  secret out(std::string_view(buffer.data(), used));
  secure_zero(buffer.data(), used);
  return std::optional<secret>(std::move(out));
}

}  // namespace dualcred::detail
