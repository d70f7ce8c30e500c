#pragma once

// dualcred-rotate's PostgreSQL topology flags: hot standbys (--pg-standby, --replay-timeout)
// and PgBouncer (--pgbouncer, --pgbouncer-auth-file; the admin console's login from
// PGBOUNCER_ADMIN_USER / PGBOUNCER_ADMIN_PASSWORD).

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <cstdio>

#include <fmt/format.h>

#include <dualcred/rotation/pg/admin.hpp>
#include <dualcred/rotation/rotator.hpp>

#include "args.hpp"
#include "exit_codes.hpp"

namespace dualcred_rotate {

struct host_port {
  std::string host;
  int port = 0;
};

struct pg_topology_settings {
  std::vector<host_port> standbys;
  std::chrono::milliseconds replay_timeout{60'000};
  std::vector<host_port> pgbouncers;
  std::vector<std::string> auth_files;
};

inline constexpr std::string_view pg_topology_usage =
    R"(  --pg-standby HOST:PORT      a hot standby of the primary; repeat for each. After each
                              change the step waits until every standby has replayed it,
                              and verify logs in on each. The admin reaches it with the
                              primary's admin connection string at HOST:PORT.
  --replay-timeout DURATION   how long to wait for the standbys' replay (default: 60s; at
                              most 1h); exit code 10 when it passes
  --pgbouncer HOST:PORT       a PgBouncer clients connect through (to --pg-dbname); repeat
                              for each. verify logs in through each; after an auth_file
                              change each is sent RELOAD on its admin console, as
                              PGBOUNCER_ADMIN_USER with PGBOUNCER_ADMIN_PASSWORD.
  --pgbouncer-auth-file PATH  a PgBouncer auth_file holding the users' SCRAM verifiers;
                              repeat for each. The role's line gets the verifier the server
                              got (atomic replace, other lines, mode and owner kept); only
                              with --pg-strategy alternating. Without it (auth_query),
                              nothing is written.
)";

/// `HOST:PORT`, `[V6]:PORT`; nullopt when malformed.
[[nodiscard]] inline std::optional<host_port> parse_host_port(std::string_view text) {
  std::string_view host, port;
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;
  }
  const auto p = parse_integer(port, 1, 65535);
  if (host.empty() || !p) return std::nullopt;
  return host_port{std::string(host), static_cast<int>(*p)};
}

/// Takes one of the flags above: true when `flag` is one (`error` set when its value is bad).
inline bool parse_pg_topology_flag(std::string_view flag, std::string_view value,
                                   pg_topology_settings& s, std::string& error) {
  if (flag == "--pg-standby" || flag == "--pgbouncer") {
    const auto hp = parse_host_port(value);
    if (!hp)
      error = fmt::format("{} wants HOST:PORT (IPv6 as [ADDR]:PORT), port 1 to 65535", flag);
    else
      (flag == "--pg-standby" ? s.standbys : s.pgbouncers).push_back(*hp);
    return true;
  }
  if (flag == "--replay-timeout") {
    const auto d = parse_duration(value, std::chrono::milliseconds(1), std::chrono::hours(1));
    if (!d)
      error = "--replay-timeout wants a duration, 1ms to 1h (e.g. 0.5, 30s, 2m)";
    else
      s.replay_timeout = *d;
    return true;
  }
  if (flag == "--pgbouncer-auth-file") {
    if (value.empty())
      error = "--pgbouncer-auth-file wants a path";
    else
      s.auth_files.emplace_back(value);
    return true;
  }
  return false;
}

/// Adds the topology to the admin's configuration; a usage error's text when it does not fit.
[[nodiscard]] inline std::optional<std::string> apply_pg_topology(
    const pg_topology_settings& s, const std::string& strategy,
    dualcred::rotation::pg::admin_config& c) {
  using namespace dualcred;
  if (!s.auth_files.empty() && strategy != "alternating")
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
  const char* user = std::getenv("PGBOUNCER_ADMIN_USER");
  const char* password = std::getenv("PGBOUNCER_ADMIN_PASSWORD");
  const bool need_console = !s.auth_files.empty();
  if (need_console && (user == nullptr || *user == '\0'))
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
    b.admin.user = user != nullptr ? user : "";
    b.admin.password = secret(password != nullptr ? password : "");
    c.pgbouncers.push_back(std::move(b));
  }
  return std::nullopt;
}

/// Before a step that may change something: the standbys, auth_files and PgBouncers are
/// checked (`check_topology`), so bad input stops the run before the store is written.
template <class Rotator>
[[nodiscard]] std::optional<int> pg_topology_precheck(Rotator& r, const std::string& command) {
  if constexpr (requires { r.admin().check_topology(); }) {
    if (command != "all" && !dualcred::rotation::parse_step(command)) return std::nullopt;
    auto ok = r.admin().check_topology();
    if (!ok)
      return report_failure(
          dualcred::rotation::as_failure(dualcred::rotation::failure_site::backend, ok.error(),
                                         r.admin().describe()),
          {command});
  }
  return std::nullopt;
}

}  // namespace dualcred_rotate
