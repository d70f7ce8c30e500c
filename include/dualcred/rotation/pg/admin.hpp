#pragma once

// The PostgreSQL password admins, over libpq: link with libpq (the `dualcred-libpq`
// dependency).

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "../../backend/libpq.hpp"
#include "../../error.hpp"
#include "../../secret.hpp"
#include "../failure.hpp"
#include "detail/admin_session.hpp"
#include "pgbouncer_auth_file.hpp"
#include "pgbouncer_console.hpp"
#include "sessions.hpp"
#include "standby.hpp"

namespace dualcred::rotation::pg {

/// How the admins reach PostgreSQL.
struct admin_config {
  /// The admin's libpq connection string, e.g. `host=/run/postgresql user=rotator`; empty
  /// uses libpq's environment (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, ...). It may
  /// hold a password, so it is a secret. The role needs CREATEROLE (or to be superuser).
  secret admin_conninfo;
  /// Where clients log in: `verify` connects here with the `dualcred::pg::connector`.
  dualcred::pg::params clients;
  /// Bounds the admin's login.
  std::chrono::milliseconds admin_timeout{10'000};
  /// Hot standbys of the primary (host, port; dbname and TLS as for `clients`). The admin
  /// reaches each with `admin_conninfo` at that host and port. After every change on the
  /// primary the step waits until each has replayed it; `verify` logs in on each.
  std::vector<dualcred::pg::params> standbys{};
  /// Bounds each wait for the standbys' replay (`condition::replay_timeout`).
  std::chrono::milliseconds replay_timeout{60'000};
  /// PgBouncers clients connect through: RELOADed after an auth_file change; `verify` logs
  /// in through each.
  std::vector<pgbouncer_endpoint> pgbouncers{};
  /// PgBouncer auth_files that hold the users' SCRAM verifiers (empty with auth_query). Only
  /// with alternating roles: see `single_role_admin`.
  std::vector<std::string> pgbouncer_auth_files{};
};

namespace detail {
inline std::string pg_where(const dualcred::pg::params& p, std::string_view strategy) {
  return fmt::format("PostgreSQL {}:{} ({})", p.host.empty() ? "(default host)" : p.host, p.port,
                     strategy);
}

// A login and one query: through PgBouncer the login alone may ride a pooled server connection.
inline result<void> pg_login_and_query(const dualcred::pg::params& p, const credential& cred,
                                       std::string_view where) {
  DUALCRED_TRY(conn, dualcred::pg::connector(p)(cred));
  std::unique_ptr<PGresult, void (*)(PGresult*)> res(PQexec(conn.get(), "SELECT 1"), PQclear);
  if (!res || PQresultStatus(res.get()) != PGRES_TUPLES_OK)
    return fail(errc::backend_unavailable,
                fmt::format("{}: logged in as '{}' but SELECT 1 failed: {}", where, cred.user,
                            dualcred::pg::one_line_message(PQerrorMessage(conn.get()))));
  return boost::outcome_v2::success();
}

// A client login that failed without a refusal: the server is down only if the admin cannot
// reach it either (`host`/`port` as for a standby, empty for the primary). Otherwise the
// server is up and turns this client's connection away (TLS required but not offered, say),
// so it is the credential's login that fails: `condition::login_refused`, not an unreachable
// backend.
inline error client_login_failure(const admin_config& c, error e, const std::string& host = {},
                                  int port = 0) {
  if (!e.is(errc::backend_unavailable)) return e;
  const admin_session probe(c.admin_conninfo, c.admin_timeout, "verify", host, port);
  if (!probe.ready()) return e;
  return error(condition::login_refused, std::move(e.detail));
}

// The primary, then every standby and every PgBouncer.
inline result<void> pg_verify(const admin_config& c, const credential& cred) {
  dualcred::pg::connector connect(c.clients);
  if (auto ok = connect(cred); !ok)
    return boost::outcome_v2::failure(client_login_failure(c, std::move(ok).error()));
  for (const auto& s : c.standbys) {
    auto ok = pg_login_and_query(s, cred, fmt::format("standby {}", where(s)));
    if (!ok)
      return boost::outcome_v2::failure(
          client_login_failure(c, std::move(ok).error(), s.host, s.port));
  }
  for (const auto& b : c.pgbouncers) {
    DUALCRED_TRY(pg_login_and_query(b.clients, cred, pgbouncer_where(b.clients)));
  }
  return boost::outcome_v2::success();
}

// What can be checked before anything changes: every standby is a hot standby, every
// auth_file is PgBouncer's format and this process may replace it.
inline result<void> pg_precheck(const admin_config& c, const std::string& where,
                                const std::string& role) {
  const standby_check sc{c.admin_conninfo, c.admin_timeout, where};
  for (const auto& s : c.standbys) {
    DUALCRED_TRY(check_is_standby(sc, s));
  }
  for (const auto& f : c.pgbouncer_auth_files) {
    DUALCRED_TRY(update_auth_file(f, {role, nullptr, /*dry_run=*/true}));
  }
  return boost::outcome_v2::success();
}

// pg_precheck, and every PgBouncer takes RELOAD (a no-op while its files are unchanged).
inline result<void> pg_check_topology(const admin_config& c, const std::string& where) {
  DUALCRED_TRY(pg_precheck(c, where, "-"));
  if (!c.pgbouncer_auth_files.empty()) {
    for (const auto& b : c.pgbouncers) {
      DUALCRED_TRY(pgbouncer_command(b, "RELOAD"));
    }
  }
  return boost::outcome_v2::success();
}

// One password change on every copy of it, in the order that keeps logins through PgBouncer
// working. PgBouncer checks a client against its auth_file, then logs in to the server with
// keys derived from that verifier; a server login that fails poisons the pool for
// server_login_retry. So a verifier reaches PgBouncer only once the server (and every standby)
// holds it, and leaves PgBouncer before the server drops it: PgBouncer then never accepts a
// client it cannot log in for. Standbys and auth_files are checked before anything changes.
// `password` null: the role's password is removed (and its auth_file line).
inline result<void> pg_change(const admin_config& c, const std::string& where,
                              const std::string& role, const secret* password) {
  const standby_check sc{c.admin_conninfo, c.admin_timeout, where};
  DUALCRED_TRY(pg_precheck(c, where, role));
  auto on_pgbouncers = [&](const secret* verifier) -> result<void> {
    for (const auto& f : c.pgbouncer_auth_files) {
      DUALCRED_TRY(update_auth_file(f, {role, verifier, false}));
    }
    if (!c.pgbouncer_auth_files.empty())
      for (const auto& b : c.pgbouncers) {
        DUALCRED_TRY(pgbouncer_command(b, "RELOAD"));
      }
    return boost::outcome_v2::success();
  };
  if (password == nullptr) {
    DUALCRED_TRY(on_pgbouncers(nullptr));
  }
  secret verifier;
  {
    detail::admin_session s(c.admin_conninfo, c.admin_timeout, where);
    DUALCRED_TRY(s.ready());
    if (password != nullptr) {
      DUALCRED_TRY(s.check_login_role(role));
    }
    DUALCRED_TRY(s.set_password(role, password, &verifier));
    if (!c.standbys.empty()) {
      DUALCRED_TRY(lsn, change_position(s, where));
      DUALCRED_TRY(wait_for_replay(sc, c.standbys, lsn, c.replay_timeout));
    }
  }
  if (password != nullptr) {
    DUALCRED_TRY(on_pgbouncers(&verifier));
  }
  return boost::outcome_v2::success();
}
}  // namespace detail

/// One login role whose password is replaced: `accept` runs `ALTER ROLE role PASSWORD
/// '<verifier>'`, the SCRAM-SHA-256 verifier computed client-side (`PQencryptPasswordConn`),
/// so the plaintext never reaches the server or its logs. A role holds one password, so
/// from `apply` until `promote` clients log in with NEXT (dual_credential falls back to
/// it); `revoke` has nothing left to do. NEXT is the same role.
class single_role_admin {
 public:
  explicit single_role_admin(admin_config config) : c_(std::move(config)) {}

  [[nodiscard]] result<std::string> next_user(const std::string& current_user) const {
    return current_user;
  }

  /// Refused with PgBouncer auth_files (`errc::invalid_argument`): an auth_file holds one verifier
  /// per user and PgBouncer logs in to the server with keys derived from it, so a single role
  /// always has a moment when the server and PgBouncer hold different verifiers, and every
  /// login through PgBouncer in it fails. Alternating roles (or PgBouncer's auth_query) have
  /// no such moment.
  [[nodiscard]] result<void> accept(const credential& cred) const {
    if (!c_.pgbouncer_auth_files.empty()) return fail(errc::invalid_argument, auth_file_refusal());
    return detail::pg_change(c_, describe(), cred.user, &cred.password);
  }

  /// Why a single role cannot be rotated behind a PgBouncer auth_file.
  [[nodiscard]] static std::string auth_file_refusal() {
    return "the single-role strategy cannot be used with PgBouncer auth_files: an auth_file "
           "holds one verifier per user and PgBouncer logs in to the server with it, so while "
           "the server and the auth_file change one after the other, logins through PgBouncer "
           "fail; use the alternating-roles strategy, or PgBouncer's auth_query instead of an "
           "auth_file";
  }

  /// Before a rotation changes anything: every standby is a hot standby, every auth_file is
  /// PgBouncer's format and writable, every PgBouncer takes RELOAD.
  [[nodiscard]] result<void> check_topology() const {
    return detail::pg_check_topology(c_, describe());
  }

  /// Nothing: the role's one password was replaced when the next one was accepted.
  [[nodiscard]] result<void> revoke(const credential&) const {
    return boost::outcome_v2::success();
  }

  [[nodiscard]] result<void> verify(const credential& cred) const {
    return detail::pg_verify(c_, cred);
  }

  /// The role's sessions, on the primary and each standby, that began before its password
  /// changed (`drain_request::changed_at`): each may still be logged in with the old one.
  [[nodiscard]] result<session_survey> old_sessions(const drain_request& req) const {
    return detail::pg_old_sessions(c_, describe(), req, false);
  }
  /// `pg_terminate_backend` for each of `old_sessions` (the admin needs pg_signal_backend).
  [[nodiscard]] result<session_survey> end_old_sessions(const drain_request& req) const {
    return detail::pg_old_sessions(c_, describe(), req, true);
  }

  [[nodiscard]] std::string describe() const { return detail::pg_where(c_.clients, "single role"); }

 private:
  admin_config c_;
};

/// Two login roles (`role_a`, `role_b`) that are both members of one group role holding the
/// grants: NEXT always names the role CURRENT does not, so the old password keeps working
/// untouched until `decommission` (`ALTER ROLE old PASSWORD NULL`). Objects the roles create
/// should be owned by the group role (`SET ROLE group` or default privileges), or the roles
/// will not see each other's.
class alternating_roles_admin {
 public:
  alternating_roles_admin(admin_config config, std::string role_a, std::string role_b)
      : c_(std::move(config)), a_(std::move(role_a)), b_(std::move(role_b)) {}

  [[nodiscard]] result<std::string> next_user(const std::string& current_user) const {
    if (a_ == b_ || a_.empty())
      return fail(errc::invalid_argument,
                  fmt::format("{}: the two roles must be different and named", describe()));
    if (current_user == a_) return b_;
    if (current_user == b_) return a_;
    return fail(errc::invalid_argument,
                fmt::format("{}: the current user '{}' is neither '{}' nor '{}'", describe(),
                            current_user, a_, b_));
  }

  [[nodiscard]] result<void> accept(const credential& cred) const {
    DUALCRED_TRY(check_role(cred.user));
    return detail::pg_change(c_, describe(), cred.user, &cred.password);
  }

  /// `ALTER ROLE user PASSWORD NULL`: the role can no longer log in with a password.
  [[nodiscard]] result<void> revoke(const credential& cred) const {
    DUALCRED_TRY(check_role(cred.user));
    return detail::pg_change(c_, describe(), cred.user, nullptr);
  }

  /// Before a rotation changes anything: every standby is a hot standby, every auth_file is
  /// PgBouncer's format and writable, every PgBouncer takes RELOAD.
  [[nodiscard]] result<void> check_topology() const {
    return detail::pg_check_topology(c_, describe());
  }

  [[nodiscard]] result<void> verify(const credential& cred) const {
    return detail::pg_verify(c_, cred);
  }

  /// Every session of the old role on the primary and each standby: its password is gone,
  /// but a session keeps the login it made.
  [[nodiscard]] result<session_survey> old_sessions(const drain_request& req) const {
    DUALCRED_TRY(check_role(req.old.user));
    return detail::pg_old_sessions(c_, describe(), req, false);
  }
  /// `pg_terminate_backend` for each of `old_sessions` (the admin needs pg_signal_backend).
  [[nodiscard]] result<session_survey> end_old_sessions(const drain_request& req) const {
    DUALCRED_TRY(check_role(req.old.user));
    return detail::pg_old_sessions(c_, describe(), req, true);
  }

  [[nodiscard]] std::string describe() const {
    return detail::pg_where(c_.clients, fmt::format("alternating roles {}/{}", a_, b_));
  }

 private:
  result<void> check_role(const std::string& user) const {
    if (user == a_ || user == b_) return boost::outcome_v2::success();
    return fail(errc::invalid_argument,
                fmt::format("{}: '{}' is not one of the two roles", describe(), user));
  }

  admin_config c_;
  std::string a_;
  std::string b_;
};

}  // namespace dualcred::rotation::pg
