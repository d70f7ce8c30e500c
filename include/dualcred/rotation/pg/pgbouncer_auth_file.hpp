#pragma once

// PgBouncer's auth_file (`"user" "secret"` per line): one user's line replaced, added or
// removed, everything else kept byte for byte. Written through the file layer: writers of
// this library serialise on `PATH.lock` (`file::lock_file`, never through a symlink), the
// file is replaced atomically with its mode and owner (`file::atomic_replace`), and it is
// read again just before the rename: if anything changed it since it was read (an editor
// that does not take the lock), the update is dropped with `errc::conflict`. The file holds
// other users' verifiers, so every buffer of it is sized once and zeroed when freed, and no
// message quotes a line.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "../../detail/scrubbed_string.hpp"
#include "../../error.hpp"
#include "../../file/atomic_replace.hpp"
#include "../../file/fd.hpp"
#include "../../file/lock.hpp"
#include "../../file/read.hpp"
#include "../../secret.hpp"

namespace dualcred::rotation::pg {

/// What `update_auth_file` does to the user's line.
struct auth_file_change {
  std::string user;
  /// The SCRAM verifier to store (the one the server got); null: remove the user's line.
  const secret* verifier = nullptr;
  /// Parse and check only (the file is PgBouncer's format and writable); write nothing.
  bool dry_run = false;
};

namespace detail {

/// A larger auth_file is refused (`malformed`): it is read whole into memory.
inline constexpr std::size_t auth_file_max_size = 64 << 20;
/// How long an update waits for another writer's lock before `errc::conflict`.
inline constexpr std::chrono::seconds auth_file_lock_wait{10};

// Moves `pos` past a quoted field at `pos` (`"..."`, `""` for a quote); false if there is
// none. Copies nothing: the secret field is only checked, never extracted.
inline bool skip_quoted(std::string_view line, std::size_t& pos) {
  if (pos >= line.size() || line[pos] != '"') return false;
  for (std::size_t i = pos + 1; i < line.size(); ++i) {
    if (line[i] != '"') continue;
    if (i + 1 < line.size() && line[i + 1] == '"') {
      ++i;
      continue;
    }
    pos = i + 1;
    return true;
  }
  return false;
}

// The text of the quoted field at `pos` (a user name), `pos` moved past it.
inline std::optional<std::string> quoted(std::string_view line, std::size_t& pos) {
  const std::size_t start = pos;
  if (!skip_quoted(line, pos)) return std::nullopt;
  std::string out;
  for (std::size_t i = start + 1; i + 1 < pos; ++i) {
    out += line[i];
    if (line[i] == '"') ++i;
  }
  return out;
}

inline std::size_t quoted_size(std::string_view field) {
  return field.size() + 2 + static_cast<std::size_t>(std::count(field.begin(), field.end(), '"'));
}

inline void append_quoted(std::string& out, std::string_view field) {
  out += '"';
  for (const char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

// `"user" "verifier"\n`, in storage reserved to its size.
inline result<dualcred::detail::scrubbed_string> auth_file_line(const auth_file_change& change) {
  dualcred::detail::scrubbed_string line;
  if (change.verifier == nullptr) return line;
  const std::string_view v = change.verifier->reveal();
  if (v.empty() || v.find_first_of("\"\r\n") != std::string_view::npos)
    return fail(
        errc::invalid_argument,
        fmt::format("the verifier for '{}' is empty or holds a quote or line break", change.user));
  line.s.reserve(quoted_size(change.user) + 1 + quoted_size(v) + 1);
  append_quoted(line.s, change.user);
  line.s += ' ';
  append_quoted(line.s, v);
  line.s += '\n';
  return line;
}

// `text` with every line kept as it is but the user's: the first one replaced by `line`
// (or removed when it is empty), any later ones dropped; `line` appended if there was none.
// The result is reserved once to its largest possible size, so no reallocation leaves a
// copy of other users' verifiers behind.
inline result<dualcred::detail::scrubbed_string> rewrite_auth_file(std::string_view text,
                                                                   const std::string& user,
                                                                   std::string_view line) {
  dualcred::detail::scrubbed_string out;
  out.s.reserve(text.size() + line.size() + 1);
  bool placed = false;
  std::size_t number = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t newline = text.find('\n', pos);
    const std::size_t end = newline == std::string_view::npos ? text.size() : newline + 1;
    const std::string_view with_newline = text.substr(pos, end - pos);
    const std::string_view current = text.substr(pos, std::min(newline, text.size()) - pos);
    pos = end;
    ++number;
    std::size_t at = current.find_first_not_of(" \t\r");
    if (at == std::string_view::npos || current[at] == ';' || current[at] == '#') {
      out.s.append(with_newline);
      continue;
    }
    const auto name = quoted(current, at);
    if (name) at = std::min(current.find_first_not_of(" \t", at), current.size());
    if (!name || !skip_quoted(current, at))
      return fail(errc::malformed,
                  fmt::format("line {} is not PgBouncer's format (\"user\" \"password\"; ';' or "
                              "'#' for a comment); its text is not shown",
                              number));
    if (*name != user) {
      out.s.append(with_newline);
      continue;
    }
    if (!placed) out.s.append(line);
    placed = true;
  }
  if (!placed && !line.empty()) {
    if (!out.s.empty() && out.s.back() != '\n') out.s += '\n';
    out.s.append(line);
  }
  return out;
}

// The check-and-set before the rename: the file must still be the one read, unchanged, or
// someone else's edit would be lost.
inline result<void> auth_file_unchanged(const std::string& path, const file::file_bytes& read) {
  auto now = file::read_file(path, {auth_file_max_size, false, false});
  const auto same = [&](const file::file_bytes& b) {
    return b.st.st_ino == read.st.st_ino && b.st.st_dev == read.st.st_dev &&
           b.st.st_mtim.tv_sec == read.st.st_mtim.tv_sec &&
           b.st.st_mtim.tv_nsec == read.st.st_mtim.tv_nsec && b.text.s == read.text.s;
  };
  if (now && now.value() && same(*now.value())) return boost::outcome_v2::success();
  return fail(errc::conflict,
              "it was changed by someone else while it was being updated; nothing was written "
              "(run the step again)");
}

}  // namespace detail

/// Replaces (or adds, or with no verifier removes) `change.user`'s line in the auth_file at
/// `path`. Errors: `malformed` (a line that is not PgBouncer's format, named by number),
/// `permission_denied` (cannot read, write or keep the owner), `not_found`, `conflict`
/// (locked for 10 s, or changed while being updated), `invalid_argument` (not a regular file,
/// or its lock file is a symlink).
[[nodiscard]] inline result<void> update_auth_file(const std::string& path,
                                                   const auth_file_change& change) {
  const auto in_file = [&](const error& e) {
    return boost::outcome_v2::failure(
        error(e.code, fmt::format("PgBouncer auth_file {}: {}", path, e.detail)));
  };
  if (change.user.empty() || change.user.find_first_of("\r\n") != std::string::npos)
    return in_file({errc::invalid_argument, "the user name is empty or holds a line break"});
  // Checked before the lock file is made beside it.
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return in_file(file::errno_error(errno, path, "stat"));
  if (!S_ISREG(st.st_mode))
    return in_file({errc::invalid_argument,
                    "not a regular file (a symlink or special file "
                    "would not survive an atomic replace)"});
  file::unique_fd lock;
  if (!change.dry_run) {
    const std::string lock_path = path + ".lock";
    auto held = file::lock_file(AT_FDCWD, lock_path, lock_path, true, detail::auth_file_lock_wait);
    if (!held) return in_file(held.error());
    lock = std::move(held).value();
    file::remove_temp_leftovers(path);
  }
  auto read = file::read_file(path, {detail::auth_file_max_size, false, false});
  if (!read) return in_file(read.error());
  if (!read.value()) return in_file({errc::not_found, "it does not exist"});
  const file::file_bytes& original = *read.value();
  auto line = detail::auth_file_line(change);
  if (!line) return in_file(line.error());
  auto updated = detail::rewrite_auth_file(original.text.s, change.user, line.value().s);
  if (!updated) return in_file(updated.error());

  if (change.dry_run) {
    if (::access(path.c_str(), W_OK) != 0 || ::access(file::parent_dir(path).c_str(), W_OK) != 0)
      return in_file({errc::permission_denied,
                      "this user cannot write it or its directory (it "
                      "is replaced by a rename)"});
    return boost::outcome_v2::success();
  }
  if (updated.value().s == original.text.s) return boost::outcome_v2::success();
  file::replace_options opts;
  opts.keep_owner = file::owner_policy::required;
  opts.before_rename = [&](int) { return detail::auth_file_unchanged(path, original); };
  auto replaced = file::atomic_replace(path, updated.value().s, opts);
  if (!replaced) return in_file(replaced.error());
  return boost::outcome_v2::success();
}

}  // namespace dualcred::rotation::pg
