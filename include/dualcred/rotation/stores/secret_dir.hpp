#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "../../error.hpp"
#include "../../file/atomic_replace.hpp"
#include "../../file/dir.hpp"
#include "../../file/fd.hpp"
#include "../../file/lock.hpp"
#include "../../file/read.hpp"
#include "../../file/secret_dir.hpp"
#include "../../provider/value_rules.hpp"
#include "../../secret.hpp"
#include "../state.hpp"
#include "detail/file_common.hpp"
#include "detail/file_lock.hpp"

namespace dualcred::rotation::stores {

/// A `writable_store` on a directory in the Kubernetes secret-volume layout, the shape
/// `file_provider` reads from a directory: each revision is a directory `..rev_N.XXXXXX`
/// with one file per key, `..data` a symlink to the live one (swapped by rename), and
/// `KEY -> ..data/KEY` symlinks. A plain directory of key files is taken over into this
/// layout on the first write.
///
/// Reads go through `file::secret_dir`, the reader `file_provider` uses: `..data` must
/// name a `..`-prefixed entry of the directory, and every file is opened relative to it
/// without following symlinks, so neither a read nor a write's clean-up ever reaches outside
/// the directory. Writes hold an flock on `DIR/..dualcred.lock` across the check and the
/// swap, remove what a crashed writer left (`..rev_*` directories other than the live one,
/// `*.dualcred-tmp` links), and refuse, naming the key, any value `file_provider` would
/// refuse.
class secret_dir_store {
 public:
  explicit secret_dir_store(std::string path, file_store_options opts = {})
      : path_(std::move(path)), opts_(std::move(opts)) {
    while (path_.size() > 1 && path_.back() == '/') path_.pop_back();
  }

  [[nodiscard]] result<stored> read() {
    DUALCRED_TRY(dir, open_dir());
    DUALCRED_TRY(held, lock(dir.get(), false));
    (void)held;
    return read_unlocked();
  }

  [[nodiscard]] result<std::uint64_t> write(const secret_map& data, std::uint64_t expected) {
    DUALCRED_TRY(detail::check_write(data, opts_, describe()));
    DUALCRED_TRY(dir, open_dir());
    DUALCRED_TRY(held, lock(dir.get(), true));
    (void)held;
    DUALCRED_TRY(live, file::read_data_link(dir.get(), path_));
    remove_leftovers(dir.get(), live);
    DUALCRED_TRY(current, read_unlocked());
    DUALCRED_TRY(next, detail::next_revision(current.revision, expected, describe()));
    DUALCRED_TRY(write_revision(dir.get(), live, data, next));
    return next;
  }

  /// The rotation lock: an flock on `DIR/..dualcred.rotation-lock` (see `lockable_store`).
  [[nodiscard]] result<rotation_lock> lock_rotation(const lock_options& o) const {
    DUALCRED_TRY(dir, open_dir());
    return detail::take_file_rotation_lock(dir.get(), std::string(rotation_lock_name),
                                           fmt::format("{}/{}", path_, rotation_lock_name), o,
                                           describe());
  }

  [[nodiscard]] std::string describe() const { return fmt::format("file store {}", path_); }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  static constexpr std::string_view lock_name = "..dualcred.lock";
  static constexpr std::string_view rotation_lock_name = "..dualcred.rotation-lock";
  static constexpr std::string_view revision_prefix = "..rev_";
  static constexpr std::string_view temp_suffix = file::symlink_temp_suffix;

  result<file::unique_fd> open_dir() const { return file::open_dir(path_); }

  result<file::unique_fd> lock(int dir, bool exclusive) const {
    return file::lock_file(dir, std::string(lock_name), fmt::format("{}/{}", path_, lock_name),
                           exclusive);
  }

  result<stored> read_unlocked() const {
    DUALCRED_TRY(dir, file::secret_dir::open(path_));
    DUALCRED_TRY(keys, dir.keys());
    secret_map data;
    for (const auto& key : keys) {
      // Unchecked: a bad value is refused when written back, naming its key, and by the
      // provider when it reads that key.
      DUALCRED_TRY(value, dir.read_key(key, {opts_.max_size, false, false}, false));
      if (value) data.insert_or_assign(key, std::move(*value));
    }
    return detail::take_revision(std::move(data), opts_, describe());
  }

  // A writer that died mid-write left a revision directory that never went live, or a
  // temporary link; both may hold secrets. Only `..rev_*` entries (this store's own names)
  // other than the live one are removed, never through a symlink.
  void remove_leftovers(int dir, const std::optional<std::string>& live) const {
    auto names = file::list_dir(dir, path_, [&](std::string_view name) {
      return (name.starts_with(revision_prefix) && name != live) || name.ends_with(temp_suffix);
    });
    if (!names) return;
    for (const auto& name : names.value()) {
      if (name.ends_with(temp_suffix))
        ::unlinkat(dir, name.c_str(), 0);
      else
        file::remove_flat_dir(dir, name);
    }
  }

  result<void> write_revision(int dir, const std::optional<std::string>& old_live,
                              const secret_map& data, std::uint64_t revision) const {
    std::string rev_path = fmt::format("{}/{}{}.XXXXXX", path_, revision_prefix, revision);
    if (::mkdtemp(rev_path.data()) == nullptr)
      return file::errno_failure(errno, path_, "create a revision in");
    const std::string rev_name = file::base_name(rev_path);
    struct remove_on_fail {
      int dir;
      const std::string& name;
      bool done = false;
      ~remove_on_fail() {
        if (!done) file::remove_flat_dir(dir, name);
      }
    } cleanup{dir, rev_name};
    DUALCRED_TRY(rev, file::open_dir_at(dir, rev_name, rev_path));
    ::fchmod(rev.get(), (opts_.mode & 0777) | ((opts_.mode & 0444) >> 2));  // r → x
    for (const auto& [key, value] : data) {
      DUALCRED_TRY(
          file::create_file_at(rev.get(), key, rev_path + "/" + key, value.reveal(), opts_.mode));
    }
    DUALCRED_TRY(file::create_file_at(rev.get(), opts_.revision_key,
                                      rev_path + "/" + opts_.revision_key, std::to_string(revision),
                                      opts_.mode));
    DUALCRED_TRY(file::sync_fd(rev.get(), rev_path));
    DUALCRED_TRY(file::replace_symlink_at(dir, rev_name, std::string(file::data_link_name), path_));
    cleanup.done = true;
    // Top-level names follow `..data`; a key that is gone loses its link (or, in a plain
    // directory just taken over, its file).
    for (const auto& [key, value] : data) {
      DUALCRED_TRY(
          file::replace_symlink_at(dir, std::string(file::data_link_name) + "/" + key, key, path_));
    }
    auto stale = file::list_dir(dir, path_, [&](std::string_view name) {
      return provider::valid_key(name) && !data.contains(name);
    });
    if (stale)
      for (const auto& name : stale.value()) ::unlinkat(dir, name.c_str(), 0);
    if (old_live) file::remove_flat_dir(dir, *old_live);
    return file::sync_fd(dir, path_);
  }

  std::string path_;
  file_store_options opts_;
};

}  // namespace dualcred::rotation::stores
