#pragma once

// dualcred-rotate's day-2 commands: `init` (provision the keys), `due --max-age` (rotate on a
// schedule), `status --json / --prometheus / --stuck-after` (for operators and alarms).
// main.cpp hands its configuration and its rotator here; cli.hpp checked the flags.

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

#include <dualcred/rotation/detail/printable.hpp>
#include "config.hpp"
#include "environment.hpp"
#include "exit_codes.hpp"
#include "secret_inputs.hpp"

namespace dualcred_rotate {

inline int day2_usage_error(std::string_view why) {
  fmt::print(stderr, "dualcred-rotate: {}\n(see dualcred-rotate --help)\n", printable(why));
  return exit_usage;
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

namespace day2_detail {

// A failed day-2 command: printed with where it failed and a hint, and its exit code.
inline int failed(const dualcred::rotation::failure& f, const config& c) {
  return report_failure(f, {to_string(c.command), c.day2.generate});
}

template <class Rotator>
int run_init(Rotator& r, const config& c, environment& env,
             std::function<dualcred::result<void>(const std::string&)> create) {
  const day2_settings& d = c.day2;
  dualcred::rotation::init_request req;
  req.user = d.user;
  req.generate = d.generate;
  if (env.current_password) req.current = std::move(*env.current_password);
  if (!d.current_file.empty()) {
    auto pw = read_private_file("--current-file", d.current_file);
    if (!pw) return day2_usage_error(pw.error().detail);
    req.current = std::move(pw).value();
  }
  if (d.create_user) req.create_user = std::move(create);
  auto done = r.init(req);
  if (!done) return failed(done.error(), c);
  fmt::print("dualcred-rotate: init: {}\n", printable(done.value().summary));
  return exit_ok;
}

template <class Rotator>
int run_due(Rotator& r, const config& c) {
  auto done = r.due(*c.day2.max_age);
  if (!done) return failed(done.error(), c);
  const auto& rep = done.value();
  if (rep.what == dualcred::rotation::due_action::nothing)
    fmt::print("dualcred-rotate: due: nothing to do: {}\n", printable(rep.summary));
  else
    fmt::print("dualcred-rotate: due: {} ({} steps): {}\n", to_string(rep.what), rep.steps.size(),
               printable(rep.summary));
  return exit_ok;
}

// status --json / --prometheus / --stuck-after
template <class Rotator>
int run_status_report(Rotator& r, const config& c) {
  const day2_settings& d = c.day2;
  auto st = r.state();
  if (!st) return failed(st.error(), c);
  const auto s =
      dualcred::rotation::make_status(st.value(), c.prefix, r.store().describe(), r.now());
  if (d.json) fmt::print("{}\n", dualcred::rotation::to_json(s, d.stuck_after));
  if (d.prometheus) fmt::print("{}", dualcred::rotation::to_prometheus(s));
  if (!d.json && !d.prometheus)
    fmt::print("phase={} revision={} current_user={} phase_age_seconds={}\n", s.phase, s.revision,
               printable(s.current_user),
               s.phase_age_seconds() ? fmt::format("{}", *s.phase_age_seconds()) : "unknown");
  if (d.stuck_after && s.stuck(*d.stuck_after)) {
    fmt::print(
        stderr,
        "dualcred-rotate: the rotation of {} has been in phase {} for {} (the limit is {} "
        "s): finish it (all or due) or roll it back\n",
        printable(c.prefix), s.phase,
        s.phase_age_seconds() ? fmt::format("{} s", *s.phase_age_seconds()) : "an unrecorded time",
        d.stuck_after->count());
    return exit_stuck;
  }
  return exit_ok;
}

}  // namespace day2_detail

/// Runs the command when it is a day-2 one (init, due, or status with --json, --prometheus or
/// --stuck-after; cli.hpp checked their flags); nullopt otherwise.
template <class Rotator>
std::optional<int> run_day2(Rotator& r, const config& c, environment& env,
                            std::function<dualcred::result<void>(const std::string&)> create) {
  const day2_settings& d = c.day2;
  switch (c.command) {
    case command_kind::init:
      return day2_detail::run_init(r, c, env, std::move(create));
    case command_kind::due:
      return day2_detail::run_due(r, c);
    case command_kind::status:
      if (d.json || d.prometheus || d.stuck_after) return day2_detail::run_status_report(r, c);
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

}  // namespace dualcred_rotate
