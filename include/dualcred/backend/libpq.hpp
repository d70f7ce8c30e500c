#pragma once

// The PostgreSQL connector, over libpq. Link with libpq (the `dualcred-libpq` dependency).

#include <cerrno>
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>

#include "../detail/redact.hpp"
#include "../detail/secure_zero.hpp"
#include "../error.hpp"
#include "../secret.hpp"

namespace dualcred::pg {

/// Classifies a SQLSTATE as an `errc`, ahead of the built-in rules. `code` is a full
/// five-character SQLSTATE (`"08P01"`) or a two-character class (`"08"`).
///
/// **Example**: PgBouncer answers a login while its own login to the server keeps failing
/// with 08P01 ("server login has been failing"); `{"08P01", errc::auth_rejected}` lets
/// dual_credential fall back on it.
struct sqlstate_rule {
  std::string code;
  errc as;
};

/// Where and how to connect. The user and password come from each `credential`.
struct params {
  std::string host;  ///< empty: libpq's default (PGHOST, else the Unix socket)
  int port = 5432;
  std::string dbname;  ///< empty: the user's name; never parsed as a connection string
  /// The whole connect, DNS to login, ends with `errc::timeout` after this. Zero: no limit.
  std::chrono::milliseconds connect_timeout{10'000};
  std::string sslmode;  ///< empty: PGSSLMODE, else libpq's default (`prefer`)
  /// CA certificates for `verify-ca`/`verify-full`; empty: PGSSLROOTCERT, else libpq's default
  /// (`~/.postgresql/root.crt`).
  std::string sslrootcert;
  std::string application_name;  ///< empty: none
  /// Any other libpq keyword (`{"target_session_attrs", "read-write"}`). `user`,
  /// `password` and `dbname` are refused here: they have their own fields.
  std::vector<std::pair<std::string, std::string>> extra;
  /// Checked before the built-in classification; the first match wins.
  std::vector<sqlstate_rule> sqlstate_rules;
};

/// A libpq message on one line: lines joined by "; ", the VERBOSE `LOCATION:` lines dropped.
[[nodiscard]] inline std::string one_line_message(std::string_view raw) {
  std::string out;
  std::size_t pos = 0;
  while (pos < raw.size()) {
    std::size_t end = raw.find('\n', pos);
    if (end == std::string_view::npos) end = raw.size();
    std::string_view line = raw.substr(pos, end - pos);
    pos = end + 1;
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.starts_with("LOCATION:")) continue;
    if (!out.empty()) out += "; ";
    out += line;
  }
  return out;
}

/// The first SQLSTATE in a libpq message written with `PQERRORS_SQLSTATE` or
/// `PQERRORS_VERBOSE` (`... failed: FATAL:  28P01: password ...`); empty when none.
/// The severity word is localised, so this looks for its fixed layout instead.
[[nodiscard]] inline std::string_view find_sqlstate(std::string_view message) noexcept {
  auto is_code_char = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); };
  for (std::size_t at = message.find(":  "); at != std::string_view::npos;
       at = message.find(":  ", at + 1)) {
    const std::size_t start = at + 3;
    if (start + 5 > message.size()) break;
    const std::string_view code = message.substr(start, 5);
    bool ok = true;
    for (const char c : code) ok = ok && is_code_char(c);
    const bool ends =
        start + 5 == message.size() || message[start + 5] == ':' || message[start + 5] == '\n';
    if (ok && ends) return code;
  }
  return {};
}

/// What a SQLSTATE from a failed login means. Class 28 (28000, 28P01) is a refused
/// credential; 3D000 (no such database) a configuration error; the rest, including
/// "too many connections" and "starting up", the server being unavailable.
[[nodiscard]] inline errc classify_sqlstate(std::string_view code,
                                            std::span<const sqlstate_rule> rules = {}) noexcept {
  for (const auto& r : rules)
    if (r.code == code) return r.as;
  for (const auto& r : rules)
    if (r.code.size() == 2 && code.substr(0, 2) == r.code) return r.as;
  if (code.substr(0, 2) == "28") return errc::auth_rejected;
  if (code == "3D000") return errc::invalid_argument;
  if (code == "57014") return errc::timeout;
  return errc::backend_unavailable;
}

/// Rules for clients that log in through PgBouncer: `params::sqlstate_rules`.
///
/// PgBouncer up to 1.19 (Debian 12 ships 1.18) answers every login it refuses with SQLSTATE
/// 08P01 (protocol_violation), not 28P01: a wrong password or unknown user ("SASL
/// authentication failed") and a failed server login on the client's behalf ("password
/// authentication failed for user ..."). Through PgBouncer, 08P01 at login is a refused
/// credential, so dual_credential falls back to the other one. Not a built-in: from a
/// PostgreSQL server itself 08P01 is a real protocol error, and falling back would hide it.
[[nodiscard]] inline std::vector<sqlstate_rule> pgbouncer_sqlstate_rules() {
  return {{"08P01", errc::auth_rejected}};
}

/// Owns a `PGconn*`; closes it on destruction. Move-only.
class connection {
 public:
  connection() noexcept = default;
  explicit connection(PGconn* c) noexcept : conn_(c) {}
  connection(connection&& o) noexcept : conn_(std::exchange(o.conn_, nullptr)) {}
  connection& operator=(connection&& o) noexcept {
    if (this != &o) {
      reset();
      conn_ = std::exchange(o.conn_, nullptr);
    }
    return *this;
  }
  ~connection() { reset(); }

