#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>

#include "../../../backend/libpq.hpp"
#include "../../../detail/redact.hpp"
#include "../../../detail/scrubbed_string.hpp"
#include "../../../detail/secure_zero.hpp"
#include "../../../error.hpp"
#include "../../../secret.hpp"

namespace dualcred::rotation::pg::detail {

// A libpq-allocated string (PQescape*, PQencryptPasswordConn), scrubbed and freed on exit.
struct pq_string {
  char* p = nullptr;
  explicit pq_string(char* s) noexcept : p(s) {}
  pq_string(const pq_string&) = delete;
  pq_string& operator=(const pq_string&) = delete;
  ~pq_string() {
    if (p != nullptr) {
      dualcred::detail::secure_zero(p, std::strlen(p));
      PQfreemem(p);
    }
  }
};

using dualcred::detail::scrubbed_string;

// SQLSTATE of a failed admin statement or login, as an errc.
inline errc classify_admin_sqlstate(std::string_view code) noexcept {
  if (code == "42501") return errc::permission_denied;  // insufficient_privilege
  if (code == "42704") return errc::not_found;          // undefined_object: no such role
  if (code.substr(0, 2) == "28") return errc::auth_rejected;
  if (code == "3D000") return errc::invalid_argument;
  if (code == "57014") return errc::timeout;  // query_canceled: statement_timeout
  if (code == "55P03") return errc::timeout;  // lock_not_available: lock_timeout
  return errc::backend_unavailable;
}

using pg_result = std::unique_ptr<PGresult, void (*)(PGresult*)>;

// One admin connection, over a conninfo that may hold a password (kept as a secret and
// redacted from every detail). Empty conninfo: libpq's environment (PGHOST, PGUSER, ...).
// Nothing it does waits without a bound: the login and each statement end by their bound
// (`timeout`, and the session's `deadline` when it has one). Right after login the server is
// told about that bound as `statement_timeout` and `lock_timeout`, so it cancels a statement
// that runs on or waits behind another session's lock (an uncommitted ALTER ROLE, say); and
// the client polls for the answer only until the bound, then closes the connection, for a
// server that does not answer at all (stopped, or behind a path that drops packets). libpq's
// `connect_timeout` is not needed: the login is non-blocking, and polled to the same bound.
class admin_session {
 public:
  using clock = std::chrono::steady_clock;

  // `host`/`port`, when set, override the conninfo's (the same admin on a standby).
  // `deadline`, when set, bounds the whole session (a step's own bound, such as the wait for
  // the standbys' replay) on top of `timeout` per login and statement.
  admin_session(const secret& conninfo, std::chrono::milliseconds timeout, std::string where,
                const std::string& host = {}, int port = 0,
                std::optional<clock::time_point> deadline = std::nullopt)
      : where_(std::move(where)), timeout_(timeout), deadline_(deadline) {
    // libpq's parse errors quote the conninfo, password and all, and without a parse there
    // is no password to redact: a conninfo libpq cannot parse is refused before any connect,
    // with a message that names none of it.
    if (!conninfo_password(conninfo)) return;
    scrubbed_string info;
    info.s.assign(conninfo.reveal());
    const auto start = clock::now();
    // The conninfo expanded as `dbname`, then the overrides: libpq keeps the last value given.
    const std::string port_text = port > 0 ? std::to_string(port) : std::string();
    const char* keys[] = {"dbname", "host", "port", nullptr};
    const char* values[] = {info.s.c_str(), host.empty() ? nullptr : host.c_str(),
                            port_text.empty() ? nullptr : port_text.c_str(), nullptr};
    conn_ = dualcred::pg::connection(PQconnectStartParams(keys, values, /*expand_dbname=*/1));
    if (!conn_) {
      error_ = error(errc::backend_unavailable, fmt::format("{}: libpq is out of memory", where_));
      return;
    }
    PQsetErrorVerbosity(conn_.get(), PQERRORS_VERBOSE);
    if (PQstatus(conn_.get()) == CONNECTION_BAD) {
      login_failed();
      return;
    }
    if (!finish_login(start)) return;
    if (PQsetnonblocking(conn_.get(), 1) != 0) {
      login_failed();
      return;
    }
    limit_statements();
  }
  admin_session(const admin_session&) = delete;
  admin_session& operator=(const admin_session&) = delete;
  ~admin_session() { dualcred::detail::secure_zero(password_.data(), password_.size()); }

