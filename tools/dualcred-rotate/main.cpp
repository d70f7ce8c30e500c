// dualcred-rotate: the rotation runbook as a command. Each step reads the store, does what is
// left, and records it with a check-and-set write; `all` runs (or finishes) a whole rotation.
//
//   dualcred-rotate --file /run/app/db.env --backend postgres all
//   VAULT_ADDR=... VAULT_TOKEN=... dualcred-rotate --vault-path mutt/prod
//       --backend redis --redis-host 10.0.0.5 promote
//
// No secret is taken from the command line and none appears in its output. `--help` lists
// the steps, flags, environment and exit codes.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <dualcred/http/curl.hpp>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/fleet/http_check.hpp>
#include <dualcred/rotation/pg/admin.hpp>
#include <dualcred/rotation/redis/admin.hpp>
#include <dualcred/rotation/stores/vault.hpp>

#include "args.hpp"
#include "day2.hpp"
#include "exit_codes.hpp"
#include "pg_deployment_flags.hpp"
#include "redis_deployment_flags.hpp"
#include "secret_inputs.hpp"

using namespace dualcred;
using namespace dualcred::rotation;
using namespace dualcred_rotate;
using std::chrono::milliseconds;

namespace {

constexpr std::string_view usage = R"(usage: dualcred-rotate [options] STEP
  STEP: prepare | apply | promote | verify | decommission | rollback | all | status
        | init | due (see Day-2 commands below)
    prepare       write a fresh NEXT to the store
    apply         make the backend accept NEXT (CURRENT still works)
    promote       NEXT becomes CURRENT in the store, the old CURRENT becomes PREVIOUS
    verify        log in with the new CURRENT
    decommission  the backend forgets PREVIOUS (the store keeps it for a rollback)
    rollback      PREVIOUS becomes CURRENT again, on the backend and in the store
    all           run a whole rotation, or finish an interrupted one
    status        print the phase and users (never a password)

Store (where CURRENT, NEXT and PREVIOUS live):
  --store file|vault          default: file when --file is given, else vault
  --file PATH                 a dotenv file, or a directory of one file per key
  --vault-path PATH           the KV v2 secret
  --vault-mount MOUNT         default: secret
  --vault-token-file PATH     the Vault token, from a file only its owner can read
                              (default: VAULT_TOKEN, else ~/.vault-token)
  --prefix PREFIX             key prefix: DB_USER, DB_PASS_CURRENT, ... (default: DB for
                              postgres, REDIS for redis)

Backend:
  --backend postgres|redis
  --pg-strategy single|alternating   default: single
  --pg-roles ROLE_A,ROLE_B    the two login roles of the alternating strategy
  --pg-admin CONNINFO         the admin's libpq connection string, without a password
                              (default: libpq's environment)
  --pg-admin-file PATH        the admin's connection string, password allowed, from a file
                              only its owner can read
  --pg-host HOST --pg-port PORT --pg-dbname DB
                              where clients log in, for verify (default: PGHOST, PGPORT,
                              PGDATABASE)
  --pg-sslmode MODE           disable|allow|prefer|require|verify-ca|verify-full, for the
                              admin and verify (default: PGSSLMODE, else libpq's prefer)
  --pg-sslrootcert PATH       CA certificates for verify-ca/verify-full (default:
                              PGSSLROOTCERT, else ~/.postgresql/root.crt)
  --redis-host HOST --redis-port PORT   default: REDIS_HOST, REDIS_PORT, else 127.0.0.1:6379
  --redis-admin-user USER     default: REDIS_ADMIN_USER, else "default"
  --redis-admin-password-file PATH
                              the admin's password, from a file only its owner can read
                              (default: REDIS_ADMIN_PASSWORD)
  --redis-acl-save            keep each change on every node: ACL SAVE (aclfile), else
                              CONFIG REWRITE

Rollout:
  --instance URL              a service instance's health endpoint (http:// or https://, no
                              user:password@) serving the dual_credential status JSON; repeat
                              for each instance. apply and decommission wait until every one
                              reports the store's version.
  --fleet-timeout DURATION    default: 60s; at most 1d
  --settle DURATION           pause before each backend change (default: 0); at most 1h
  --password-length N         16 to 1024, default: 32
  DURATION is a decimal number with an optional unit s (default), m, h or d: 30, 0.5, 2m.

Environment:
  PGHOST PGPORT PGUSER PGPASSWORD PGPASSFILE PGDATABASE PGSSLMODE PGSSLROOTCERT ...
                              libpq's, for the admin (and PGHOST PGPORT PGDATABASE for verify)
  REDIS_HOST REDIS_PORT REDIS_ADMIN_USER REDIS_ADMIN_PASSWORD
  VAULT_ADDR VAULT_TOKEN VAULT_NAMESPACE VAULT_CACERT VAULT_CAPATH   as the Vault CLI
  Secrets are never taken from the command line: a flag value holding one is refused.

Exit codes:
  0 done   1 other error   2 usage (bad flag or environment, or a secret on the command line)
  3 store unreadable or unwritable
  4 check-and-set conflict (another rotator wrote the store; run again)
  5 backend unreachable   6 backend refused the admin (login, privilege, missing user)
  7 the new credential could not log in   8 instances did not report the new version in time
  9 the step does not fit the rotation's phase (or NEXT/PREVIOUS is missing), or init
    found keys that conflict (named; nothing written)
  10 a hot standby (--pg-standby) did not replay a change within --replay-timeout
  11 status --stuck-after: a rotation has sat in a phase other than idle too long
)";

constexpr std::int64_t max_port = 65535;
constexpr milliseconds max_settle = std::chrono::hours(1);
constexpr milliseconds max_fleet_timeout = std::chrono::hours(24);

struct settings {
  std::string store, file, vault_path, vault_mount = "secret", vault_token_file, prefix;
  std::string backend, pg_strategy = "single", pg_roles;
  std::optional<secret> pg_admin;  // holds no password: checked before it is kept
  std::string pg_admin_file;
  std::string pg_host, pg_dbname, pg_sslmode, pg_sslrootcert;
  int pg_port = 5432;
  std::string redis_host = "127.0.0.1", redis_admin_user = "default", redis_admin_password_file;
  int redis_port = 6379;
  bool redis_acl_save = false;
  std::vector<std::string> instances;
  milliseconds fleet_timeout{60'000}, settle{0};
  std::size_t password_length = 32;
  std::string command;
  day2_settings day2;
  pg_topology_settings pg_topology;
  redis_topology_flags redis_topology;
};

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

int usage_error(std::string_view why) {
  fmt::print(stderr, "dualcred-rotate: {}\n(see dualcred-rotate --help)\n", why);
  return exit_usage;
}

int failed(std::string_view why, int code) {
  fmt::print(stderr, "dualcred-rotate: error: {}\n", why);
  return code;
}

// A port from a flag or an environment variable; the error names where it came from.
std::optional<int> port(std::string_view text) {
  const auto n = parse_integer(text, 1, max_port);
  return n ? std::optional<int>(static_cast<int>(*n)) : std::nullopt;
}

// http:// or https:// without user info: a password in the URL would sit on the command line.
std::optional<std::string_view> instance_problem(std::string_view url) {
  std::string_view rest;
  if (url.starts_with("http://"))
    rest = url.substr(7);
  else if (url.starts_with("https://"))
    rest = url.substr(8);
  else
    return "--instance wants an http:// or https:// URL";
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos)
    return "--instance must not carry user info (user:password@): a command line is visible "
           "to every user";
  if (authority.empty()) return "--instance has no host";
  return std::nullopt;
}

int exit_for(const error& e, failure_site site) {
  if (e.is(errc::conflict)) return exit_conflict;
  if (e.is(errc::locked)) return exit_locked;
  switch (site) {
    case failure_site::order:
      return exit_order;
    case failure_site::store:
      return exit_store;
    case failure_site::verify:
      return exit_verify;
    case failure_site::fleet:
      return exit_fleet;
    case failure_site::backend:
      if (e.is(errc::backend_unavailable) || e.is(errc::timeout)) return exit_backend_down;
      if (e.is(errc::invalid_argument)) return exit_usage;
      return exit_admin_refused;
    case failure_site::none:
      break;
  }
  return exit_other;
}

template <class Store, class Admin>
int run(Store store, Admin admin, const settings& s,
        std::function<result<void>(const std::string&)> create_user = {}) {
  rotator_options o;
  o.password_length = s.password_length;
  o.policy = s.day2.policy;
  o.settle = s.settle;
  o.on_progress = [](std::string_view line) { fmt::print("dualcred-rotate: {}\n", line); };
  if (!s.instances.empty())
    o.instances = fleet::http_check{
        s.instances, fleet::http_fetch(curl_transport{}), s.fleet_timeout, milliseconds(500), {}};
  rotator r(std::move(store), std::move(admin), rotation_keys::for_prefix(s.prefix), std::move(o));
  std::fflush(stdout);

  if (const auto code = run_day2(r, s.day2, s.command, s.prefix, std::move(create_user), exit_for))
    return *code;
  if (s.command == "status") {
    auto st = r.state();
    if (!st) return failed(st.error().detail, exit_for(st.error(), r.last_failure()));
    const auto& v = st.value();
    fmt::print("phase={} revision={} current_user={} next={} previous={}\n", v.phase, v.revision,
               v.current.user, v.next ? v.next->user : "-", v.previous ? v.previous->user : "-");
    return exit_ok;
  }
  if (const auto code = pg_topology_precheck(r, s.command, exit_for)) return *code;
  if (s.command == "all") {
    auto done = r.run_all();
    if (!done)
      return failed(fmt::format("({}) {}", to_string(r.last_failure()), done.error().detail),
                    pg_topology_exit(r).value_or(exit_for(done.error(), r.last_failure())));
    fmt::print("dualcred-rotate: done ({} steps)\n", done.value().size());
    return exit_ok;
  }
  const auto which = parse_step(s.command);
  // Not echoed: a word typed in the wrong place may be a password.
  if (!which)
    return usage_error(
        "unknown STEP: prepare, apply, promote, verify, decommission, rollback, all or status");
  auto done = r.run(*which);
  if (!done)
    return failed(fmt::format("({}) {}", to_string(r.last_failure()), done.error().detail),
                  pg_topology_exit(r).value_or(exit_for(done.error(), r.last_failure())));
  fmt::print("dualcred-rotate: done, phase {}\n", done.value().phase);
  return exit_ok;
}

template <class Store>
int with_backend(Store store, const settings& s) {
  if (s.backend == "redis") {
    dualcred::redis::params p;
    p.host = s.redis_host;
    p.port = s.redis_port;
    secret password;
    if (!s.redis_admin_password_file.empty()) {
      auto read = read_private_file("--redis-admin-password-file", s.redis_admin_password_file);
      if (!read) return usage_error(read.error().detail);
      password = std::move(read).value();
    } else if (const char* pw = env("REDIS_ADMIN_PASSWORD")) {
      password = secret(pw);
    }
    credential admin{s.redis_admin_user, std::move(password)};
    auto create = day2_redis_creator(p, admin, s.day2);
    dualcred::rotation::redis::admin_options ro;
    ro.acl_save = s.redis_acl_save;
    auto topology = redis_topology_from(s.redis_topology, p.timeout);
    if (!topology) return usage_error(topology.error().detail);
    ro.topology = std::move(topology).value();
    ro.on_node = [](std::string_view line) { fmt::print("dualcred-rotate: {}\n", line); };
    dualcred::rotation::redis::acl_admin ra(p, std::move(admin), std::move(ro));
    if (const auto code = redis_topology_precheck(ra, s.command, exit_for)) return *code;
    return run(std::move(store), std::move(ra), s, std::move(create));
  }

  dualcred::rotation::pg::admin_config c;
  if (!s.pg_admin_file.empty()) {
    auto read = read_private_file("--pg-admin-file", s.pg_admin_file);
    if (!read) return usage_error(read.error().detail);
    if (check_conninfo(read.value()) == conninfo_check::malformed)
      return usage_error(
          fmt::format("--pg-admin-file: {} does not hold a valid libpq connection "
                      "string",
                      s.pg_admin_file));
    c.admin_conninfo = std::move(read).value();
  } else if (s.pg_admin) {
    c.admin_conninfo = *s.pg_admin;
  }
  // The flags reach the admin's connection through libpq's environment; a connection string
  // that names its own sslmode or sslrootcert keeps it.
  if (!s.pg_sslmode.empty()) ::setenv("PGSSLMODE", s.pg_sslmode.c_str(), 1);
  if (!s.pg_sslrootcert.empty()) ::setenv("PGSSLROOTCERT", s.pg_sslrootcert.c_str(), 1);
  c.clients.host = s.pg_host;
  c.clients.port = s.pg_port;
  c.clients.dbname = s.pg_dbname;
  c.clients.sslmode = s.pg_sslmode;
  c.clients.sslrootcert = s.pg_sslrootcert;
  if (const auto why = apply_pg_topology(s.pg_topology, s.pg_strategy, c)) return usage_error(*why);
  auto create = day2_pg_creator(c, s.day2);
  if (s.pg_strategy == "single")
    return run(std::move(store), dualcred::rotation::pg::single_role_admin(std::move(c)), s,
               std::move(create));
  const auto comma = s.pg_roles.find(',');
  if (comma == std::string::npos || comma == 0 || comma + 1 == s.pg_roles.size())
    return usage_error("--pg-strategy alternating needs --pg-roles ROLE_A,ROLE_B");
  return run(std::move(store),
             dualcred::rotation::pg::alternating_roles_admin(
                 std::move(c), s.pg_roles.substr(0, comma), s.pg_roles.substr(comma + 1)),
             s, std::move(create));
}

// Reads argv into `s`; a usage error's exit code, or nullopt to go on.
std::optional<int> parse_args(std::vector<std::string_view> args, settings& s) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      fmt::print("{}\nPostgreSQL hot standbys and PgBouncer:\n{}\n{}", usage, pg_topology_usage,
                 day2_usage);
      fmt::print("\nRedis replicas, Sentinel and Cluster:\n{}", redis_topology_usage);
      return exit_ok;
    }
    if (!a.starts_with("--")) {
      if (!s.command.empty()) return usage_error("more than one STEP given");
      s.command = a;
      continue;
    }
    // The name only: `--flag=value` is not a form the tool reads, and the value may be secret.
    if (const auto eq = a.find('='); eq != std::string_view::npos)
      return usage_error(
          fmt::format("{}=...: give the value as the next argument", a.substr(0, eq)));
    if (a == "--redis-acl-save") {
      s.redis_acl_save = true;
      continue;
    }
    if (day2_switch(a, s.day2)) continue;
    if (is_redis_topology_switch(a, s.redis_topology)) continue;
    if (i + 1 >= args.size()) return usage_error(fmt::format("{} needs a value", a));
    const std::string_view v = args[++i];
    if (a == "--store")
      s.store = v;
    else if (a == "--file")
      s.file = v;
    else if (a == "--vault-path")
      s.vault_path = v;
    else if (a == "--vault-mount")
      s.vault_mount = v;
    else if (a == "--vault-token-file")
      s.vault_token_file = v;
    else if (a == "--prefix")
      s.prefix = v;
    else if (a == "--backend")
      s.backend = v;
    else if (a == "--pg-strategy")
      s.pg_strategy = v;
    else if (a == "--pg-roles")
      s.pg_roles = v;
    else if (a == "--pg-admin") {
      secret conninfo(v);
      switch (check_conninfo(conninfo)) {
        case conninfo_check::malformed:
          return usage_error("--pg-admin is not a valid libpq connection string");
        case conninfo_check::holds_secret:
          return usage_error(
              "--pg-admin must not hold a password (a command line is visible to every user): "
              "use PGPASSWORD, PGPASSFILE or --pg-admin-file");
        case conninfo_check::ok:
          break;
      }
      s.pg_admin = std::move(conninfo);
    } else if (a == "--pg-admin-file")
      s.pg_admin_file = v;
    else if (a == "--pg-host")
      s.pg_host = v;
    else if (a == "--pg-dbname")
      s.pg_dbname = v;
    else if (a == "--pg-sslmode") {
      if (v != "disable" && v != "allow" && v != "prefer" && v != "require" && v != "verify-ca" &&
          v != "verify-full")
        return usage_error(
            "--pg-sslmode is one of disable, allow, prefer, require, verify-ca, verify-full");
      s.pg_sslmode = v;
    } else if (a == "--pg-sslrootcert")
      s.pg_sslrootcert = v;
    else if (a == "--redis-host")
      s.redis_host = v;
    else if (a == "--redis-admin-user")
      s.redis_admin_user = v;
    else if (a == "--redis-admin-password-file")
      s.redis_admin_password_file = v;
    else if (a == "--instance") {
      if (const auto why = instance_problem(v)) return usage_error(*why);
      s.instances.emplace_back(v);
    } else if (a == "--pg-port" || a == "--redis-port") {
      const auto p = port(v);
      if (!p) return usage_error(fmt::format("{} wants a port number, 1 to {}", a, max_port));
      (a == "--pg-port" ? s.pg_port : s.redis_port) = *p;
    } else if (a == "--password-length") {
      const auto n = parse_integer(v, 16, 1024);
      if (!n) return usage_error("--password-length wants a whole number, 16 to 1024");
      s.password_length = static_cast<std::size_t>(*n);
    } else if (a == "--settle") {
      const auto d = parse_duration(v, milliseconds(0), max_settle);
      if (!d) return usage_error("--settle wants a duration, 0 to 1h (e.g. 0.5, 30s, 2m)");
      s.settle = *d;
    } else if (a == "--fleet-timeout") {
      const auto d = parse_duration(v, milliseconds(1), max_fleet_timeout);
      if (!d) return usage_error("--fleet-timeout wants a duration, 1ms to 1d (e.g. 0.5, 60s, 5m)");
      s.fleet_timeout = *d;
    } else if (const int taken = day2_option(a, v, s.day2); taken >= 0) {
      if (taken != 0) return taken;
    } else if (std::string why; parse_pg_topology_flag(a, v, s.pg_topology, why)) {
      if (!why.empty()) return usage_error(why);
    } else if (const auto taken = take_redis_topology_flag(a, v, s.redis_topology)) {
      if (*taken) return usage_error(**taken);
    } else {
      return usage_error(fmt::format("unknown option {}", a));
    }
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  if (const char* v = env("PGHOST")) s.pg_host = v;
  if (const char* v = env("PGPORT")) {
    const auto p = port(v);
    if (!p) return usage_error(fmt::format("PGPORT wants a port number, 1 to {}", max_port));
    s.pg_port = *p;
  }
  if (const char* v = env("PGDATABASE")) s.pg_dbname = v;
  if (const char* v = env("PGSSLMODE")) s.pg_sslmode = v;
  if (const char* v = env("PGSSLROOTCERT")) s.pg_sslrootcert = v;
  if (const char* v = env("REDIS_HOST")) s.redis_host = v;
  if (const char* v = env("REDIS_PORT")) {
    const auto p = port(v);
    if (!p) return usage_error(fmt::format("REDIS_PORT wants a port number, 1 to {}", max_port));
    s.redis_port = *p;
  }
  if (const char* v = env("REDIS_ADMIN_USER")) s.redis_admin_user = v;

  if (const auto code = parse_args({argv + 1, argv + argc}, s)) return *code;
  if (s.command.empty()) return usage_error("no STEP given");
  if (s.backend != "postgres" && s.backend != "redis")
    return usage_error("--backend postgres|redis is required");
  if (s.pg_strategy != "single" && s.pg_strategy != "alternating")
    return usage_error("--pg-strategy is single or alternating");
  if (s.pg_admin && !s.pg_admin_file.empty())
    return usage_error("give --pg-admin or --pg-admin-file, not both");
  if (s.prefix.empty()) s.prefix = s.backend == "redis" ? "REDIS" : "DB";
  if (s.store.empty()) s.store = s.file.empty() ? "vault" : "file";

  if (s.store == "file") {
    if (s.file.empty()) return usage_error("--store file needs --file PATH");
    return with_backend(dualcred::rotation::stores::file_store(s.file), s);
  }
  if (s.store != "vault") return usage_error("--store is file or vault");
  if (s.vault_path.empty()) return usage_error("--store vault needs --vault-path PATH");
  auto config = vault_config::from_env(s.vault_path, s.vault_mount);
  if (!config) return usage_error(config.error().detail);
  if (!s.vault_token_file.empty()) {
    auto token = read_private_file("--vault-token-file", s.vault_token_file);
    if (!token) return usage_error(token.error().detail);
    config.value().token = std::move(token).value();
    config.value().token_file.clear();
  }
  // As the Vault CLI: VAULT_CACERT / VAULT_CAPATH name the CAs to trust for VAULT_ADDR.
  return with_backend(dualcred::rotation::stores::vault_store<curl_transport>(
                          curl_transport{curl_options_from_vault_env()}, std::move(config).value()),
                      s);
}
