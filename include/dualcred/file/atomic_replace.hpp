#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "../error.hpp"
#include "dir.hpp"
#include "fd.hpp"
#include "read.hpp"

namespace dualcred::file {

/// The start of the names of the temporary files written beside `path`:
/// `.NAME.tmp.` and six characters.
[[nodiscard]] inline std::string temp_prefix(const std::string& path) {
  return "." + base_name(path) + ".tmp.";
}

/// Removes the temporary files beside `path` that a writer who died between creating and
/// renaming one left (they may hold secrets). Only under the writers' lock: no other
/// writer's file is then in flight. Best effort.
inline void remove_temp_leftovers(const std::string& path) {
  const std::string dir = parent_dir(path);
  auto fd = open_dir(dir);
  if (!fd) return;
  const std::string prefix = temp_prefix(path);
  auto names = list_dir(fd.value().get(), dir, [&](std::string_view name) {
    return name.size() == prefix.size() + 6 && name.starts_with(prefix);
  });
  if (names)
    for (const auto& name : names.value()) ::unlinkat(fd.value().get(), name.c_str(), 0);
}

/// Creates a new file `name` in `dir_fd` holding `data`, fsync'ed: never through a symlink
/// and never over an existing file (O_EXCL), close-on-exec.
inline result<void> create_file_at(int dir_fd, const std::string& name, const std::string& path,
                                   std::string_view data, mode_t mode) {
  const unique_fd fd(::openat(dir_fd, name.c_str(),
                              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0666));
  if (!fd) return errno_failure(errno, path, "create");
  DUALCRED_TRY(write_all(fd.get(), data, path));
  return sync_fd(fd.get(), path);
}

/// The suffix of the temporary link `replace_symlink_at` makes beside a name.
inline constexpr std::string_view symlink_temp_suffix = ".dualcred-tmp";

/// Replaces `name` in `dir_fd` (`dir_path` in messages) with a symlink to `target`,
/// atomically: a link `NAME.dualcred-tmp` beside it, renamed over it.
inline result<void> replace_symlink_at(int dir_fd, const std::string& target,
                                       const std::string& name, const std::string& dir_path) {
  const std::string tmp = name + std::string(symlink_temp_suffix);
  ::unlinkat(dir_fd, tmp.c_str(), 0);
  if (::symlinkat(target.c_str(), dir_fd, tmp.c_str()) != 0)
    return errno_failure(errno, dir_path + "/" + tmp, "create the symlink");
  if (::renameat(dir_fd, tmp.c_str(), dir_fd, name.c_str()) != 0) {
    const int err = errno;
    ::unlinkat(dir_fd, tmp.c_str(), 0);
    return errno_failure(err, dir_path + "/" + name, "replace");
  }
  return boost::outcome_v2::success();
}

/// Whether the replaced file must keep its owner (`required`: refused when this process may
/// not give it, as a non-root writer of someone else's file) or keeps it where permitted.
enum class owner_policy { best_effort, required };

struct replace_options {
  /// The mode of a file created from nothing; an existing file keeps its own.
  mode_t new_file_mode = 0600;
  owner_policy keep_owner = owner_policy::best_effort;
  /// The last check before the rename, given the temporary file (written and fsync'ed): an
  /// error leaves the old file in place. A caller's check-and-set goes here.
  std::function<result<void>(int temp_fd)> before_rename{};
};

namespace detail {

// Gives the temporary file the old file's mode and owner (if `old` is set), or the mode
// of a new file.
inline result<void> take_mode_and_owner(int fd, const std::string& temp, const struct stat* old,
                                        const replace_options& opts) {
  if (::fchmod(fd, old != nullptr ? old->st_mode & 07777 : opts.new_file_mode & 07777) != 0)
    return errno_failure(errno, temp, "set the mode of");
  if (old == nullptr) return boost::outcome_v2::success();
  struct stat mine {};
  if (::fstat(fd, &mine) != 0) return errno_failure(errno, temp, "stat");
  if (mine.st_uid == old->st_uid && mine.st_gid == old->st_gid) return boost::outcome_v2::success();
  if (::fchown(fd, old->st_uid, old->st_gid) != 0 && opts.keep_owner == owner_policy::required)
    return fail(errc::permission_denied,
                fmt::format("cannot give the new file the old owner ({}:{}): run as that user "
                            "or as root",
                            old->st_uid, old->st_gid));
  return boost::outcome_v2::success();
}

// After the rename: the file at `path` must hold exactly `data`, or another writer replaced
// or changed it in between, and what this writer wrote is not what readers get.
inline result<void> check_written(const std::string& path, std::string_view data) {
  auto now = read_file(path, {data.size(), false, false});
  if (now && now.value() && now.value()->text.s == data) return boost::outcome_v2::success();
  return fail(errc::conflict, fmt::format("{} does not hold what was just written to it: another "
                                          "writer changed or replaced it right after the rename",
                                          path));
}

}  // namespace detail

/// Replaces the file at `path` with `data` so that a reader, and a crash, see the old file
/// or the new one, never a part: a temporary file beside it (`temp_prefix`, created with
/// O_CREAT|O_EXCL|O_CLOEXEC, mode 0600 until it takes the old file's mode and owner),
/// written and fsync'ed, `before_rename`, renamed over `path`, the directory fsync'ed, then
/// `path` read back and compared with `data` (`errc::conflict` if it differs). A failure
/// before the rename leaves the old file and removes the temporary one. Callers serialise
/// writers themselves (`lock_file`).
inline result<void> atomic_replace(const std::string& path, std::string_view data,
                                   const replace_options& opts = {}) {
  const std::string dir = parent_dir(path);
  struct stat old {};
  const bool existed = ::stat(path.c_str(), &old) == 0;
  std::string temp = dir + "/" + temp_prefix(path) + "XXXXXX";
  unique_fd fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (!fd) return errno_failure(errno, dir, "create a file in");
  struct remove_unless_renamed {
    const std::string& temp;
    bool renamed = false;
    ~remove_unless_renamed() {
      if (!renamed) ::unlink(temp.c_str());
    }
  } cleanup{temp};
  DUALCRED_TRY(detail::take_mode_and_owner(fd.get(), temp, existed ? &old : nullptr, opts));
  DUALCRED_TRY(write_all(fd.get(), data, temp));
  DUALCRED_TRY(sync_fd(fd.get(), temp));
  if (opts.before_rename) {
    DUALCRED_TRY(opts.before_rename(fd.get()));
  }
  fd.reset();
  if (::rename(temp.c_str(), path.c_str()) != 0) return errno_failure(errno, path, "replace");
  cleanup.renamed = true;
  DUALCRED_TRY(sync_dir(dir));
  return detail::check_written(path, data);
}

}  // namespace dualcred::file