  // The login's outcome, or the error that closed the connection since (a statement past
  // its bound).
  [[nodiscard]] result<void> ready() const {
    if (error_) return boost::outcome_v2::failure(*error_);
    return boost::outcome_v2::success();
  }
  [[nodiscard]] PGconn* get() const noexcept { return conn_.get(); }

  // Runs one statement with text `params` and waits for its answer until its bound: the
  // result when its status is `want`, else an error naming `what`, with the conninfo's
  // password and `hide` redacted. Past the bound: `errc::timeout`, and the connection is
  // closed (the server's own statement_timeout ends the statement there).
  result<pg_result> exec(const char* sql, std::initializer_list<const char*> params,
                         ExecStatusType want, std::string_view what, std::string_view hide = {}) {
    DUALCRED_TRY(ready());
    const auto start = clock::now();
    const int sent =
        PQsendQueryParams(conn_.get(), sql, static_cast<int>(params.size()), nullptr,
                          params.size() == 0 ? nullptr : params.begin(), nullptr, nullptr, 0);
    if (sent == 0) return boost::outcome_v2::failure(statement_failure(what, hide));
    for (;;) {  // non-blocking: the statement may not have left in one write
      const int left = PQflush(conn_.get());
      if (left == 0) break;
      if (left < 0) return boost::outcome_v2::failure(statement_failure(what, hide));
      DUALCRED_TRY(revents, wait_socket(POLLIN | POLLOUT, start, what));
      if ((revents & POLLIN) != 0 && PQconsumeInput(conn_.get()) == 0)
        return boost::outcome_v2::failure(statement_failure(what, hide));
    }
    pg_result last(nullptr, PQclear);
    for (;;) {
      while (PQisBusy(conn_.get()) != 0) {
        DUALCRED_TRY(wait_socket(POLLIN, start, what));
        if (PQconsumeInput(conn_.get()) == 0)
          return boost::outcome_v2::failure(statement_failure(what, hide));
      }
      pg_result next(PQgetResult(conn_.get()), PQclear);
      if (!next) break;
      // An error is what the caller needs to see, whatever follows it.
      if (!last || PQresultStatus(last.get()) != PGRES_FATAL_ERROR) last = std::move(next);
    }
    DUALCRED_TRY(check(last.get(), want, what, hide));
    return last;
  }

  // Whether `role` exists and may log in.
  result<void> check_login_role(const std::string& role) {
    DUALCRED_TRY(res, exec("SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = $1",
                           {role.c_str()}, PGRES_TUPLES_OK, "looking up the role"));
    if (PQntuples(res.get()) == 0)
      return fail(errc::not_found, fmt::format("{}: there is no role '{}'", where_, role));
    if (std::string_view(PQgetvalue(res.get(), 0, 0)) != "t")
      return fail(errc::invalid_argument,
                  fmt::format("{}: role '{}' cannot log in (NOLOGIN)", where_, role));
    return boost::outcome_v2::success();
  }

