#pragma once

// The PostgreSQL admin's connection string as dualcred-rotate hands it to the library:
// --pg-sslmode and --pg-sslrootcert (or PGSSLMODE / PGSSLROOTCERT) become conninfo keywords,
// so the process environment is never written; an option the operator's own connection
// string names keeps its value.

#include <libpq-fe.h>

#include <cstring>
#include <string>
#include <string_view>

#include <dualcred/detail/secure_zero.hpp>
#include <dualcred/secret.hpp>

#include "config.hpp"

namespace dualcred_rotate {

namespace conninfo_detail {

// A conninfo value in single quotes, `\` and `'` escaped: libpq reads any byte back.
inline void append_quoted(std::string& out, std::string_view v) {
  out += '\'';
  for (const char c : v) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  out += '\'';
}

// Wipes a std::string's bytes when it goes, for the composed text that holds a password.
struct wiped {
  std::string s;
  wiped() = default;
  wiped(const wiped&) = delete;
  wiped& operator=(const wiped&) = delete;
  ~wiped() { dualcred::detail::secure_zero(s.data(), s.size()); }
};

}  // namespace conninfo_detail

/// `admin` (key=value or URI, possibly empty: libpq's environment) with `sslmode` and
/// `sslrootcert` added where it names none. `admin` is passed through unchanged when there is
/// nothing to add or libpq cannot parse it (the library refuses that without quoting it).
[[nodiscard]] inline dualcred::secret admin_conninfo(const dualcred::secret& admin,
                                                     pg_sslmode sslmode,
                                                     const std::string& sslrootcert) {
  const std::string_view mode = name_of(sslmode_names, sslmode);
  if (mode.empty() && sslrootcert.empty()) return admin;
  conninfo_detail::wiped text, out;
  text.s.assign(admin.reveal());
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(text.s.c_str(), &err);
  if (opts == nullptr) {
    if (err != nullptr) {
      dualcred::detail::secure_zero(err, std::strlen(err));  // it quotes the text
      PQfreemem(err);
    }
    return admin;
  }
  bool has_mode = false, has_root = false;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string_view key = o->keyword;
    has_mode |= key == "sslmode";
    has_root |= key == "sslrootcert";
    out.s += out.s.empty() ? "" : " ";
    out.s += key;
    out.s += '=';
    conninfo_detail::append_quoted(out.s, o->val);
    dualcred::detail::secure_zero(o->val, std::strlen(o->val));
  }
  PQconninfoFree(opts);
  if (!mode.empty() && !has_mode)
    out.s += std::string(out.s.empty() ? "" : " ") + "sslmode=" + std::string(mode);
  if (!sslrootcert.empty() && !has_root) {
    out.s += out.s.empty() ? "sslrootcert=" : " sslrootcert=";
    conninfo_detail::append_quoted(out.s, sslrootcert);
  }
  return dualcred::secret(std::string_view(out.s));
}

}  // namespace dualcred_rotate
