#pragma once

// `init --create-user` for PostgreSQL: a login role made with only the privileges the
// operator names, before `init` sets its password. Needs libpq.

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
// The attributes of an existing role that reach beyond its own objects, as a list such as
// "SUPERUSER, BYPASSRLS" (empty when it has none). Row: rolsuper, rolcreaterole,
// rolreplication, rolbypassrls, as 't'/'f'.
inline std::string privileged_attributes(PGresult* row) {
  static constexpr const char* names[] = {"SUPERUSER", "CREATEROLE", "REPLICATION", "BYPASSRLS"};
  std::string out;
  for (int c = 0; c < 4; ++c)
    if (std::string_view(PQgetvalue(row, 0, c)) == "t")
      out += fmt::format("{}{}", out.empty() ? "" : ", ", names[c]);
  return out;
}
}  // namespace detail

/// Makes `user` a PostgreSQL login role unless it exists: `LOGIN NOSUPERUSER NOCREATEDB
/// NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT`, no password yet, and a member of each of
/// `grants` (group roles that hold the privileges; none: the role can log in and no more).
/// An existing role is looked at first: one with SUPERUSER, CREATEROLE, REPLICATION or
/// BYPASSRLS is refused (`invalid_argument`, naming the role and those attributes, nothing
/// changed), since rotating its password would hand its power to whoever holds the store,
/// unless `adopt_privileged` says to take it over as it is. An existing role is otherwise left
/// as it is but for the memberships, which are granted (idempotent). The admin needs
/// CREATEROLE and, for each grant, ADMIN OPTION on it.
[[nodiscard]] inline result<void> create_login_role(const admin_config& c, const std::string& user,
                                                    const std::vector<std::string>& grants,
                                                    bool adopt_privileged = false) {
  const std::string where = fmt::format("PostgreSQL creating role '{}'", user);
  detail::admin_session s(c.admin_conninfo, c.admin_timeout, where);
  DUALCRED_TRY(s.ready());
  auto ident = [&](const std::string& name) -> result<std::string> {
    detail::pq_string q(PQescapeIdentifier(s.get(), name.data(), name.size()));
    if (q.p == nullptr)
      return fail(errc::invalid_argument, fmt::format("{}: cannot quote '{}'", where, name));
    return std::string(q.p);
  };
  DUALCRED_TRY(found, s.exec("SELECT rolsuper, rolcreaterole, rolreplication, rolbypassrls "
                             "FROM pg_catalog.pg_roles WHERE rolname = $1",
                             {user.c_str()}, PGRES_TUPLES_OK, "looking up the role"));
  DUALCRED_TRY(role, ident(user));
  if (PQntuples(found.get()) == 0) {
    const std::string sql = fmt::format(
        "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
        "INHERIT",
        role);
    DUALCRED_TRY(s.exec(sql.c_str(), {}, PGRES_COMMAND_OK, "CREATE ROLE"));
  } else if (const std::string power = detail::privileged_attributes(found.get());
             !power.empty() && !adopt_privileged) {
    return fail(errc::invalid_argument,
                fmt::format("{}: the role '{}' already exists with {}; it is left untouched, as "
                            "taking over its password would give that power to every holder of "
                            "the store: to adopt it as it is, say so (--adopt-privileged-role), "
                            "or name another user",
                            where, user, power));
  }
  for (const std::string& g : grants) {
    DUALCRED_TRY(group, ident(g));
    const std::string sql = fmt::format("GRANT {} TO {}", group, role);
    DUALCRED_TRY(s.exec(sql.c_str(), {}, PGRES_COMMAND_OK, fmt::format("granting '{}'", g)));
  }
  return boost::outcome_v2::success();
}

}  // namespace dualcred::rotation::pg
