// dualcred-rotate: the rotation runbook as a command. Each step reads the store, does what is left,
// and records it with a check-and-set write; `all` runs (or finishes) a whole rotation.
//
//   dualcred-rotate --store file --file /run/app/db.env --backend postgres all
//   VAULT_ADDR=... VAULT_TOKEN=... dualcred-rotate --store vault --vault-path mutt/prod
//       --backend redis --redis-host 10.0.0.5 promote
//
// Passwords never appear in its output. See --help for the exit codes.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <dualcred/http/curl.hpp>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/postgres_admin.hpp>
#include <dualcred/rotation/redis_admin.hpp>
#include <dualcred/rotation/vault_store.hpp>

using namespace dualcred;
using namespace dualcred::rotation;

namespace {

// One exit code per kind of failure, so a scheduler or a script can react to each.
enum exit_code : int {
  exit_ok = 0,
  exit_other = 1,
  exit_usage = 2,          // bad flags or environment
  exit_store = 3,          // the secret store could not be read or written
  exit_conflict = 4,       // someone else wrote the store meanwhile (check-and-set)
  exit_backend_down = 5,   // the database or cache could not be reached
  exit_admin_refused = 6,  // the backend refused the admin: login, privilege, missing user
  exit_verify = 7,         // the new CURRENT could not log in
  exit_fleet = 8,          // instances did not report the new version in time
  exit_order = 9,          // the step does not fit where the rotation stands
};

constexpr std::string_view usage = R"(usage: dualcred-rotate [options] STEP
  STEP: prepare | apply | promote | verify | decommission | rollback | all | status
        all runs a whole rotation, or finishes an interrupted one; status prints the phase.

Store (where CURRENT, NEXT and PREVIOUS live):
  --store file|vault          default: file when --file is given, else vault
  --file PATH                 a dotenv file, or a directory of one file per key
  --vault-path PATH           the KV v2 secret (VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE)
  --vault-mount MOUNT         default: secret
  --prefix PREFIX             key prefix: DB_USER, DB_PASS_CURRENT, ... (default: DB for
                              postgres, REDIS for redis)

Backend:
  --backend postgres|redis
  --pg-strategy single|alternating   default: single
  --pg-roles ROLE_A,ROLE_B    the two login roles of the alternating strategy
  --pg-admin CONNINFO         the admin's libpq connection string (default: libpq's
                              environment, PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE)
  --pg-host HOST --pg-port PORT --pg-dbname DB
                              where clients log in, for verify (default: PGHOST, PGPORT,
                              PGDATABASE)
  --redis-host HOST --redis-port PORT   default: REDIS_HOST, REDIS_PORT, else 127.0.0.1:6379
  --redis-admin-user USER     default: REDIS_ADMIN_USER, else "default"; the password is
                              read from REDIS_ADMIN_PASSWORD only (never a flag)
  --redis-acl-save            ACL SAVE after each change (servers with an aclfile)

Rollout:
  --instance URL              a service instance's health endpoint serving the
                              dual_credential status JSON; repeat for each instance. apply and
                              decommission wait until every one reports the store's version.
  --fleet-timeout SECONDS     default: 60
  --settle SECONDS            pause before each backend change (default: 0)
  --password-length N         default: 32

Exit codes:
  0 done   1 other error   2 usage   3 store unreadable or unwritable
  4 check-and-set conflict (another rotator wrote the store; run again)
  5 backend unreachable   6 backend refused the admin (login, privilege, missing user)
  7 the new credential could not log in   8 instances did not report the new version in time
  9 the step does not fit the rotation's phase (or NEXT/PREVIOUS is missing)
)";

struct settings {
  std::string store, file, vault_path, vault_mount = "secret", prefix;
  std::string backend, pg_strategy = "single", pg_roles, pg_admin;
  std::string pg_host, pg_dbname;
  int pg_port = 5432;
  std::string redis_host = "127.0.0.1", redis_admin_user = "default";
  int redis_port = 6379;
  bool redis_acl_save = false;
  std::vector<std::string> instances;
  double fleet_timeout = 60, settle = 0;
  std::size_t password_length = 32;
  std::string command;
};

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

