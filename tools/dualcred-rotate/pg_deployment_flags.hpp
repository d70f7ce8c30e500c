#pragma once

// dualcred-rotate's PostgreSQL topology: hot standbys (--pg-standby, --replay-timeout) and
// PgBouncer (--pgbouncer, --pgbouncer-auth-file; the admin console's login from
// PGBOUNCER_ADMIN_USER and PGBOUNCER_ADMIN_PASSWORD or --pgbouncer-admin-password-file). The
// flags themselves are in flag_table.hpp.

#include <optional>
#include <string>
#include <utility>

#include <cstdio>

#include <fmt/format.h>

#include <dualcred/rotation/pg/admin.hpp>
#include <dualcred/rotation/rotator.hpp>

#include <dualcred/rotation/detail/printable.hpp>
#include "config.hpp"
#include "exit_codes.hpp"

namespace dualcred_rotate {

/// PgBouncer's admin console login: the user from PGBOUNCER_ADMIN_USER, the password from
/// PGBOUNCER_ADMIN_PASSWORD or --pgbouncer-admin-password-file (main.cpp reads which).
struct pgbouncer_console_login {
  std::optional<std::string> user;
  dualcred::secret password;
};

/// Adds the topology to the admin's configuration; a usage error's text when it does not fit.
[[nodiscard]] inline std::optional<std::string> apply_pg_topology(
    const pg_topology_settings& s, pg_strategy strategy, dualcred::rotation::pg::admin_config& c,
    const pgbouncer_console_login& console) {
  using namespace dualcred;
  if (!s.auth_files.empty() && strategy != pg_strategy::alternating)
    return rotation::pg::single_role_admin::auth_file_refusal() + " (--pg-strategy alternating)";
  if (!s.auth_files.empty() && s.pgbouncers.empty())
    return std::string(
        "--pgbouncer-auth-file needs --pgbouncer HOST:PORT: PgBouncer reads "
        "the file again only on RELOAD");
  c.replay_timeout = s.replay_timeout;
  c.pgbouncer_auth_files = s.auth_files;
  for (const auto& hp : s.standbys) {
    pg::params p = c.clients;
    p.host = hp.host;
    p.port = hp.port;
    c.standbys.push_back(std::move(p));
  }
  if (s.pgbouncers.empty()) return std::nullopt;
  if (!s.auth_files.empty() && !console.user)
    return std::string(
        "--pgbouncer-auth-file needs PGBOUNCER_ADMIN_USER (and "
        "PGBOUNCER_ADMIN_PASSWORD) for RELOAD on PgBouncer's admin console");
  for (const auto& hp : s.pgbouncers) {
    dualcred::rotation::pg::pgbouncer_endpoint b;
    b.clients = c.clients;
    b.clients.host = hp.host;
    b.clients.port = hp.port;
    // PgBouncer up to 1.19 refuses logins with 08P01.
    b.clients.sqlstate_rules = pg::pgbouncer_sqlstate_rules();
    b.admin.user = console.user.value_or("");
    b.admin.password = console.password;
    c.pgbouncers.push_back(std::move(b));
  }
  return std::nullopt;
}

/// Before a step that may change something: the standbys, auth_files and PgBouncers are
/// checked (`check_topology`), so bad input stops the run before the store is written.
template <class Rotator>
[[nodiscard]] std::optional<int> pg_topology_precheck(Rotator& r, command_kind command) {
  if constexpr (requires { r.admin().check_topology(); }) {
    if (!touches_backend(command)) return std::nullopt;
    auto ok = r.admin().check_topology();
    if (!ok)
      return report_failure(
          dualcred::rotation::as_failure(dualcred::rotation::failure_site::backend, ok.error(),
                                         r.admin().describe()),
          {to_string(command)});
  }
  return std::nullopt;
}

}  // namespace dualcred_rotate