  [[nodiscard]] PGconn* get() const noexcept { return conn_; }
  /// Gives up ownership; the caller must `PQfinish` it.
  [[nodiscard]] PGconn* release() noexcept { return std::exchange(conn_, nullptr); }
  explicit operator bool() const noexcept { return conn_ != nullptr; }
  void reset() noexcept {
    if (conn_ != nullptr) PQfinish(std::exchange(conn_, nullptr));
  }

 private:
  PGconn* conn_ = nullptr;
};

/// Logs in to PostgreSQL with one credential: a `dualcred::connector`.
///
/// Uses `PQconnectStartParams` and polls with a deadline, so a server that accepts the TCP
/// connection and then says nothing costs at most `connect_timeout`. Failures are classified
/// by SQLSTATE, never by message text. Details keep the server's message; never the password.
/// Stateless after construction: safe to call from many threads.
class connector {
 public:
  explicit connector(params p) : p_(std::move(p)) {}

  [[nodiscard]] result<connection> operator()(const credential& cred) const {
    const auto start = std::chrono::steady_clock::now();
    auto started = start_login(cred);
    if (!started) return std::move(started).as_failure();
    connection conn = std::move(started).value();
    PostgresPollingStatusType state = PGRES_POLLING_WRITING;
    for (;;) {
      if (state == PGRES_POLLING_OK) return conn;
      if (state == PGRES_POLLING_FAILED) return boost::outcome_v2::failure(failure(conn, cred));
      int wait_ms = -1;
      if (p_.connect_timeout.count() > 0) {
        const auto left =
            p_.connect_timeout - std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - start);
        if (left.count() <= 0) return boost::outcome_v2::failure(timed_out(cred));
        wait_ms = static_cast<int>(left.count());
      }
      pollfd pfd{PQsocket(conn.get()),
                 state == PGRES_POLLING_READING ? short(POLLIN) : short(POLLOUT), 0};
      if (pfd.fd < 0) return boost::outcome_v2::failure(failure(conn, cred));
      const int n = ::poll(&pfd, 1, wait_ms);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail(errc::backend_unavailable, describe(cred, "poll() failed"));
      if (n == 0) continue;  // the deadline check above ends it
      state = PQconnectPoll(conn.get());
    }
  }

  // The steps of a login, shared with the async connector (backend/libpq_asio.hpp), which
  // only waits for the socket differently.

  /// Starts a non-blocking login with `PQconnectStartParams`: the caller then polls with
  /// `PQconnectPoll`, starting as if it returned `PGRES_POLLING_WRITING`.
  [[nodiscard]] result<connection> start_login(const credential& cred) const {
    for (const auto& [key, value] : p_.extra) {
      if (key == "user" || key == "password" || key == "dbname" || key == "passfile")
        return fail(errc::invalid_argument,
                    fmt::format("libpq keyword '{}' belongs in the credential or params, not "
                                "in params::extra",
                                key));
    }
    const std::string port = std::to_string(p_.port);
    std::vector<const char*> keys;
    std::vector<const char*> values;
    auto add = [&](const char* k, const std::string& v) {
      if (v.empty()) return;
      keys.push_back(k);
      values.push_back(v.c_str());
    };
    add("host", p_.host);
    add("port", port);
    add("dbname", p_.dbname);
    add("user", cred.user);
    add("sslmode", p_.sslmode);
    add("sslrootcert", p_.sslrootcert);
    add("application_name", p_.application_name);
    for (const auto& [key, value] : p_.extra) add(key.c_str(), value);
    // libpq wants a NUL-terminated password; this copy is scrubbed once libpq has its own.
    std::string password(cred.password.reveal());
    keys.push_back("password");
    values.push_back(password.c_str());
    keys.push_back(nullptr);
    values.push_back(nullptr);

    connection conn(PQconnectStartParams(keys.data(), values.data(), /*expand_dbname=*/0));
    dualcred::detail::secure_zero(password.data(), password.size());
    if (!conn) return fail(errc::backend_unavailable, describe(cred, "libpq is out of memory"));
    // Before any polling, so the server's FATAL message carries its SQLSTATE.
    PQsetErrorVerbosity(conn.get(), PQERRORS_VERBOSE);
    if (PQstatus(conn.get()) == CONNECTION_BAD)
      return boost::outcome_v2::failure(failure(conn, cred));
    return conn;
  }

  /// A failed login: libpq's message, one line, without the VERBOSE LOCATION lines,
  /// classified by its SQLSTATE.
  [[nodiscard]] error failure(const connection& conn, const credential& cred) const {
    const std::string_view raw = PQerrorMessage(conn.get());
    std::string message = one_line_message(raw);
    const std::string_view code = find_sqlstate(raw);
    const errc kind =
        code.empty() ? errc::backend_unavailable : classify_sqlstate(code, p_.sqlstate_rules);
    return error(kind, describe(cred, message.empty() ? "no message from libpq" : message));
  }

  /// A login that outlasted `params::connect_timeout`.
  [[nodiscard]] error timed_out(const credential& cred) const {
    return error(errc::timeout,
                 describe(cred, fmt::format("no answer within {} ms", p_.connect_timeout.count())));
  }

  /// The error detail for a login as `cred.user`: names the server, never the password.
  [[nodiscard]] std::string describe(const credential& cred, std::string_view why) const {
    const std::string text = fmt::format("PostgreSQL login as '{}' to {}:{}{}{} failed: {}",
                                         cred.user, p_.host.empty() ? "(default host)" : p_.host,
                                         p_.port, p_.dbname.empty() ? "" : "/", p_.dbname, why);
    return dualcred::detail::redact(text, cred.password.reveal());
  }

  [[nodiscard]] const params& config() const noexcept { return p_; }

 private:
  params p_;
};

}  // namespace dualcred::pg
