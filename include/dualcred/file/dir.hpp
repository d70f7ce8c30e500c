#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "../error.hpp"
#include "fd.hpp"

namespace dualcred::file {

/// The directory part of `path` ("." for a bare name, "/" for a name in the root).
[[nodiscard]] inline std::string parent_dir(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

/// The last component of `path`.
[[nodiscard]] inline std::string base_name(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// Opens the directory `path` (a symlink to one is followed: it is the operator's path).
[[nodiscard]] inline result<unique_fd> open_dir(const std::string& path) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return errno_failure(errno, path, "open");
  return fd;
}

/// Opens the directory `name` inside `parent_fd`, never through a symlink; `path` names it
/// in messages.
[[nodiscard]] inline result<unique_fd> open_dir_at(int parent_fd, const std::string& name,
                                                   const std::string& path) {
  unique_fd fd(::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return errno_failure(errno, path, "open");
  return fd;
}

/// fsync of the directory `dir`, so a rename or link made in it survives a crash.
inline result<void> sync_dir(const std::string& dir) {
  DUALCRED_TRY(fd, open_dir(dir));
  return sync_fd(fd.get(), dir);
}

/// The names in the directory `dir_fd` for which `keep` is true ("." and ".." excluded).
inline result<std::vector<std::string>> list_dir(
    int dir_fd, const std::string& path, const std::function<bool(std::string_view)>& keep) {
  std::vector<std::string> names;
  // A descriptor of its own: closedir closes the one fdopendir took.
  const int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_failure(errno, path, "list");
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    const int err = errno;
    ::close(fd);
    return errno_failure(err, path, "list");
  }
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name != "." && name != ".." && keep(name)) names.emplace_back(name);
  }
  ::closedir(d);
  return names;
}

/// Removes `name`, a flat directory of files inside `parent_fd`, without following any
/// symlink: the directory is opened O_NOFOLLOW and its entries unlinked relative to it, so
/// nothing outside it can be removed. Best effort (a leftover is retried on the next write).
inline void remove_flat_dir(int parent_fd, const std::string& name) {
  auto fd = open_dir_at(parent_fd, name, name);
  if (!fd) return;
  auto names = list_dir(fd.value().get(), name, [](std::string_view) { return true; });
  if (names)
    for (const auto& n : names.value()) ::unlinkat(fd.value().get(), n.c_str(), 0);
  ::unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR);
}

}  // namespace dualcred::file
