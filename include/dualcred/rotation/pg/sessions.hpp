#pragma once

// The sessions PostgreSQL still holds for a credential decommission removes, on the primary
// and every hot standby: counted from `pg_stat_activity`, ended with `pg_terminate_backend`.
// Link with libpq (the `dualcred-libpq` dependency).

#include <libpq-fe.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "../../error.hpp"
#include "../detail/decimal.hpp"
#include "../drain.hpp"
#include "../state.hpp"
#include "detail/admin_session.hpp"

namespace dualcred::rotation::pg {

struct admin_config;

namespace detail {

// Client backends of `role` but the admin's own, that began before $2 when it is given.
// pg_stat_activity shows every role's usename and backend_start to any role; `usename` is
// the login role, whatever SET ROLE did since.
inline constexpr const char* old_sessions_where =
    " FROM pg_catalog.pg_stat_activity WHERE usename = $1 AND backend_type = 'client backend'"
    " AND pid <> pg_catalog.pg_backend_pid()"
    " AND ($2::timestamptz IS NULL OR backend_start < $2::timestamptz)";

// How a request's sessions are picked, and what the server cannot tell about them. A role
// other than CURRENT's (alternating roles) lost its password: every session of it logged in
// with the old one. A role CURRENT shares (a single role) holds one password: only the time
// tells them apart.
struct session_filter {
  std::optional<std::string> before;  // RFC 3339, for $2
  std::string basis, cannot_tell;
};

inline session_filter filter_for(const drain_request& req) {
  session_filter f;
  if (req.old.user != req.current_user) {
    f.basis = fmt::format("sessions of role '{}'", req.old.user);
    return f;
  }
  f.cannot_tell = fmt::format(
      "role '{}' holds one password: PostgreSQL does not record which password a session "
      "logged in with, so a session started after the change cannot have used the old one, "
      "and one started before it may have used either; each started before is counted",
      req.old.user);
  if (req.changed_at) {
    f.before = format_rfc3339(*req.changed_at);
    f.basis = fmt::format("sessions of role '{}' started before the change ({})", req.old.user,
                          *f.before);
  } else if (req.promoted_at) {
    f.before = format_rfc3339(*req.promoted_at);
    f.basis = fmt::format(
        "sessions of role '{}' started before the promote ({}); the store does not record when "
        "the password changed, so some of them may use the new one",
        req.old.user, *f.before);
  } else {
    f.basis = fmt::format("every session of role '{}'; the store records no time of the change",
                          req.old.user);
  }
  return f;
}

// On the server `s` reaches: the sessions `f` picks, counted, or ended when `terminate`.
inline result<std::size_t> sessions_on(admin_session& s, const std::string& role,
                                       const session_filter& f, bool terminate) {
  DUALCRED_TRY(s.ready());
  const std::string sql = terminate ? fmt::format(
                                          "SELECT count(*) FILTER (WHERE "
                                          "pg_catalog.pg_terminate_backend(pid)){}",
                                          old_sessions_where)
                                    : fmt::format("SELECT count(*){}", old_sessions_where);
  DUALCRED_TRY(res, s.exec(sql.c_str(), {role.c_str(), f.before ? f.before->c_str() : nullptr},
                           PGRES_TUPLES_OK,
                           terminate ? fmt::format("ending the sessions of '{}'", role)
                                     : fmt::format("counting the sessions of '{}'", role)));
  // count(*): always a number.
  return rotation::detail::parse_decimal<std::size_t>(PQgetvalue(res.get(), 0, 0)).value_or(0);
}

// The primary (where the admin's conninfo leads) and every standby.
template <class Config>
result<session_survey> pg_old_sessions(const Config& c, const std::string& where,
                                       const drain_request& req, bool terminate) {
  const session_filter f = filter_for(req);
  session_survey out{{}, f.basis, f.cannot_tell};
  {
    admin_session s(c.admin_conninfo, c.admin_timeout, where);
    DUALCRED_TRY(n, sessions_on(s, req.old.user, f, terminate));
    out.nodes.push_back({fmt::format("{}:{}", PQhost(s.get()), PQport(s.get())), n});
  }
  for (const auto& sb : c.standbys) {
    admin_session s(c.admin_conninfo, c.admin_timeout, fmt::format("standby {}", where), sb.host,
                    sb.port);
    DUALCRED_TRY(n, sessions_on(s, req.old.user, f, terminate));
    out.nodes.push_back({fmt::format("{}:{}", sb.host, sb.port), n});
  }
  return out;
}

}  // namespace detail
}  // namespace dualcred::rotation::pg
