#pragma once

// The PostgreSQL password admins, over libpq: link with libpq (the `dualcred-libpq`
// dependency).

#include <chrono>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "../backend/libpq.hpp"
#include "../error.hpp"
#include "../secret.hpp"
#include "detail/pg_admin_session.hpp"

namespace dualcred::rotation {

/// How the admins reach PostgreSQL.
struct pg_admin_config {
  /// The admin's libpq connection string, e.g. `host=/run/postgresql user=rotator`; empty
  /// uses libpq's environment (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, ...). It may
  /// hold a password, so it is a secret. The role needs CREATEROLE (or to be superuser).
  secret admin_conninfo;
  /// Where clients log in: `verify` connects here with the `pg::connector`.
  pg::params clients;
  /// Bounds the admin's login.
  std::chrono::milliseconds admin_timeout{10'000};
};

namespace detail {
inline std::string pg_where(const pg::params& p, std::string_view strategy) {
  return fmt::format("PostgreSQL {}:{} ({})", p.host.empty() ? "(default host)" : p.host, p.port,
                     strategy);
}

inline result<void> pg_verify(const pg::params& p, const credential& cred) {
  pg::connector connect(p);
  DUALCRED_TRY(connect(cred));
  return boost::outcome_v2::success();
}
}  // namespace detail

/// One login role whose password is replaced: `accept` runs `ALTER ROLE role PASSWORD
/// '<verifier>'`, the SCRAM-SHA-256 verifier computed client-side (`PQencryptPasswordConn`),
/// so the plaintext never reaches the server or its logs. A role holds one password, so
/// from `apply` until `promote` clients log in with NEXT (dual_credential falls back to
/// it); `revoke` has nothing left to do. NEXT is the same role.
class pg_single_role_admin {
 public:
  explicit pg_single_role_admin(pg_admin_config config) : c_(std::move(config)) {}

  [[nodiscard]] result<std::string> next_user(const std::string& current_user) const {
    return current_user;
  }

  [[nodiscard]] result<void> accept(const credential& cred) const {
    detail::pg_admin_session s(c_.admin_conninfo, c_.admin_timeout, describe());
    DUALCRED_TRY(s.ready());
    DUALCRED_TRY(s.check_login_role(cred.user));
    return s.set_password(cred.user, &cred.password);
  }

  /// Nothing: the role's one password was replaced when the next one was accepted.
  [[nodiscard]] result<void> revoke(const credential&) const {
    return boost::outcome_v2::success();
  }

  [[nodiscard]] result<void> verify(const credential& cred) const {
    return detail::pg_verify(c_.clients, cred);
  }

  [[nodiscard]] std::string describe() const { return detail::pg_where(c_.clients, "single role"); }

 private:
  pg_admin_config c_;
};

/// Two login roles (`role_a`, `role_b`) that are both members of one group role holding the
/// grants: NEXT always names the role CURRENT does not, so the old password keeps working
/// untouched until `decommission` (`ALTER ROLE old PASSWORD NULL`). Objects the roles create
/// should be owned by the group role (`SET ROLE group` or default privileges), or the roles
/// will not see each other's.
class pg_alternating_roles_admin {
 public:
  pg_alternating_roles_admin(pg_admin_config config, std::string role_a, std::string role_b)
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
    detail::pg_admin_session s(c_.admin_conninfo, c_.admin_timeout, describe());
    DUALCRED_TRY(s.ready());
    DUALCRED_TRY(s.check_login_role(cred.user));
    return s.set_password(cred.user, &cred.password);
  }

  /// `ALTER ROLE user PASSWORD NULL`: the role can no longer log in with a password.
  [[nodiscard]] result<void> revoke(const credential& cred) const {
    DUALCRED_TRY(check_role(cred.user));
    detail::pg_admin_session s(c_.admin_conninfo, c_.admin_timeout, describe());
    DUALCRED_TRY(s.ready());
    return s.set_password(cred.user, nullptr);
  }

  [[nodiscard]] result<void> verify(const credential& cred) const {
    return detail::pg_verify(c_.clients, cred);
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

  pg_admin_config c_;
  std::string a_;
  std::string b_;
};

}  // namespace dualcred::rotation