  // `ALTER ROLE role PASSWORD <SCRAM verifier>`, the verifier computed here so the server
  // (and its statement log) never sees the password; `PASSWORD NULL` when `password` is null.
  // `verifier_out`, when given, receives the verifier the server got (for PgBouncer's
  // auth_file, whose SCRAM pass-through needs the very same salt and keys).
  result<void> set_password(const std::string& role, const secret* password,
                            secret* verifier_out = nullptr) {
    DUALCRED_TRY(durable_commits());
    pq_string ident(PQescapeIdentifier(conn_.get(), role.data(), role.size()));
    if (ident.p == nullptr) return statement_error("quoting the role name", {});
    scrubbed_string sql;
    if (password == nullptr) {
      sql.s = fmt::format("ALTER ROLE {} PASSWORD NULL", ident.p);
      DUALCRED_TRY(exec(sql.s.c_str(), {}, PGRES_COMMAND_OK,
                        fmt::format("removing the password of '{}'", role)));
      return boost::outcome_v2::success();
    }
    // libpq takes C strings: a NUL would silently cut the password the role gets.
    if (password->reveal().find('\0') != std::string_view::npos)
      return fail(errc::invalid_argument,
                  fmt::format("{}: the password for '{}' holds a NUL byte", where_, role));
    scrubbed_string plain;
    plain.s.assign(password->reveal());  // NUL-terminated for libpq; scrubbed on exit
    pq_string verifier(
        PQencryptPasswordConn(conn_.get(), plain.s.c_str(), role.c_str(), "scram-sha-256"));
    if (verifier.p == nullptr) return statement_error("computing the SCRAM verifier", {});
    pq_string literal(PQescapeLiteral(conn_.get(), verifier.p, std::strlen(verifier.p)));
    if (literal.p == nullptr) return statement_error("quoting the verifier", verifier.p);
    const std::string_view head = "ALTER ROLE ";
    const std::string_view mid = " PASSWORD ";
    sql.s.reserve(head.size() + std::strlen(ident.p) + mid.size() + std::strlen(literal.p));
    sql.s.append(head).append(ident.p).append(mid).append(literal.p);
    DUALCRED_TRY(exec(sql.s.c_str(), {}, PGRES_COMMAND_OK,
                      fmt::format("setting the password of '{}'", role), verifier.p));
    if (verifier_out != nullptr) *verifier_out = secret(std::string_view(verifier.p));
    return boost::outcome_v2::success();
  }

  // One row of text values (NULL as ""), from a statement without parameters.
  result<std::vector<std::string>> row(const char* sql, std::string_view what) {
    DUALCRED_TRY(res, exec(sql, {}, PGRES_TUPLES_OK, what));
    std::vector<std::string> out;
    if (PQntuples(res.get()) < 1)
      return fail(errc::backend_unavailable, fmt::format("{}: {} returned no row", where_, what));
    for (int c = 0; c < PQnfields(res.get()); ++c) out.emplace_back(PQgetvalue(res.get(), 0, c));
    return out;
  }

