#pragma once

// PgBouncer's admin console (the `pgbouncer` database): RELOAD after an auth_file change.

#include <memory>
#include <string>

#include <fmt/format.h>
#include <libpq-fe.h>

#include "../../backend/libpq.hpp"
#include "../../error.hpp"
#include "../../secret.hpp"

namespace dualcred::rotation::pg {

/// One PgBouncer: where clients connect through it, and its admin console's login (a user in
/// its `admin_users`).
struct pgbouncer_endpoint {
  /// host, port and dbname (the PgBouncer database clients use); `verify` logs in here.
  dualcred::pg::params clients;
  credential admin;
};

[[nodiscard]] inline std::string pgbouncer_where(const dualcred::pg::params& p) {
  return fmt::format("PgBouncer {}:{}", p.host.empty() ? "(default host)" : p.host, p.port);
}

/// Runs one admin command (`RELOAD`) on the console. A refused login is `auth_rejected`, a
/// refused command (not in admin_users) `permission_denied`.
[[nodiscard]] inline result<void> pgbouncer_command(const pgbouncer_endpoint& b,
                                                    const char* command) {
  dualcred::pg::params console = b.clients;
  console.dbname = "pgbouncer";
  console.extra.clear();
  DUALCRED_TRY(conn, dualcred::pg::connector(console)(b.admin));
  std::unique_ptr<PGresult, void (*)(PGresult*)> res(PQexec(conn.get(), command), PQclear);
  const auto st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return boost::outcome_v2::success();
  const char* primary = res ? PQresultErrorField(res.get(), PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  return fail(
      errc::permission_denied,
      fmt::format("{} refused {} on its admin console as '{}': {}", pgbouncer_where(b.clients),
                  command, b.admin.user,
                  primary != nullptr ? primary
                                     : dualcred::pg::one_line_message(PQerrorMessage(conn.get()))));
}

}  // namespace dualcred::rotation::pg
