#pragma once

// PgBouncer's auth_file (`"user" "secret"` per line): one user's line replaced, added or
// removed, everything else kept byte for byte. The file is replaced atomically (a temporary
// file in the same directory, renamed over it) with its mode and owner; writers of this
// library serialise on `PATH.lock` (flock), and the file is read again just before the rename:
// if anything changed it since it was read (an editor that does not take the lock), the
// update is dropped with `errc::conflict`. No message quotes a line: they hold verifiers.

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "../../detail/secure_zero.hpp"
#include "../../error.hpp"
#include "../../secret.hpp"

namespace dualcred::rotation::pg {

namespace detail {

// A file descriptor closed on scope exit.
struct fd_guard {
  int fd = -1;
  explicit fd_guard(int f) noexcept : fd(f) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

// A string scrubbed on scope exit (the file holds other users' verifiers).
struct scrubbed {
  std::string s;
  scrubbed() = default;
  scrubbed(const scrubbed&) = delete;
  scrubbed& operator=(const scrubbed&) = delete;
  ~scrubbed() { dualcred::detail::secure_zero(s.data(), s.size()); }
};

inline std::string errno_text(int e) {
  return std::strerror(e);
}

inline result<void> read_all(int fd, std::string& out, const std::string& path) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      dualcred::detail::secure_zero(buf, sizeof buf);
      return fail(errc::permission_denied,
                  fmt::format("PgBouncer auth_file {}: cannot read it: {}", path, errno_text(e)));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  dualcred::detail::secure_zero(buf, sizeof buf);
  return boost::outcome_v2::success();
}

// A quoted field at `pos` (`"..."`, `""` for a quote); its text, and `pos` moved past it.
inline std::optional<std::string> quoted(std::string_view line, std::size_t& pos) {
  if (pos >= line.size() || line[pos] != '"') return std::nullopt;
  std::string out;
  for (std::size_t i = pos + 1; i < line.size(); ++i) {
    if (line[i] != '"') {
      out += line[i];
      continue;
    }
    if (i + 1 < line.size() && line[i + 1] == '"') {
      out += '"';
      ++i;
      continue;
    }
    pos = i + 1;
    return out;
  }
  return std::nullopt;
}

inline std::string quote(std::string_view field) {
  std::string out = "\"";
  for (const char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

}  // namespace detail

/// What `update_auth_file` does to the user's line.
struct auth_file_change {
  std::string user;
  /// The SCRAM verifier to store (the one the server got); null: remove the user's line.
  const secret* verifier = nullptr;
  /// Parse and check only (the file is PgBouncer's format and writable); write nothing.
  bool dry_run = false;
};

/// Replaces (or adds, or with no verifier removes) `change.user`'s line in the auth_file at
/// `path`. Errors: `malformed` (a line that is not PgBouncer's format, named by number),
/// `permission_denied` (cannot read, write or keep the owner), `not_found`, `conflict`
/// (locked for 10 s, or changed while being updated), `invalid_argument` (not a regular file).
[[nodiscard]] inline result<void> update_auth_file(const std::string& path,
                                                   const auth_file_change& change) {
  const auto where = [&](std::string_view why) {
    return fmt::format("PgBouncer auth_file {}: {}", path, why);
  };
  if (change.user.empty() || change.user.find_first_of("\r\n") != std::string::npos)
    return fail(errc::invalid_argument, where("the user name is empty or holds a line break"));
  struct stat before {};
  if (::lstat(path.c_str(), &before) != 0) {
    const int e = errno;
    return fail(e == ENOENT ? errc::not_found : errc::permission_denied,
                where(fmt::format("cannot stat it: {}", detail::errno_text(e))));
  }
  if (!S_ISREG(before.st_mode))
    return fail(errc::invalid_argument, where("not a regular file (a symlink or special file "
                                              "would not survive an atomic replace)"));
  const std::string dir = [&] {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? std::string(".")
           : slash == 0               ? std::string("/")
                                      : path.substr(0, slash);
  }();

  // Serialise writers (the lock file is left in place: removing it would race).
  const std::string lock_path = path + ".lock";
  detail::fd_guard lock(
      change.dry_run ? -1 : ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!change.dry_run) {
    if (lock.fd < 0) {
      const int e = errno;
      return fail(errc::permission_denied, where(fmt::format("cannot create its lock file {}: {}",
                                                             lock_path, detail::errno_text(e))));
    }
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (::flock(lock.fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR)
        return fail(errc::permission_denied,
                    where(fmt::format("cannot lock {}: {}", lock_path, detail::errno_text(errno))));
      if (std::chrono::steady_clock::now() >= give_up)
        return fail(errc::conflict,
                    where(fmt::format("{} stayed locked by another writer for 10 s", lock_path)));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  detail::scrubbed original;
  {
    detail::fd_guard in(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (in.fd < 0) {
      const int e = errno;
      return fail(errc::permission_denied,
                  where(fmt::format("cannot open it: {}", detail::errno_text(e))));
    }
    if (::fstat(in.fd, &before) != 0) return fail(errc::permission_denied, where("cannot stat it"));
    DUALCRED_TRY(detail::read_all(in.fd, original.s, path));
  }

  // Every line kept as it is but the user's: the first one replaced, any later ones dropped.
  detail::scrubbed updated;
  bool placed = false;
  std::size_t number = 0;
  const std::string_view text = original.s;
  std::string new_line;
  if (change.verifier != nullptr) {
    const std::string_view v = change.verifier->reveal();
    if (v.empty() || v.find_first_of("\"\r\n") != std::string_view::npos)
      return fail(errc::invalid_argument,
                  where(fmt::format("the verifier for '{}' is empty or holds a quote or line break",
                                    change.user)));
    new_line = detail::quote(change.user) + " " + detail::quote(v);
  }
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t end = text.find('\n', pos);
    const bool has_newline = end != std::string_view::npos;
    if (!has_newline) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    const std::string_view with_newline = text.substr(pos, (has_newline ? end + 1 : end) - pos);
    pos = has_newline ? end + 1 : end;
    ++number;
    std::size_t at = line.find_first_not_of(" \t\r");
    if (at == std::string_view::npos || line[at] == ';' || line[at] == '#') {
      updated.s.append(with_newline);
      continue;
    }
    const auto user = detail::quoted(line, at);
    std::optional<std::string> secret_field;
    if (user) {
      while (at < line.size() && (line[at] == ' ' || line[at] == '\t')) ++at;
      secret_field = detail::quoted(line, at);
    }
    const bool ok = user && secret_field;
    if (secret_field) dualcred::detail::secure_zero(secret_field->data(), secret_field->size());
    if (!ok)
      return fail(errc::malformed,
                  where(fmt::format("line {} is not PgBouncer's format (\"user\" \"password\"; "
                                    "';' or '#' for a comment); its text is not shown",
                                    number)));
    if (*user != change.user) {
      updated.s.append(with_newline);
      continue;
    }
    if (!placed && change.verifier != nullptr) {
      updated.s.append(new_line).append("\n");
    }
    placed = true;
  }
  if (!placed && change.verifier != nullptr) {
    if (!updated.s.empty() && updated.s.back() != '\n') updated.s += '\n';
    updated.s.append(new_line).append("\n");
  }
  dualcred::detail::secure_zero(new_line.data(), new_line.size());

  if (change.dry_run) {
    if (::access(path.c_str(), W_OK) != 0 || ::access(dir.c_str(), W_OK) != 0)
      return fail(errc::permission_denied,
                  where("this user cannot write it or its directory (it is replaced by a rename)"));
    return boost::outcome_v2::success();
  }
  if (updated.s == original.s) return boost::outcome_v2::success();

  std::string temp = path + ".XXXXXX";
  detail::fd_guard out(::mkstemp(temp.data()));
  if (out.fd < 0) {
    const int e = errno;
    return fail(
        errc::permission_denied,
        where(fmt::format("cannot create a temporary file in {}: {}", dir, detail::errno_text(e))));
  }
  auto abandon = [&](errc code, std::string why) {
    ::unlink(temp.c_str());
    return fail(code, where(why));
  };
  if (::fchmod(out.fd, before.st_mode & 07777) != 0)
    return abandon(errc::permission_denied, "cannot give the new file the old mode");
  struct stat mine {};
  if (::fstat(out.fd, &mine) == 0 &&
      (mine.st_uid != before.st_uid || mine.st_gid != before.st_gid) &&
      ::fchown(out.fd, before.st_uid, before.st_gid) != 0)
    return abandon(errc::permission_denied,
                   fmt::format("cannot give the new file the old owner ({}:{}): run as that user "
                               "or as root",
                               before.st_uid, before.st_gid));
  for (std::size_t done = 0; done < updated.s.size();) {
    const ssize_t n = ::write(out.fd, updated.s.data() + done, updated.s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return abandon(errc::permission_denied,
                     fmt::format("cannot write the new file: {}", detail::errno_text(errno)));
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(out.fd) != 0) return abandon(errc::permission_denied, "cannot fsync the new file");

  // The check-and-set: the file must be as it was read, or someone else's edit would be lost.
  {
    detail::scrubbed now;
    struct stat again {};
    detail::fd_guard in(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (in.fd < 0 || ::fstat(in.fd, &again) != 0 || !detail::read_all(in.fd, now.s, path) ||
        again.st_ino != before.st_ino || again.st_dev != before.st_dev ||
        again.st_mtim.tv_sec != before.st_mtim.tv_sec ||
        again.st_mtim.tv_nsec != before.st_mtim.tv_nsec || now.s != original.s)
      return abandon(errc::conflict,
                     "it was changed by someone else while it was being updated; nothing was "
                     "written (run the step again)");
  }
  if (::rename(temp.c_str(), path.c_str()) != 0)
    return abandon(errc::permission_denied, fmt::format("cannot rename the new file over it: {}",
                                                        detail::errno_text(errno)));
  detail::fd_guard d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.fd >= 0) ::fsync(d.fd);
  return boost::outcome_v2::success();
}

}  // namespace dualcred::rotation::pg