 private:
  // Keeps the conninfo's password, to redact it from libpq's messages. False, with `error_`
  // set, when libpq cannot parse the conninfo.
  bool conninfo_password(const secret& conninfo) {
    scrubbed_string info;
    info.s.assign(conninfo.reveal());
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(info.s.c_str(), &err);
    const pq_string message(err);  // it quotes the conninfo: scrubbed and freed unread
    if (opts == nullptr) {
      error_ =
          message.p != nullptr
              ? error(errc::invalid_argument,
                      fmt::format("{}: the admin conninfo cannot be parsed (its text is not "
                                  "shown: it may hold a password)",
                                  where_))
              : error(errc::backend_unavailable, fmt::format("{}: libpq is out of memory", where_));
      return false;
    }
    for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o)
      if (std::string_view(o->keyword) == "password" && o->val != nullptr) password_ = o->val;
    for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o)
      if (o->val != nullptr) dualcred::detail::secure_zero(o->val, std::strlen(o->val));
    PQconninfoFree(opts);
    return true;
  }

  // A password change must be on disk before the rotator records it in the store: where the
  // server commits asynchronously (synchronous_commit = off), a crash right after could undo
  // it, and the store would then publish a password the role no longer has. `local` waits
  // for the local flush only: a stronger setting is left alone, and `off`'s choice not to
  // wait on standbys is kept.
  result<void> durable_commits() {
    if (durable_) return boost::outcome_v2::success();
    DUALCRED_TRY(
        exec("SELECT pg_catalog.set_config('synchronous_commit', 'local', false) "
             "WHERE pg_catalog.current_setting('synchronous_commit') = 'off'",
             {}, PGRES_TUPLES_OK, "making commits durable"));
    durable_ = true;
    return boost::outcome_v2::success();
  }

  // The end of a login or statement that starts at `start`.
  [[nodiscard]] clock::time_point bound_from(clock::time_point start) const {
    const auto until = start + timeout_;
    return deadline_ && *deadline_ < until ? *deadline_ : until;
  }

  // Completes the login begun at `start` by its bound; false with `error_` set.
  bool finish_login(clock::time_point start) {
    PostgresPollingStatusType state = PGRES_POLLING_WRITING;
    for (;;) {
      if (state == PGRES_POLLING_OK) return true;
      if (state == PGRES_POLLING_FAILED || PQsocket(conn_.get()) < 0) {
        login_failed();
        return false;
      }
      auto ready =
          wait_socket(state == PGRES_POLLING_READING ? POLLIN : POLLOUT, start, "admin login");
      if (!ready) {
        if (!error_) error_ = std::move(ready).error();
        return false;
      }
      state = PQconnectPoll(conn_.get());
    }
  }

  // Tells the server the session's bound as statement_timeout and lock_timeout: it cancels a
  // statement that runs longer or waits that long for a lock, so a statement the client
  // stopped waiting for does not run on. A little under the client's own bound (a tenth, at
  // most 200 ms), so the server, which ends the statement and keeps the session, normally
  // answers first; in ms, the settings' unit, and at least 1, as 0 turns them off.
  void limit_statements() {
    using std::chrono::milliseconds;
    const auto now = clock::now();
    const auto bound = std::chrono::ceil<milliseconds>(bound_from(now) - now);
    const auto server = bound - std::min(bound / 10, milliseconds(200));
    const std::string value = std::to_string(std::max<std::int64_t>(1, server.count()));
    auto set = exec(
        "SELECT pg_catalog.set_config('statement_timeout', $1, false), "
        "pg_catalog.set_config('lock_timeout', $1, false)",
        {value.c_str()}, PGRES_TUPLES_OK, "setting the statement and lock timeouts");
    if (!set && !error_) error_ = std::move(set).error();
  }

  // Waits until the socket is ready for `events` or the bound of what began at `start`
  // passes: then the connection is closed, `error_` set, and `errc::timeout` returned.
  result<short> wait_socket(short events, clock::time_point start, std::string_view what) {
    const auto until = bound_from(start);
    for (;;) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - clock::now());
      if (left.count() <= 0) {
        error_ =
            error(errc::timeout,
                  fmt::format("{}: {} got no answer within {} ms", where_, what,
                              std::chrono::ceil<std::chrono::milliseconds>(until - start).count()));
        conn_ = dualcred::pg::connection();
        return boost::outcome_v2::failure(*error_);
      }
      pollfd pfd{PQsocket(conn_.get()), events, 0};
      const int n = ::poll(&pfd, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 60'000)));
      if (n < 0 && errno != EINTR)
        return fail(errc::backend_unavailable, fmt::format("{}: poll() failed", where_));
      if (n > 0) return pfd.revents;
    }
  }

  std::string redacted(std::string text, std::string_view also) const {
    text = dualcred::detail::redact(std::move(text), password_);
    return dualcred::detail::redact(std::move(text), also);
  }

  void login_failed() {
    const std::string_view raw = PQerrorMessage(conn_.get());
    const std::string_view code = dualcred::pg::find_sqlstate(raw);
    const errc kind = code.empty() ? errc::backend_unavailable : classify_admin_sqlstate(code);
    error_ = error(kind, redacted(fmt::format("{}: admin login failed: {}", where_,
                                              dualcred::pg::one_line_message(raw)),
                                  {}));
  }

  error statement_failure(std::string_view what, std::string_view hide) const {
    return error(errc::backend_unavailable,
                 redacted(fmt::format("{}: {} failed: {}", where_, what,
                                      dualcred::pg::one_line_message(PQerrorMessage(conn_.get()))),
                          hide));
  }
  result<void> statement_error(std::string_view what, std::string_view hide) const {
    return boost::outcome_v2::failure(statement_failure(what, hide));
  }

  result<void> check(PGresult* res, ExecStatusType want, std::string_view what,
                     std::string_view hide) const {
    if (res != nullptr && PQresultStatus(res) == want) return boost::outcome_v2::success();
    if (res == nullptr) return statement_error(what, hide);
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const std::string_view code = state != nullptr ? state : "";
    const std::string suffix = code.empty() ? "" : fmt::format(" (SQLSTATE {})", code);
    return fail(classify_admin_sqlstate(code),
                redacted(fmt::format("{}: {} failed: {}{}", where_, what,
                                     primary != nullptr ? primary : "no message", suffix),
                         hide));
  }

  std::string where_;
  std::chrono::milliseconds timeout_;
  std::optional<clock::time_point> deadline_;
  std::string password_;  // the conninfo's own, only to redact it
  dualcred::pg::connection conn_;
  std::optional<error> error_;
  bool durable_ = false;  // durable_commits() ran
};

}  // namespace dualcred::rotation::pg::detail
