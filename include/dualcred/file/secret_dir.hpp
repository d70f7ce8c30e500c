#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "../error.hpp"
#include "../provider/value_rules.hpp"
#include "../secret.hpp"
#include "dir.hpp"
#include "fd.hpp"
#include "read.hpp"

namespace dualcred::file {

// The name a Kubernetes secret volume (and the directory store) swaps to publish a revision.
inline constexpr std::string_view data_link_name = "..data";

// A `..data` target is accepted only as a revision directory inside the store itself: one
// relative path component starting with `..` (`..2026_11_25_10_00_00.123`, `..rev_7.Ab12Cd`),
// not `..` itself. Anything else would let whoever can write the link point reads (and a
// store's clean-up) outside the directory.
[[nodiscard]] constexpr bool valid_revision_name(std::string_view name) noexcept {
  return name.size() > 2 && name.starts_with("..") &&
         name.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
}

// One trailing newline (`\n` or `\r\n`) is a key file's end of line, not its value's.
[[nodiscard]] constexpr std::string_view strip_end_of_line(std::string_view raw) noexcept {
  if (raw.ends_with("\r\n"))
    raw.remove_suffix(2);
  else if (raw.ends_with('\n'))
    raw.remove_suffix(1);
  return raw;
}
// A key file's content as a value: without its end of line, and passing `value_defect`.
// Errors name `file`, never the content.
[[nodiscard]] inline result<std::string_view> key_file_value(std::string_view raw,
                                                             const std::string& file) {
  raw = strip_end_of_line(raw);
  const std::string_view defect = provider::value_defect(raw);
  if (!defect.empty()) return fail(errc::malformed, fmt::format("{} {}", file, defect));
  return raw;
}

// Reads `dir/..data` (relative to `dir`'s descriptor): nullopt when there is none; an
// error naming the link when it is not a valid revision name. Never follows it.
[[nodiscard]] inline result<std::optional<std::string>> read_data_link(int dir,
                                                                       const std::string& path) {
  char buf[256];
  const ssize_t n = ::readlinkat(dir, data_link_name.data(), buf, sizeof buf);
  if (n < 0) {
    const int err = errno;
    if (err == ENOENT) return std::optional<std::string>();
    if (err == EINVAL)
      return fail(errc::malformed,
                  fmt::format("{}/{} is not a symbolic link", path, data_link_name));
    return errno_failure(err, path + "/..data", "read");
  }
  const std::string_view target(buf, static_cast<std::size_t>(n));
  if (static_cast<std::size_t>(n) >= sizeof buf || !valid_revision_name(target))
    return fail(errc::malformed,
                fmt::format("{}/{} must point to a ..-prefixed directory inside {} (one relative "
                            "name, not .. or a path)",
                            path, data_link_name, path));
  return std::optional<std::string>(target);
}

// One consistent view of a secret directory (Kubernetes and Docker secrets, and the
// directory store): one file per key, and in the Kubernetes layout a `..data` symlink to the
// live revision directory, swapped by rename. The revision is opened once, by descriptor,
// so every key comes from it even while `..data` moves; `unchanged()` tells a caller that
// wants a set from one revision whether the link moved while it read.
//
// Key files are opened relative to that descriptor, never following a symlink, non-blocking,
// and must be regular files (see `read_secret_file_at`). Only the directory path given by
// the operator is followed if it is itself a symlink.
class secret_dir {
 public:
  [[nodiscard]] static result<secret_dir> open(const std::string& path) {
    secret_dir out;
    out.path_ = path;
    DUALCRED_TRY(dir, open_dir(path));
    out.dir_ = std::move(dir);
    DUALCRED_TRY(link, read_data_link(out.dir_.get(), path));
    out.link_ = std::move(link);
    if (out.link_) {
      out.live_path_ = path + "/" + *out.link_;
      out.live_ = unique_fd(::openat(out.dir_.get(), out.link_->c_str(),
                                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      const int err = errno;
      // A dangling link reads as a directory without keys (the kubelet may be mid-swap).
      if (out.live_.get() < 0 && (err == ELOOP || err == ENOTDIR))
        return fail(errc::malformed, fmt::format("{}/{} must point to a directory inside {}, "
                                                 "not to a symbolic link or a file",
                                                 path, data_link_name, path));
      if (out.live_.get() < 0 && err != ENOENT) return errno_failure(err, out.live_path_, "open");
    } else {
      out.live_path_ = path;
    }
    return out;
  }

  // A key's value (see `key_file_value`); nullopt when the key has no file. A store reads
  // with `check_value` off: it refuses a bad value when it is written, naming the key, and
  // a provider refuses it when it reads that key.
  [[nodiscard]] result<std::optional<secret>> read_key(std::string_view key, read_limits limits,
                                                       bool check_value = true) const {
    const std::string file = live_path_ + "/" + std::string(key);
    if (!provider::valid_key(key))
      return fail(errc::invalid_argument, fmt::format("{} cannot be a key file", file));
    if (live_fd() < 0) return std::optional<secret>();
    limits.follow_symlink = false;
    const std::string name(key);
    DUALCRED_TRY(raw, read_secret_file_at(live_fd(), name.c_str(), file, limits));
    if (!raw) return std::optional<secret>();
    if (!check_value) return std::optional<secret>(secret(strip_end_of_line(raw->reveal())));
    DUALCRED_TRY(value, key_file_value(raw->reveal(), file));
    return std::optional<secret>(secret(value));
  }

  // The keys present, sorted: every entry whose name is a valid key (dot files, the lock
  // and the revision directories are the directory's own).
  [[nodiscard]] result<std::vector<std::string>> keys() const {
    if (live_fd() < 0) return std::vector<std::string>();
    DUALCRED_TRY(names, list_dir(live_fd(), live_path_, provider::valid_key));
    std::sort(names.begin(), names.end());
    return names;
  }

  // Whether `..data` still names the revision read from (always true without one).
  [[nodiscard]] bool unchanged() const {
    auto now = read_data_link(dir_.get(), path_);
    return now && now.value() == link_;
  }

 private:
  [[nodiscard]] int live_fd() const noexcept { return link_ ? live_.get() : dir_.get(); }

  std::string path_;
  std::string live_path_;
  unique_fd dir_;
  unique_fd live_;
  std::optional<std::string> link_;
};

}  // namespace dualcred::file