int usage_error(std::string_view why) {
  fmt::print(stderr, "dualcred-rotate: {}\n(see dualcred-rotate --help)\n", why);
  return exit_usage;
}

std::optional<int> to_int(std::string_view s) {
  try {
    std::size_t used = 0;
    const int v = std::stoi(std::string(s), &used);
    if (used == s.size()) return v;
  } catch (...) {
  }
  return std::nullopt;
}

std::optional<double> to_seconds(std::string_view s) {
  try {
    std::size_t used = 0;
    const double v = std::stod(std::string(s), &used);
    if (used == s.size() && v >= 0) return v;
  } catch (...) {
  }
  return std::nullopt;
}

int exit_for(const error& e, failure_site site) {
  if (e.is(errc::conflict)) return exit_conflict;
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
int run(Store store, Admin admin, const settings& s) {
  rotator_options o;
  o.password_length = s.password_length;
  o.settle = std::chrono::milliseconds(static_cast<long long>(s.settle * 1000));
  o.on_progress = [](std::string_view line) { fmt::print("rotate: {}\n", line); };
  if (!s.instances.empty())
    o.instances = fleet{s.instances,
                        http_fetch(curl_transport{}),
                        std::chrono::milliseconds(static_cast<long long>(s.fleet_timeout * 1000)),
                        std::chrono::milliseconds(500),
                        {}};
  rotator r(std::move(store), std::move(admin), rotation_keys::for_prefix(s.prefix), std::move(o));
  std::fflush(stdout);

  if (s.command == "status") {
    auto st = r.state();
    if (!st) {
      fmt::print(stderr, "rotate: error: {}\n", st.error().detail);
      return exit_for(st.error(), r.last_failure());
    }
    const auto& v = st.value();
    fmt::print("phase={} revision={} current_user={} next={} previous={}\n", v.phase, v.revision,
               v.current.user, v.next ? v.next->user : "-", v.previous ? v.previous->user : "-");
    return exit_ok;
  }
  if (s.command == "all") {
    auto done = r.run_all();
    if (!done) {
      fmt::print(stderr, "rotate: error ({}): {}\n", to_string(r.last_failure()),
                 done.error().detail);
      return exit_for(done.error(), r.last_failure());
    }
    fmt::print("rotate: done ({} steps)\n", done.value().size());
    return exit_ok;
  }
  const auto which = parse_step(s.command);
  if (!which) return usage_error(fmt::format("unknown step '{}'", s.command));
  auto done = r.run(*which);
  if (!done) {
    fmt::print(stderr, "rotate: error ({}): {}\n", to_string(r.last_failure()),
               done.error().detail);
    return exit_for(done.error(), r.last_failure());
  }
  fmt::print("rotate: done, phase {}\n", done.value().phase);
  return exit_ok;
}

template <class Store>
int with_backend(Store store, const settings& s) {
  if (s.backend == "redis") {
    redis::params p;
    p.host = s.redis_host;
    p.port = s.redis_port;
    const char* pw = env("REDIS_ADMIN_PASSWORD");
    credential admin{s.redis_admin_user, secret(pw != nullptr ? pw : "")};
    return run(std::move(store), redis_acl_admin(p, std::move(admin), {s.redis_acl_save}), s);
  }
  pg_admin_config c;
  c.admin_conninfo = secret(s.pg_admin);
  c.clients.host = s.pg_host;
  c.clients.port = s.pg_port;
  c.clients.dbname = s.pg_dbname;
  if (s.pg_strategy == "single")
    return run(std::move(store), pg_single_role_admin(std::move(c)), s);
  const auto comma = s.pg_roles.find(',');
  if (comma == std::string::npos || comma == 0 || comma + 1 == s.pg_roles.size())
    return usage_error("--pg-strategy alternating needs --pg-roles ROLE_A,ROLE_B");
  return run(std::move(store),
             pg_alternating_roles_admin(std::move(c), s.pg_roles.substr(0, comma),
                                        s.pg_roles.substr(comma + 1)),
             s);
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  if (const char* v = env("PGHOST")) s.pg_host = v;
  if (const char* v = env("PGPORT"); v && to_int(v)) s.pg_port = *to_int(v);
  if (const char* v = env("PGDATABASE")) s.pg_dbname = v;
  if (const char* v = env("REDIS_HOST")) s.redis_host = v;
  if (const char* v = env("REDIS_PORT"); v && to_int(v)) s.redis_port = *to_int(v);
  if (const char* v = env("REDIS_ADMIN_USER")) s.redis_admin_user = v;

  std::vector<std::string_view> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      fmt::print("{}", usage);
      return exit_ok;
    }
    if (!a.starts_with("--")) {
      if (!s.command.empty()) return usage_error("more than one STEP given");
      s.command = a;
      continue;
    }
    if (a == "--redis-acl-save") {
      s.redis_acl_save = true;
      continue;
    }
    if (i + 1 >= args.size()) return usage_error(fmt::format("{} needs a value", a));
    const std::string v(args[++i]);
    if (a == "--store")
      s.store = v;
    else if (a == "--file")
      s.file = v;
    else if (a == "--vault-path")
      s.vault_path = v;
    else if (a == "--vault-mount")
      s.vault_mount = v;
    else if (a == "--prefix")
      s.prefix = v;
    else if (a == "--backend")
      s.backend = v;
    else if (a == "--pg-strategy")
      s.pg_strategy = v;
    else if (a == "--pg-roles")
      s.pg_roles = v;
    else if (a == "--pg-admin")
      s.pg_admin = v;
    else if (a == "--pg-host")
      s.pg_host = v;
    else if (a == "--pg-dbname")
      s.pg_dbname = v;
    else if (a == "--redis-host")
      s.redis_host = v;
    else if (a == "--redis-admin-user")
      s.redis_admin_user = v;
    else if (a == "--instance")
      s.instances.push_back(v);
    else if (a == "--pg-port" || a == "--redis-port" || a == "--password-length") {
      const auto n = to_int(v);
      if (!n || *n <= 0) return usage_error(fmt::format("{} wants a positive number", a));
      if (a == "--pg-port")
        s.pg_port = *n;
      else if (a == "--redis-port")
        s.redis_port = *n;
      else
        s.password_length = static_cast<std::size_t>(*n);
    } else if (a == "--fleet-timeout" || a == "--settle") {
      const auto secs = to_seconds(v);
      if (!secs) return usage_error(fmt::format("{} wants seconds", a));
      (a == "--settle" ? s.settle : s.fleet_timeout) = *secs;
    } else {
      return usage_error(fmt::format("unknown option {}", a));
    }
  }
  if (s.command.empty()) return usage_error("no STEP given");
  if (s.backend != "postgres" && s.backend != "redis")
    return usage_error("--backend postgres|redis is required");
  if (s.pg_strategy != "single" && s.pg_strategy != "alternating")
    return usage_error("--pg-strategy is single or alternating");
  if (s.prefix.empty()) s.prefix = s.backend == "redis" ? "REDIS" : "DB";
  if (s.store.empty()) s.store = s.file.empty() ? "vault" : "file";

  if (s.store == "file") {
    if (s.file.empty()) return usage_error("--store file needs --file PATH");
    return with_backend(file_store(s.file), s);
  }
  if (s.store != "vault") return usage_error("--store is file or vault");
  if (s.vault_path.empty()) return usage_error("--store vault needs --vault-path PATH");
  auto config = vault_config::from_env(s.vault_path, s.vault_mount);
  if (!config) return usage_error(config.error().detail);
  return with_backend(vault_store<curl_transport>(curl_transport{}, std::move(config).value()), s);
}
