#pragma once

// dualcred-rotate's day-2 commands: `init` (provision the keys), `due --max-age` (rotate on a
// schedule), `status --json / --prometheus / --stuck-after` (for operators and alarms), and
// `--password-policy`. main.cpp hands its flags and its rotator here.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <dualcred/rotation/password.hpp>
#include <dualcred/rotation/pg/create_user.hpp>
#include <dualcred/rotation/redis/create_user.hpp>
#include <dualcred/rotation/report.hpp>
#include <dualcred/rotation/rotator.hpp>

#include "args.hpp"
#include "exit_codes.hpp"
#include "secret_inputs.hpp"

namespace dualcred_rotate {

inline constexpr std::string_view day2_usage =
    R"(Day-2 commands:
    init          create this prefix's keys in the store: CURRENT (the backend's present
                  password, or --generate), a fresh NEXT, ROTATED_AT and the password policy;
                  a store already holding consistent keys is left as it is
    due           with --max-age: a whole rotation when CURRENT is older than that (or its age
                  is unknown), the rest of an interrupted one, else nothing; prints which
  --user NAME                 the login role or ACL user (init; default: the store's user key)
  --current-file PATH         init: CURRENT from a file only its owner can read (else the
                              environment variable DUALCRED_CURRENT_PASSWORD)
  --generate                  init: make CURRENT and set it on the backend
  --create-user               init --generate: create the role / ACL user first if missing:
                              PostgreSQL LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
                              NOREPLICATION NOBYPASSRLS INHERIT, member of each --grant;
                              Redis `reset on +ping` plus --acl-rules; no more
  --adopt-privileged-role     init --create-user: take over an existing PostgreSQL role with
                              SUPERUSER, CREATEROLE, REPLICATION or BYPASSRLS (else refused)
  --grant ROLE                PostgreSQL group role the created role joins (repeat)
  --acl-rules "RULES"         Redis ACL rules of the created user, e.g. "~app:* +@read"
                              (no password rule)
  --password-policy SPEC      length=N,lower=N,upper=N,digit=N,symbol=N,exclude=CHARS:
                              each class named is used with at least N of it, a class not
                              named is not used (none named: lower, upper, digit); exclude
                              last. Stored in the store (PREFIX_PASSWORD_POLICY) and used by
                              every later rotation; an impossible or weak (< 64 bits) policy
                              is a usage error
  --max-age DURATION          due: e.g. 30d, 12h, 0s
  --json                      status: one JSON object (phase, revision, current_user,
                              rotated_at, phase_age_seconds, ...)
  --prometheus                status: Prometheus text format (node_exporter textfile)
  --stuck-after DURATION      status: exit 11 when a rotation has sat in a phase other than
                              idle for that long or more (or since an unrecorded time)
)";

/// The day-2 flags.
struct day2_settings {
  std::string user, current_file;
  bool generate = false, create_user = false, json = false, prometheus = false;
  bool adopt_privileged = false;
  std::vector<std::string> grants, acl_rules;
  std::optional<dualcred::rotation::password_policy> policy;
  std::optional<std::chrono::seconds> max_age, stuck_after;
};

inline int day2_usage_error(std::string_view why) {
  fmt::print(stderr, "dualcred-rotate: {}\n(see dualcred-rotate --help)\n", why);
  return exit_usage;
}

/// A flag without a value: true when it is one of the day-2 ones.
inline bool day2_switch(std::string_view a, day2_settings& d) {
  if (a == "--generate")
    d.generate = true;
  else if (a == "--create-user")
    d.create_user = true;
  else if (a == "--adopt-privileged-role")
    d.adopt_privileged = true;
  else if (a == "--json")
    d.json = true;
  else if (a == "--prometheus")
    d.prometheus = true;
  else
    return false;
  return true;
}

/// A flag with value `v`: -1 when it is not a day-2 flag, 0 when taken, else the exit code
/// of a usage error (already printed).
inline int day2_option(std::string_view a, std::string_view v, day2_settings& d) {
  constexpr std::chrono::milliseconds max_age = std::chrono::hours(24 * 3650);
  if (a == "--user") {
    if (v.empty()) return day2_usage_error("--user wants a name");
    d.user = v;
  } else if (a == "--current-file") {
    d.current_file = v;
  } else if (a == "--grant") {
    if (v.empty()) return day2_usage_error("--grant wants a role name");
    d.grants.emplace_back(v);
  } else if (a == "--acl-rules") {
    std::size_t at = 0;
    while (at < v.size()) {
      const std::size_t end = std::min(v.find(' ', at), v.size());
      if (end > at) d.acl_rules.emplace_back(v.substr(at, end - at));
      at = end + 1;
    }
    for (const auto& r : d.acl_rules)
      if (const auto why = dualcred::rotation::redis::acl_rule_problem(r); !why.empty())
        return day2_usage_error(fmt::format("--acl-rules: a rule is {}", why));
  } else if (a == "--password-policy") {
    auto p = dualcred::rotation::parse_password_policy(v);
    if (!p) return day2_usage_error(fmt::format("--password-policy: {}", p.error().detail));
    d.policy = std::move(p).value();
  } else if (a == "--max-age" || a == "--stuck-after") {
    const auto ms = parse_duration(v, std::chrono::milliseconds(0), max_age);
    if (!ms)
      return day2_usage_error(fmt::format("{} wants a duration, 0s to 3650d (e.g. 30d, 12h)", a));
    (a == "--max-age" ? d.max_age : d.stuck_after) =
        std::chrono::duration_cast<std::chrono::seconds>(*ms);
  } else {
    return -1;
  }
  return 0;
}

