// dualcred-rotate: the rotation runbook as a command. Each step reads the store, does what is
// left, and records it with a check-and-set write; `all` runs (or finishes) a whole rotation.
//
//   dualcred-rotate --file /run/app/db.env --backend postgres all
//   VAULT_ADDR=... VAULT_TOKEN=... dualcred-rotate --vault-path mutt/prod
//       --backend redis --redis-host 10.0.0.5 promote
//
// No secret is taken from the command line and none appears in its output. `--help` lists
// the steps, flags, environment and exit codes (cli.hpp renders it from the flag table).

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include <dualcred/http/curl.hpp>
#include <dualcred/http/curl_multi.hpp>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/fleet/http_check.hpp>
#include <dualcred/rotation/fleet/prometheus_check.hpp>
#if DUALCRED_ROTATE_HAVE_CARES
#include <dualcred/rotation/fleet/dns.hpp>
#endif
#include <dualcred/rotation/pg/admin.hpp>
#include <dualcred/rotation/redis/admin.hpp>
#include <dualcred/rotation/stores/vault.hpp>

#include <dualcred/rotation/detail/printable.hpp>
#include "cli.hpp"
#include "config.hpp"
#include "day2.hpp"
#include "environment.hpp"
#include "exit_codes.hpp"
#include "hardening.hpp"
#include "pg_conninfo.hpp"
#include "pg_deployment_flags.hpp"
#include "redis_deployment_flags.hpp"
#include "secret_inputs.hpp"

// The tool holds CURRENT, NEXT and admin passwords: tools/meson.build keeps every secret's
// bytes out of core dumps.
static_assert(DUALCRED_SECRET_DONTDUMP == 1,
              "dualcred-rotate is built with secrets kept out of dumps");

using namespace dualcred;
using namespace dualcred::rotation;
using namespace dualcred_rotate;
using std::chrono::milliseconds;

