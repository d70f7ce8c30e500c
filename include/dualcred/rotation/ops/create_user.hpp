#pragma once

// `init --create-user`: a login role (PostgreSQL) or ACL user (Redis) made with only the
// privileges the operator names, before `init` sets its password. Needs libpq and hiredis
// (the `dualcred-libpq` and `dualcred-hiredis` dependencies).

#include <cctype>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "../../backend/hiredis.hpp"
#include "../../error.hpp"
#include "../../secret.hpp"
#include "../detail/pg_admin_session.hpp"
#include "../postgres_admin.hpp"

namespace dualcred::rotation::ops {

namespace detail {
using pg_result = std::unique_ptr<PGresult, void (*)(PGresult*)>;

inline result<void> pg_ok(PGresult* res, ExecStatusType want, std::string_view what) {
  if (res != nullptr && PQresultStatus(res) == want) return boost::outcome_v2::success();
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = res != nullptr ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const std::string_view code = state != nullptr ? state : "";
  return fail(
      code.empty() ? errc::backend_unavailable : rotation::detail::classify_admin_sqlstate(code),
      fmt::format("{} failed: {}{}", what, primary != nullptr ? primary : "no answer",
                  code.empty() ? "" : fmt::format(" (SQLSTATE {})", code)));
}
}  // namespace detail

/// Makes `user` a PostgreSQL login role unless it exists: `LOGIN NOSUPERUSER NOCREATEDB
/// NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT`, no password yet, and a member of each of
/// `grants` (group roles that hold the privileges; none: the role can log in and no more).
/// An existing role is left as it is but for the memberships, which are granted
/// (idempotent). The admin needs CREATEROLE and, for each grant, ADMIN OPTION on it.
[[nodiscard]] inline result<void> pg_create_login_role(const pg_admin_config& c,
                                                       const std::string& user,
                                                       const std::vector<std::string>& grants) {
  const std::string where = fmt::format("PostgreSQL creating role '{}'", user);
  rotation::detail::pg_admin_session s(c.admin_conninfo, c.admin_timeout, where);
  DUALCRED_TRY(s.ready());
  PGconn* conn = s.get();
  auto ident = [&](const std::string& name) -> result<std::string> {
    rotation::detail::pq_string q(PQescapeIdentifier(conn, name.data(), name.size()));
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

/// Why `rule` may not be one of the operator's ACL rules for a created user (a password
/// rule: init sets the password itself, as a hash), or empty when it may.
[[nodiscard]] inline std::string_view acl_rule_problem(std::string_view rule) {
  if (rule.empty()) return "an empty rule";
  if (rule[0] == '>' || rule[0] == '<' || rule[0] == '#' || rule[0] == '!')
    return "a password rule (init sets the password)";
  std::string lower;
  for (const char ch : rule)
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  if (lower == "nopass" || lower == "resetpass" || lower == "reset")
    return "a password rule (init sets the password)";
  return {};
}

/// Makes `user` a Redis ACL user unless it exists: `reset on +ping` (verify sends PING) and
/// then `rules`, the operator's (`~app:* +@read +@write`; none: it can log in and PING, no
/// more), with no password yet. An existing user is left as it is. The admin needs `+acl`.
[[nodiscard]] inline result<void> redis_create_acl_user(const redis::params& server,
                                                        const credential& admin,
                                                        const std::string& user,
                                                        const std::vector<std::string>& rules) {
  const std::string where =
      fmt::format("Redis {}:{} creating ACL user '{}'", server.host, server.port, user);
  for (const std::string& r : rules)
    if (const auto why = acl_rule_problem(r); !why.empty())
      return fail(errc::invalid_argument, fmt::format("{}: an ACL rule is {}", where, why));
  redis::connector connect(server);
  auto conn = connect(admin);
  if (!conn)
    return boost::outcome_v2::failure(
        error(conn.error().code, fmt::format("{}: admin login: {}", where, conn.error().detail)));
  auto run = [&](const std::vector<std::string>& args) -> result<bool> {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    std::unique_ptr<redisReply, void (*)(void*)> reply(
        static_cast<redisReply*>(redisCommandArgv(conn.value().get(), static_cast<int>(argv.size()),
                                                  argv.data(), lens.data())),
        freeReplyObject);
    if (!reply) return fail(errc::backend_unavailable, fmt::format("{}: no reply", where));
    if (reply->type == REDIS_REPLY_ERROR) {
      const std::string_view text(reply->str, reply->len);
      return fail(text.starts_with("NOPERM") ? errc::permission_denied : errc::invalid_argument,
                  fmt::format("{}: {} {} refused: {}", where, args[0], args[1], text));
    }
    return reply->type != REDIS_REPLY_NIL;
  };
  DUALCRED_TRY(exists, run({"ACL", "GETUSER", user}));
  if (exists) return boost::outcome_v2::success();
  // +ping: verify logs in and sends PING.
  std::vector<std::string> args{"ACL", "SETUSER", user, "reset", "on", "+ping"};
  args.insert(args.end(), rules.begin(), rules.end());
  DUALCRED_TRY(run(args));
  return boost::outcome_v2::success();
}

}  // namespace dualcred::rotation::ops