/// The `create_user` hook of `init --create-user` for PostgreSQL.
inline std::function<dualcred::result<void>(const std::string&)> day2_pg_creator(
    const dualcred::rotation::pg::admin_config& c, const day2_settings& d) {
  if (!d.create_user) return {};
  return [c, grants = d.grants, adopt = d.adopt_privileged](const std::string& user) {
    return dualcred::rotation::pg::create_login_role(c, user, grants, adopt);
  };
}

/// The same for Redis.
inline std::function<dualcred::result<void>(const std::string&)> day2_redis_creator(
    const dualcred::redis::params& p, const dualcred::credential& admin, const day2_settings& d) {
  if (!d.create_user) return {};
  return [p, admin, rules = d.acl_rules](const std::string& user) {
    return dualcred::rotation::redis::create_acl_user(p, admin, user, rules);
  };
}

/// Runs `command` when it is a day-2 one (init, due, or status with --json, --prometheus or
/// --stuck-after); nullopt otherwise. `exit_for(error, failure_site)` is main's mapping.
template <class Rotator, class ExitFor>
std::optional<int> run_day2(Rotator& r, const day2_settings& d, const std::string& command,
                            const std::string& prefix,
                            std::function<dualcred::result<void>(const std::string&)> create,
                            ExitFor exit_for) {
  using namespace dualcred;
  using namespace dualcred::rotation;
  auto failed = [&](const error& e) {
    fmt::print(stderr, "dualcred-rotate: error: ({}) {}\n", to_string(r.last_failure()), e.detail);
    int code = exit_for(e, r.last_failure());
    if (r.last_failure() == failure_site::verify &&
        (e.is(errc::backend_unavailable) || e.is(errc::timeout)))
      code = exit_backend_down;
    return code;
  };
  if (command != "init" && command != "due" &&
      (command != "status" || (!d.json && !d.prometheus && !d.stuck_after))) {
    if (d.generate || d.create_user || !d.current_file.empty() || d.max_age || d.json ||
        d.prometheus || d.stuck_after)
      return day2_usage_error(
          "--generate, --create-user, --current-file are for init, --max-age for due, --json, "
          "--prometheus and --stuck-after for status");
    return std::nullopt;
  }

  if (command == "init") {
    init_request req;
    req.user = d.user;
    req.generate = d.generate;
    const char* env_pw = std::getenv("DUALCRED_CURRENT_PASSWORD");
    const bool have_env = env_pw != nullptr && *env_pw != '\0';
    if (d.generate + have_env + !d.current_file.empty() > 1)
      return day2_usage_error(
          "init takes one of DUALCRED_CURRENT_PASSWORD, --current-file or --generate");
    if (d.create_user && !d.generate) return day2_usage_error("--create-user needs --generate");
    if (!d.generate && !have_env && d.current_file.empty())
      return day2_usage_error(
          "init needs the present password (DUALCRED_CURRENT_PASSWORD or --current-file) or "
          "--generate");
    if (have_env) req.current = secret(env_pw);
    if (!d.current_file.empty()) {
      auto pw = read_private_file("--current-file", d.current_file);
      if (!pw) return day2_usage_error(pw.error().detail);
      req.current = std::move(pw).value();
    }
    if (d.create_user) req.create_user = std::move(create);
    auto done = r.init(req);
    if (!done) return failed(done.error());
    fmt::print("dualcred-rotate: init: {}\n", done.value().summary);
    return exit_ok;
  }

  if (command == "due") {
    if (!d.max_age) return day2_usage_error("due needs --max-age DURATION (e.g. 30d)");
    auto done = r.due(*d.max_age);
    if (!done) return failed(done.error());
    const auto& rep = done.value();
    if (rep.what == due_action::nothing)
      fmt::print("dualcred-rotate: due: nothing to do: {}\n", rep.summary);
    else
      fmt::print("dualcred-rotate: due: {} ({} steps): {}\n", to_string(rep.what), rep.steps.size(),
                 rep.summary);
    return exit_ok;
  }

  // status --json / --prometheus / --stuck-after
  auto st = r.state();
  if (!st) return failed(st.error());
  const auto s = dualcred::rotation::make_status(st.value(), prefix, r.store().describe(), r.now());
  if (d.json) fmt::print("{}\n", dualcred::rotation::to_json(s, d.stuck_after));
  if (d.prometheus) fmt::print("{}", dualcred::rotation::to_prometheus(s));
  if (!d.json && !d.prometheus)
    fmt::print("phase={} revision={} current_user={} phase_age_seconds={}\n", s.phase, s.revision,
               s.current_user,
               s.phase_age_seconds() ? fmt::format("{}", *s.phase_age_seconds()) : "unknown");
  if (d.stuck_after && s.stuck(*d.stuck_after)) {
    fmt::print(
        stderr,
        "dualcred-rotate: the rotation of {} has been in phase {} for {} (the limit is {} "
        "s): finish it (all or due) or roll it back\n",
        prefix, s.phase,
        s.phase_age_seconds() ? fmt::format("{} s", *s.phase_age_seconds()) : "an unrecorded time",
        d.stuck_after->count());
    return exit_stuck;
  }
  return exit_ok;
}

}  // namespace dualcred_rotate