namespace {

int usage(std::string_view why) {
  fmt::print(stderr, "dualcred-rotate: {}\n(see dualcred-rotate --help)\n", printable(why));
  return exit_usage;
}

int failed(std::string_view why, int code) {
  fmt::print(stderr, "dualcred-rotate: error: {}\n", printable(why));
  return code;
}

void progress(std::string_view line) {
  fmt::print("dualcred-rotate: {}\n", printable(line));
}

// The instances that must have read the new credentials: from Prometheus, or asked directly
// (the --instance list and what --instances-dns finds each round), every one at once.
rotation::fleet_check fleet_check_for(const config& s) {
  const fleet_settings& f = s.fleet;
  if (!f.prometheus_url.empty())
    return fleet::prometheus_check{f.prometheus_url,
                                   f.prometheus_query.empty()
                                       ? std::string(fleet::default_prometheus_query)
                                       : f.prometheus_query,
                                   f.prometheus_max_age,
                                   fleet::http_fetch(curl_transport{}),
                                   s.fleet_timeout,
                                   milliseconds(1000)};
  if (s.instances.empty() && f.dns_names.empty()) return {};
  fleet::http_check check{s.instances, {}, s.fleet_timeout, milliseconds(500), {}};
  check.fetch_all = curl_multi_transport{};
  check.instance_timeout = f.instance_timeout;
#if DUALCRED_ROTATE_HAVE_CARES
  if (!f.dns_names.empty()) {
    std::vector<fleet::dns_instances> names;
    for (const auto& n : f.dns_names) {
      const auto colon = n.rfind(':');
      const bool own_port = colon != std::string::npos;
      // NAME:PORT's port was checked when the flag was read.
      const int port = own_port ? std::atoi(n.c_str() + colon + 1) : f.dns_port;
      names.push_back(fleet::dns_instances{own_port ? n.substr(0, colon) : n, port, f.dns_scheme,
                                           f.dns_path, f.dns_server});
    }
    check.discover = [names]() -> result<std::vector<std::string>> {
      std::vector<std::string> all;
      for (const auto& n : names) {
        auto found = n();
        if (!found) return boost::outcome_v2::failure(std::move(found).error());
        all.insert(all.end(), found.value().begin(), found.value().end());
      }
      return all;
    };
  }
#endif
  return check;
}

// The runbook step a command is (the six steps share their names with rotation::step).
std::optional<rotation::step> to_step(command_kind k) {
  return is_runbook_step(k) ? rotation::parse_step(dualcred_rotate::to_string(k)) : std::nullopt;
}

// break-lock: a Vault lock is freed only when `holder` is exactly the one holding it.
template <class Store>
int break_lock(Store& store, const std::string& holder) {
  if (holder.empty()) return usage("break-lock needs --lock-holder TEXT");
  if constexpr (requires { store.break_rotation_lock(holder); }) {
    auto done = store.break_rotation_lock(holder);
    if (!done) return failed(done.error().detail, exit_other);
    fmt::print("dualcred-rotate: break-lock: freed the rotation lock {} held\n", printable(holder));
    return exit_ok;
  } else {
    return failed(
        "a file store's rotation lock is an flock: it ends with its holder's process, and "
        "nothing else can hold it; nothing to break",
        exit_other);
  }
}

template <class Store, class Admin>
int run(Store store, Admin admin, const config& s, environment& env,
        std::function<result<void>(const std::string&)> create_user = {}) {
  rotator_options o;
  o.password_length = s.password_length;
  o.policy = s.day2.policy;
  o.settle = s.settle;
  o.on_progress = progress;
  o.lock.wait = s.lock_wait;
  o.lock.lease = std::chrono::duration_cast<std::chrono::seconds>(s.lock_lease);
  o.instances = fleet_check_for(s);
  o.drain = s.drain;
  rotator r(std::move(store), std::move(admin), rotation_keys::for_prefix(s.prefix), std::move(o));
  std::fflush(stdout);

  const failure_context context{to_string(s.command), s.day2.generate};
  if (s.command == command_kind::break_lock) return break_lock(r.store(), s.lock_holder);
  if (const auto code = run_day2(r, s, env, std::move(create_user))) return *code;
  if (s.command == command_kind::status) {
    auto st = r.state();
    if (!st) return report_failure(st.error(), context);
    const auto& v = st.value();
    fmt::print("phase={} revision={} current_user={} next={} previous={}\n", v.phase, v.revision,
               printable(v.current.user), v.next ? printable(v.next->user) : "-",
               v.previous ? printable(v.previous->user) : "-");
    return exit_ok;
  }
  if (const auto code = pg_topology_precheck(r, s.command)) return *code;
  if (s.command == command_kind::all) {
    auto done = r.run_all();
    if (!done) return report_failure(done.error(), context);
    fmt::print("dualcred-rotate: done ({} steps)\n", done.value().size());
    return exit_ok;
  }
  const auto which = to_step(s.command);
  if (!which) return failed("no runbook step to run", exit_other);
  auto done = r.run(*which);
  if (!done) return report_failure(done.error(), context);
  fmt::print("dualcred-rotate: done, phase {}\n", done.value().phase);
  return exit_ok;
}

// A secret from its file flag (the strict private-file reader) or else its variable; the
// parser made sure not both.
result<std::optional<secret>> secret_from(std::string_view flag, const std::string& file,
                                          std::optional<secret>& from_env) {
  if (file.empty()) return std::move(from_env);
  auto read = read_private_file(flag, file);
  if (!read) return boost::outcome_v2::failure(std::move(read).error());
  return std::optional<secret>(std::move(read).value());
}

// Values on the command line that need libpq or hiredis to judge: a --pg-admin holding a
// password, an --acl-rules rule that sets one.
std::optional<std::string> command_line_problem(const config& c) {
  if (c.pg_admin) switch (check_conninfo(*c.pg_admin)) {
      case conninfo_check::malformed:
        return "--pg-admin is not a valid libpq connection string";
      case conninfo_check::holds_secret:
        return "--pg-admin must not hold a password (a command line is visible to every user): "
               "use PGPASSWORD, PGPASSFILE or --pg-admin-file";
      case conninfo_check::ok:
        break;
    }
  for (const auto& r : c.day2.acl_rules)
    if (const auto why = rotation::redis::acl_rule_problem(r); !why.empty())
      return fmt::format("--acl-rules: a rule is {}", why);
  return std::nullopt;
}

template <class Store>
int with_redis(Store store, const config& s, environment& env) {
  dualcred::redis::params p;
  p.host = s.redis_host;
  p.port = s.redis_port;
  auto password = secret_from("--redis-admin-password-file", s.redis_admin_password_file,
                              env.redis_admin_password);
  if (!password) return usage(password.error().detail);
  auto sentinel_password =
      secret_from("--redis-sentinel-password-file", s.redis_topology.sentinel_password_file,
                  env.redis_sentinel_password);
  if (!sentinel_password) return usage(sentinel_password.error().detail);
  credential admin{s.redis_admin_user, std::move(password).value().value_or(secret())};
  auto create = day2_redis_creator(p, admin, s.day2);
  dualcred::rotation::redis::admin_options ro;
  ro.acl_save = s.redis_acl_save;
  ro.topology =
      redis_topology_from(s.redis_topology, p.timeout, std::move(sentinel_password).value());
  ro.on_node = progress;
  ro.allow = s.redis_topology.allow;
  if (const auto warning = redis_plaintext_warning(s))
    fmt::print(stderr, "dualcred-rotate: {}\n", printable(*warning));
  dualcred::rotation::redis::acl_admin ra(p, std::move(admin), std::move(ro));
  if (const auto code = redis_topology_precheck(ra, s.command)) return *code;
  return run(std::move(store), std::move(ra), s, env, std::move(create));
}

template <class Store>
int with_postgres(Store store, const config& s, environment& env) {
  dualcred::rotation::pg::admin_config c;
  secret conninfo;
  if (!s.pg_admin_file.empty()) {
    auto read = read_private_file("--pg-admin-file", s.pg_admin_file);
    if (!read) return usage(read.error().detail);
    if (check_conninfo(read.value()) == conninfo_check::malformed)
      return usage(fmt::format("--pg-admin-file: {} does not hold a valid libpq connection string",
                               s.pg_admin_file));
    conninfo = std::move(read).value();
  } else if (s.pg_admin) {
    conninfo = *s.pg_admin;
  }
  // TLS settings as connection keywords; the operator's connection string keeps its own.
  c.admin_conninfo = admin_conninfo(conninfo, s.sslmode, s.pg_sslrootcert);
  c.clients.host = s.pg_host;
  c.clients.port = s.pg_port;
  c.clients.dbname = s.pg_dbname;
  c.clients.sslmode = std::string(name_of(sslmode_names, s.sslmode));
  c.clients.sslrootcert = s.pg_sslrootcert;
  auto console_password =
      secret_from("--pgbouncer-admin-password-file", s.pg_topology.admin_password_file,
                  env.pgbouncer_admin_password);
  if (!console_password) return usage(console_password.error().detail);
  const pgbouncer_console_login console{env.pgbouncer_admin_user,
                                        std::move(console_password).value().value_or(secret())};
  if (const auto why = apply_pg_topology(s.pg_topology, s.strategy, c, console)) return usage(*why);
  auto create = day2_pg_creator(c, s.day2);
  if (s.strategy == pg_strategy::single)
    return run(std::move(store), dualcred::rotation::pg::single_role_admin(std::move(c)), s, env,
               std::move(create));
  return run(std::move(store),
             dualcred::rotation::pg::alternating_roles_admin(std::move(c), s.pg_roles.first,
                                                             s.pg_roles.second),
             s, env, std::move(create));
}

template <class Store>
int with_backend(Store store, const config& s, environment& env) {
  if (s.backend == backend_kind::redis) return with_redis(std::move(store), s, env);
  return with_postgres(std::move(store), s, env);
}

// As the Vault CLI: VAULT_ADDR (default https://127.0.0.1:8200), VAULT_TOKEN else
// ~/.vault-token, VAULT_NAMESPACE; --vault-token-file before all of them.
result<vault_config> vault_from(const config& s, environment& env) {
  vault_config v;
  v.mount = s.vault_mount;
  v.path = s.vault_path;
  if (env.vault_addr && env.vault_addr->empty())
    return fail(errc::invalid_argument, "VAULT_ADDR is empty");
  v.address = env.vault_addr.value_or("https://127.0.0.1:8200");
  if (env.vault_token) {
    v.token = std::move(*env.vault_token);
  } else if (env.home) {
    std::error_code ec;
    const auto file = std::filesystem::path(*env.home) / ".vault-token";
    if (std::filesystem::exists(file, ec)) v.token_file = file.string();
  }
  if (env.vault_namespace) v.namespace_ = *env.vault_namespace;
  if (!s.vault_token_file.empty()) {
    auto token = read_private_file("--vault-token-file", s.vault_token_file);
    if (!token) return boost::outcome_v2::failure(std::move(token).error());
    v.token = std::move(token).value();
    v.token_file.clear();
  }
  return v;
}

int run_config(const config& s, environment& env) {
  if (const auto why = command_line_problem(s)) return usage(*why);
  if (s.store == store_kind::file)
    return with_backend(dualcred::rotation::stores::file_store(s.file), s, env);
  auto vault = vault_from(s, env);
  if (!vault) return usage(vault.error().detail);
  // VAULT_CACERT / VAULT_CAPATH name the CAs to trust for VAULT_ADDR.
  curl_options http;
  if (env.vault_cacert) http.ca_file = *env.vault_cacert;
  if (env.vault_capath) http.ca_path = *env.vault_capath;
  return with_backend(dualcred::rotation::stores::vault_store<curl_transport>(
                          curl_transport{std::move(http)}, std::move(vault).value()),
                      s, env);
}

}  // namespace

int main(int argc, char** argv) {
  // First, before any secret is read: no core dump, no ptrace by the same user.
  const bool undumpable = make_undumpable();
  environment env = environment::from_process();
  environment::wipe_process_secrets();
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  auto parsed = parse_command_line(args, env);
  if (const auto* help = std::get_if<help_request>(&parsed)) {
    fmt::print("{}", help->text);
    return exit_ok;
  }
  if (const auto* bad = std::get_if<dualcred_rotate::usage_error>(&parsed))
    return usage(bad->message);
  if (!undumpable)
    return failed(
        "the kernel refused prctl(PR_SET_DUMPABLE, 0): not going on with secrets "
        "that a core dump could hold",
        exit_other);
  return run_config(std::get<config>(parsed), env);
}
