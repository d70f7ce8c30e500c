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

#include <fmt/format.h>

#include "../../error.hpp"
#include "../../provider/detail/read_file.hpp"

namespace dualcred::rotation::detail {

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

inline error errno_error(int err, const std::string& path, std::string_view action) {
  return dualcred::detail::file_errno_error(err, path, action);
}

// Holds an flock(2) on `path` (created 0600 if missing) until destroyed.
inline result<unique_fd> lock_file(const std::string& path, bool exclusive) {
  unique_fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return boost::outcome_v2::failure(errno_error(errno, path, "open the lock file"));
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
inline result<void> sync_dir(const std::string& dir) {
  unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return boost::outcome_v2::failure(errno_error(errno, dir, "open"));
  if (::fsync(fd.get()) != 0) return boost::outcome_v2::failure(errno_error(errno, dir, "fsync"));
  return boost::outcome_v2::success();
}

// Creates `dir/stem.XXXXXX` with mkstemp; returns the descriptor and fills `path`.
inline result<unique_fd> temp_file(const std::string& dir, std::string_view stem,
                                   std::string& path) {
  path = fmt::format("{}/{}.XXXXXX", dir, stem);
  unique_fd fd(::mkostemp(path.data(), O_CLOEXEC));
  if (!fd) return boost::outcome_v2::failure(errno_error(errno, dir, "create a file in"));
  return fd;
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

}  // namespace dualcred::rotation::detail
