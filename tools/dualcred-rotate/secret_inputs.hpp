#pragma once

// Where the tool's secrets come from. Never argv: a command line is in `ps`,
// /proc/PID/cmdline and shell history. So a flag value that holds a password is refused, and
// secrets come from the environment or from a file only its owner can read.

#include <libpq-fe.h>

#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <dualcred/detail/secure_zero.hpp>
#include <dualcred/error.hpp>
#include <dualcred/file/read.hpp>
#include <dualcred/secret.hpp>

namespace dualcred_rotate {

enum class conninfo_check { ok, malformed, holds_secret };

namespace detail {

inline bool is_uri(std::string_view s) {
  return s.starts_with("postgresql://") || s.starts_with("postgres://");
}

// libpq's own parser, so every spelling it accepts (key=value, URI, percent-encoding,
// `?password=`) is seen as libpq will see it. Its error message may quote the text, so it is
// wiped unread.
inline conninfo_check check(const char* text, int depth) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(text, &err);
  if (opts == nullptr) {
    if (err != nullptr) {
      dualcred::detail::secure_zero(err, std::strlen(err));
      PQfreemem(err);
    }
    return conninfo_check::malformed;
  }
  conninfo_check verdict = conninfo_check::ok;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    const std::string_view key = o->keyword;
    if (key == "password" || key == "sslpassword") verdict = conninfo_check::holds_secret;
    // PQconnectdb expands a dbname that is itself a conninfo or a URI.
    const std::string_view val = o->val;
    if (key == "dbname" && depth == 0 && (is_uri(val) || val.find('=') != std::string_view::npos)) {
      const conninfo_check inner = check(o->val, depth + 1);
      if (inner != conninfo_check::ok && verdict == conninfo_check::ok) verdict = inner;
    }
  }
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o)
    if (o->val != nullptr) dualcred::detail::secure_zero(o->val, std::strlen(o->val));
  PQconninfoFree(opts);
  return verdict;
}

}  // namespace detail

/// Whether a libpq connection string (key=value or URI) parses, and whether it carries a
/// password (`password`, `sslpassword`, the URI's `user:password@`, a nested dbname's).
[[nodiscard]] inline conninfo_check check_conninfo(const dualcred::secret& conninfo) {
  std::string text(conninfo.reveal());  // libpq wants it NUL-terminated
  const conninfo_check verdict = detail::check(text.c_str(), 0);
  dualcred::detail::secure_zero(text.data(), text.size());
  return verdict;
}

/// Reads a secret from `path`: a regular file (not a symbolic link, FIFO or device) that
/// neither group nor others may read, at most 64 KiB, one trailing line break dropped.
/// Errors name `flag` and the path, never the content.
[[nodiscard]] inline dualcred::result<dualcred::secret> read_private_file(std::string_view flag,
                                                                          const std::string& path) {
  dualcred::file::read_limits limits;
  limits.refuse_shared_permissions = true;
  limits.follow_symlink = false;
  auto read = dualcred::file::read_secret_file(path, limits);
  if (!read)
    return boost::outcome_v2::failure(
        dualcred::error(read.error().code, fmt::format("{}: {}", flag, read.error().detail)));
  if (!read.value())
    return dualcred::fail(dualcred::errc::not_found,
                          fmt::format("{}: {} does not exist", flag, path));
  std::string_view bytes = read.value()->reveal();
  if (bytes.ends_with('\n')) bytes.remove_suffix(1);
  if (bytes.ends_with('\r')) bytes.remove_suffix(1);
  if (bytes.empty())
    return dualcred::fail(dualcred::errc::malformed, fmt::format("{}: {} is empty", flag, path));
  return dualcred::secret(bytes);
}

}  // namespace dualcred_rotate
