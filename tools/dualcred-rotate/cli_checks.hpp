#pragma once

// What dualcred-rotate checks once every flag is read: flags that need or exclude each other,
// defaults that depend on other flags (store, prefix, --redis-allow), and where each secret
// comes from. A usage error's text, naming flags and variables, never values.

#include <optional>
#include <string>
#include <utility>

#include "config.hpp"
#include "environment.hpp"
#include "flags.hpp"
#include "net.hpp"

namespace dualcred_rotate {

namespace cli_detail {

inline problem check_store(draft& d) {
  config& c = d.c;
  if (c.prefix.empty()) c.prefix = c.backend == backend_kind::redis ? "REDIS" : "DB";
  c.store = d.store.value_or(c.file.empty() ? store_kind::vault : store_kind::file);
  if (c.store == store_kind::file && c.file.empty()) return "--store file needs --file PATH";
  if (c.store == store_kind::vault && c.vault_path.empty())
    return "--store vault needs --vault-path PATH";
  return std::nullopt;
}

inline problem check_pg(draft& d) {
  config& c = d.c;
  if (c.pg_admin && !c.pg_admin_file.empty()) return "give --pg-admin or --pg-admin-file, not both";
  if (c.backend != backend_kind::postgres || c.strategy != pg_strategy::alternating)
    return std::nullopt;
  const auto comma = d.pg_roles.find(',');
  if (comma == std::string::npos || comma == 0 || comma + 1 == d.pg_roles.size())
    return "--pg-strategy alternating needs --pg-roles ROLE_A,ROLE_B";
  c.pg_roles = {d.pg_roles.substr(0, comma), d.pg_roles.substr(comma + 1)};
  return std::nullopt;
}

inline problem check_day2(const config& c, const environment& env) {
  const day2_settings& d = c.day2;
  const bool status_report =
      c.command == command_kind::status && (d.json || d.prometheus || d.stuck_after.has_value());
  if (c.command != command_kind::init && c.command != command_kind::due && !status_report) {
    if (d.generate || d.create_user || !d.current_file.empty() || d.max_age || d.json ||
        d.prometheus || d.stuck_after)
      return "--generate, --create-user, --current-file are for init, --max-age for due, --json, "
             "--prometheus and --stuck-after for status";
    return std::nullopt;
  }
  if (c.command == command_kind::due && !d.max_age)
    return "due needs --max-age DURATION (e.g. 30d)";
  if (c.command != command_kind::init) return std::nullopt;
  const bool have_env = env.current_password.has_value();
  if (d.generate + have_env + !d.current_file.empty() > 1)
    return "init takes one of DUALCRED_CURRENT_PASSWORD, --current-file or --generate";
  if (d.create_user && !d.generate) return "--create-user needs --generate";
  if (!d.generate && !have_env && d.current_file.empty())
    return "init needs the present password (DUALCRED_CURRENT_PASSWORD or --current-file) or "
           "--generate";
  return std::nullopt;
}

// A secret from its variable or its file flag, never both: which one wins would be a guess.
inline problem check_fleet(const config& c) {
  const fleet_settings& f = c.fleet;
  if (!f.prometheus_url.empty() && (!c.instances.empty() || !f.dns_names.empty()))
    return "give --prometheus URL or --instance/--instances-dns, not both";
  if (!f.prometheus_query.empty() && f.prometheus_url.empty())
    return "--prometheus-query needs --prometheus URL";
  for (const auto& n : f.dns_names)
    if (!n.starts_with('_') && n.find(':') == std::string::npos && f.dns_port == 0)
      return "--instances-dns NAME needs a port: NAME:PORT, --instances-port, or an SRV name "
             "(_service._proto.name)";
  return std::nullopt;
}

inline problem check_secret_sources(const config& c, const environment& env) {
  if (env.redis_sentinel_password && !c.redis_topology.sentinel_password_file.empty())
    return "give REDIS_SENTINEL_PASSWORD or --redis-sentinel-password-file, not both";
  if (env.pgbouncer_admin_password && !c.pg_topology.admin_password_file.empty())
    return "give PGBOUNCER_ADMIN_PASSWORD or --pgbouncer-admin-password-file, not both";
  return std::nullopt;
}

inline problem check_redis(config& c, const environment& env) {
  auto& t = c.redis_topology;
  const int sources = (t.nodes.empty() ? 0 : 1) + (t.sentinels.empty() ? 0 : 1) +
                      (t.cluster ? 1 : 0) + (t.single_node ? 1 : 0);
  if (sources > 1)
    return "give one of --redis-node, --redis-sentinel, --redis-cluster and --redis-single-node";
  if (!t.master.empty() && t.sentinels.empty()) return "--redis-master goes with --redis-sentinel";
  if (!t.sentinel_user.empty() && t.sentinels.empty())
    return "--redis-sentinel-user goes with --redis-sentinel";
  if (!t.sentinels.empty() && t.master.empty()) return "--redis-sentinel needs --redis-master NAME";
  if (!t.sentinel_user.empty() && !env.redis_sentinel_password && t.sentinel_password_file.empty())
    return "--redis-sentinel-user needs its password in REDIS_SENTINEL_PASSWORD or "
           "--redis-sentinel-password-file";
  return std::nullopt;
}

// The drain belongs to decommission (all and due run it too); its timeout to waiting.
inline problem check_drain(const config& c) {
  using dualcred::rotation::drain_mode;
  if (c.drain_timeout_given && c.drain.mode != drain_mode::wait)
    return "--drain-timeout goes with --drain wait (terminate checks for up to 60s that the "
           "ended sessions are gone)";
  const bool decommissions = c.command == command_kind::decommission ||
                             c.command == command_kind::all || c.command == command_kind::due;
  if (c.drain.mode != drain_mode::report && !decommissions)
    return "--drain is for decommission, all and due";
  return std::nullopt;
}

}  // namespace cli_detail

/// Finishes `d` once every flag is read (its backend checked here, its command set).
[[nodiscard]] inline problem finish(draft& d, const environment& env) {
  if (!d.backend) return "--backend postgres|redis is required";
  d.c.backend = *d.backend;
  if (auto why = cli_detail::check_pg(d)) return why;
  if (auto why = cli_detail::check_store(d)) return why;
  if (auto why = cli_detail::check_day2(d.c, env)) return why;
  if (auto why = cli_detail::check_fleet(d.c)) return why;
  if (auto why = cli_detail::check_secret_sources(d.c, env)) return why;
  if (auto why = cli_detail::check_drain(d.c)) return why;
  if (d.c.backend == backend_kind::redis)
    if (auto why = cli_detail::check_redis(d.c, env)) return why;
  return std::nullopt;
}

}  // namespace dualcred_rotate
