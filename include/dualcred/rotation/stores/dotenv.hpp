#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "../../detail/scrubbed_string.hpp"
#include "../../error.hpp"
#include "../../file/atomic_replace.hpp"
#include "../../file/dotenv.hpp"
#include "../../file/fd.hpp"
#include "../../file/lock.hpp"
#include "../../file/read.hpp"
#include "../../secret.hpp"
#include "../state.hpp"
#include "detail/file_common.hpp"
#include "detail/file_lock.hpp"

namespace dualcred::rotation::stores {

/// A `writable_store` on a dotenv file, the shape `file_provider` reads from a path that is
/// not a directory. Each write rewrites the whole file into a temporary file beside it
/// (`.NAME.tmp.XXXXXX`), fsync'ed, then renamed over it and read back
/// (`file::atomic_replace`), so a reader sees the old or the new file. Values are written
/// double-quoted; comments and layout are not kept.
///
/// The revision is a counter under `revision_key`; writes hold an flock on `PATH.lock`
/// across the check and the rename, so check-and-set holds between processes on one host,
/// and remove the temporary files a crashed writer left. A value `file_provider` would
/// refuse is refused at write, naming its key. Nothing here copies a secret into a buffer
/// that is not scrubbed.
class dotenv_store {
 public:
  explicit dotenv_store(std::string path, file_store_options opts = {})
      : path_(std::move(path)), opts_(std::move(opts)) {}

  [[nodiscard]] result<stored> read() {
    DUALCRED_TRY(held, lock(false));
    (void)held;
    return read_unlocked();
  }

  [[nodiscard]] result<std::uint64_t> write(const secret_map& data, std::uint64_t expected) {
    DUALCRED_TRY(detail::check_write(data, opts_, describe()));
    DUALCRED_TRY(held, lock(true));
    (void)held;
    remove_leftovers();
    auto current = read_unlocked();
    std::uint64_t now = 0;
    if (current)
      now = current.value().revision;
    else if (!current.error().is(errc::not_found))
      return std::move(current).as_failure();
    DUALCRED_TRY(next, detail::next_revision(now, expected, describe()));
    DUALCRED_TRY(write_file(data, next));
    return next;
  }

  /// The rotation lock: an flock on `PATH.rotation-lock` (see `lockable_store`).
  [[nodiscard]] result<rotation_lock> lock_rotation(const lock_options& o) const {
    const std::string lock_path = path_ + ".rotation-lock";
    return detail::take_file_rotation_lock(AT_FDCWD, lock_path, lock_path, o, describe());
  }

  [[nodiscard]] std::string describe() const { return fmt::format("file store {}", path_); }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  result<file::unique_fd> lock(bool exclusive) const {
    const std::string lock_path = path_ + ".lock";
    return file::lock_file(AT_FDCWD, lock_path, lock_path, exclusive);
  }

  result<stored> read_unlocked() const {
    DUALCRED_TRY(raw, file::read_secret_file(path_, {opts_.max_size, false, true}));
    if (!raw) return fail(errc::not_found, fmt::format("{} does not exist", describe()));
    DUALCRED_TRY(entries, file::dotenv_parser::parse(raw->reveal(), path_));
    return detail::take_revision(std::move(entries), opts_, describe());
  }

  // A writer that died between creating its temporary file and renaming it left a copy of
  // the secrets; under the write lock no other writer's file is in flight.
  void remove_leftovers() const { file::remove_temp_leftovers(path_); }

  result<void> write_file(const secret_map& data, std::uint64_t revision) const {
    using file::dotenv_writer;
    constexpr std::string_view header = "# Written by dualcred rotation; comments are not kept.\n";
    const std::string rev = std::to_string(revision);
    std::size_t size = header.size() + dotenv_writer::line_size(opts_.revision_key, rev);
    for (const auto& [key, value] : data) size += dotenv_writer::line_size(key, value.reveal());
    dualcred::detail::scrubbed_string text;
    text.s.reserve(size);  // one allocation, so no unscrubbed copy is left behind
    text.s.append(header);
    for (const auto& [key, value] : data) dotenv_writer::append(text.s, key, value.reveal());
    dotenv_writer::append(text.s, opts_.revision_key, rev);
    file::replace_options replace;
    replace.new_file_mode = opts_.mode;
    return file::atomic_replace(path_, text.s, replace);
  }

  std::string path_;
  file_store_options opts_;
};

}  // namespace dualcred::rotation::stores
