#pragma once

// `init --create-user` for Redis: an ACL user made with only the rules the operator names,
// before `init` sets its password. Needs hiredis.

#include <cctype>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include "../../backend/hiredis.hpp"
#include "../../error.hpp"
#include "../../secret.hpp"

namespace dualcred::rotation::redis {

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
[[nodiscard]] inline result<void> create_acl_user(const dualcred::redis::params& server,
                                                  const credential& admin, const std::string& user,
                                                  const std::vector<std::string>& rules) {
  const std::string where =
      fmt::format("Redis {}:{} creating ACL user '{}'", server.host, server.port, user);
  for (const std::string& r : rules)
    if (const auto why = acl_rule_problem(r); !why.empty())
      return fail(errc::invalid_argument, fmt::format("{}: an ACL rule is {}", where, why));
  dualcred::redis::connector connect(server);
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

}  // namespace dualcred::rotation::redis
