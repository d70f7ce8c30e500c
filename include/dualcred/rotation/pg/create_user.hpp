#pragma once

// `init --create-user` for PostgreSQL: a login role made with only the privileges the
// operator names, before `init` sets its password. Needs libpq.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <libpq-fe.h>

#include "../../error.hpp"
#include "../../secret.hpp"
#include "admin.hpp"
#include "detail/admin_session.hpp"

namespace dualcred::rotation::pg {

namespace detail {
using pg_result = std::unique_ptr<PGresult, void (*)(PGresult*)>;

inline result<void> pg_ok(PGresult* res, ExecStatusType want, std::string_view what) {
  if (res != nullptr && PQresultStatus(res) == want) return boost::outcome_v2::success();
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = res != nullptr ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const std::string_view code = state != nullptr ? state : "";
  return fail(code.empty() ? errc::backend_unavailable : detail::classify_admin_sqlstate(code),
              fmt::format("{} failed: {}{}", what, primary != nullptr ? primary : "no answer",
                          code.empty() ? "" : fmt::format(" (SQLSTATE {})", code)));
}
}  // namespace detail

/// Makes `user` a PostgreSQL login role unless it exists: `LOGIN NOSUPERUSER NOCREATEDB
/// NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT`, no password yet, and a member of each of
/// `grants` (group roles that hold the privileges; none: the role can log in and no more).
/// An existing role is left as it is but for the memberships, which are granted
/// (idempotent). The admin needs CREATEROLE and, for each grant, ADMIN OPTION on it.
[[nodiscard]] inline result<void> create_login_role(const admin_config& c, const std::string& user,
                                                    const std::vector<std::string>& grants) {
  const std::string where = fmt::format("PostgreSQL creating role '{}'", user);
  detail::admin_session s(c.admin_conninfo, c.admin_timeout, where);
  DUALCRED_TRY(s.ready());
  PGconn* conn = s.get();
  auto ident = [&](const std::string& name) -> result<std::string> {
    detail::pq_string q(PQescapeIdentifier(conn, name.data(), name.size()));
    if (q.p == nullptr)
      return fail(errc::invalid_argument, fmt::format("{}: cannot quote '{}'", where, name));
    return std::string(q.p);
  };
  const char* params[] = {user.c_str()};
  detail::pg_result found(PQexecParams(conn, "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1",
                                       1, nullptr, params, nullptr, nullptr, 0),
                          PQclear);
  if (auto ok = detail::pg_ok(found.get(), PGRES_TUPLES_OK, where + ": looking up the role"); !ok)
    return ok;
  DUALCRED_TRY(role, ident(user));
  if (PQntuples(found.get()) == 0) {
    const std::string sql = fmt::format(
        "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
        "INHERIT",
        role);
    detail::pg_result res(PQexec(conn, sql.c_str()), PQclear);
    DUALCRED_TRY(detail::pg_ok(res.get(), PGRES_COMMAND_OK, where));
  }
  for (const std::string& g : grants) {
    DUALCRED_TRY(group, ident(g));
    const std::string sql = fmt::format("GRANT {} TO {}", group, role);
    detail::pg_result res(PQexec(conn, sql.c_str()), PQclear);
    DUALCRED_TRY(
        detail::pg_ok(res.get(), PGRES_COMMAND_OK, fmt::format("{}: granting '{}'", where, g)));
  }
  return boost::outcome_v2::success();
}

}  // namespace dualcred::rotation::pg
