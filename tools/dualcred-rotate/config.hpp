#pragma once

// dualcred-rotate's typed configuration: what the flag table (cli.hpp) and the environment
// (environment.hpp) produce, once. Closed sets are enums, durations are parsed, addresses are
// split; nothing later re-reads a flag's text.

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <dualcred/rotation/drain.hpp>
#include <dualcred/rotation/password.hpp>
#include <dualcred/secret.hpp>

#include <dualcred/rotation/detail/printable.hpp>
#include <dualcred/rotation/redis/allow.hpp>

#include "args.hpp"
#include "net.hpp"

namespace dualcred_rotate {

// Everything the tool prints from a server goes through it.
using dualcred::rotation::detail::printable;

enum class backend_kind { postgres, redis };
enum class store_kind { file, vault };
enum class pg_strategy { single, alternating };
enum class pg_sslmode { unset, disable, allow, prefer, require, verify_ca, verify_full };

/// What the tool runs: the six runbook steps, then `all`, `status` and the day-2 commands.
enum class command_kind {
  prepare,
  apply,
  promote,
  verify,
  decommission,
  rollback,
  all,
  status,
  init,
  due,
  break_lock
};

/// A name and its value, for every closed set the command line takes: parsing and printing
/// read the same table.
template <class E>
struct named {
  std::string_view name;
  E value;
};

/// Every STEP, listed once: the parser, --help and the step runner read it.
struct command_info {
  std::string_view name;
  command_kind kind;
  std::string_view help;
};

inline constexpr std::array<command_info, 11> commands{{
    {"prepare", command_kind::prepare, "write a fresh NEXT to the store"},
    {"apply", command_kind::apply, "make the backend accept NEXT (CURRENT still works)"},
    {"promote", command_kind::promote,
     "NEXT becomes CURRENT in the store, the old CURRENT becomes PREVIOUS"},
    {"verify", command_kind::verify, "log in with the new CURRENT"},
    {"decommission", command_kind::decommission,
     "the backend forgets PREVIOUS (the store keeps it for a rollback)"},
    {"rollback", command_kind::rollback,
     "PREVIOUS becomes CURRENT again, on the backend and in the store"},
    {"all", command_kind::all, "run a whole rotation, or finish an interrupted one"},
    {"status", command_kind::status, "print the phase and users (never a password)"},
    {"init", command_kind::init,
     "create this prefix's keys in the store: CURRENT (the backend's present\npassword, or "
     "--generate), a fresh NEXT, ROTATED_AT and the password\npolicy; a store already holding "
     "consistent keys is left as it is"},
    {"due", command_kind::due,
     "with --max-age: a whole rotation when CURRENT is older than that (or its\nage is "
     "unknown), the rest of an interrupted one, else nothing; prints which"},
    {"break-lock", command_kind::break_lock,
     "with --lock-holder: free a Vault store's rotation lock held by exactly\nthat holder (one "
     "that is gone before its lease ends); a file store's\nlock ends with its holder's process"},
}};

[[nodiscard]] constexpr std::string_view to_string(command_kind k) noexcept {
  for (const auto& c : commands)
    if (c.kind == k) return c.name;
  return "?";
}

/// True for the six runbook steps (each one `rotator::run` call).
[[nodiscard]] constexpr bool is_runbook_step(command_kind k) noexcept {
  return k != command_kind::all && k != command_kind::status && k != command_kind::init &&
         k != command_kind::due;
}

/// True for what may change or check the backend: the steps and `all`.
[[nodiscard]] constexpr bool touches_backend(command_kind k) noexcept {
  return is_runbook_step(k) || k == command_kind::all;
}

inline constexpr std::array<named<backend_kind>, 2> backend_names{
    {{"postgres", backend_kind::postgres}, {"redis", backend_kind::redis}}};
inline constexpr std::array<named<store_kind>, 2> store_names{
    {{"file", store_kind::file}, {"vault", store_kind::vault}}};
inline constexpr std::array<named<pg_strategy>, 2> strategy_names{
    {{"single", pg_strategy::single}, {"alternating", pg_strategy::alternating}}};
inline constexpr std::array<named<pg_sslmode>, 6> sslmode_names{
    {{"disable", pg_sslmode::disable},
     {"allow", pg_sslmode::allow},
     {"prefer", pg_sslmode::prefer},
     {"require", pg_sslmode::require},
     {"verify-ca", pg_sslmode::verify_ca},
     {"verify-full", pg_sslmode::verify_full}}};

template <class E, std::size_t N>
[[nodiscard]] constexpr std::optional<E> lookup(const std::array<named<E>, N>& table,
                                                std::string_view text) noexcept {
  for (const auto& n : table)
    if (n.name == text) return n.value;
  return std::nullopt;
}

template <class E, std::size_t N>
[[nodiscard]] constexpr std::string_view name_of(const std::array<named<E>, N>& table,
                                                 E value) noexcept {
  for (const auto& n : table)
    if (n.value == value) return n.name;
  return {};
}

/// Where the fleet check finds instances besides --instance, and how long each may take.
struct fleet_settings {
  std::vector<std::string> dns_names;  ///< --instances-dns, NAME or NAME:PORT
  int dns_port = 0;                    ///< --instances-port
  std::string dns_scheme = "http";     ///< --instances-scheme
  std::string dns_path = "/health";    ///< --instances-path
  std::string dns_server;              ///< --dns-server HOST:PORT
  std::string prometheus_url;          ///< --prometheus URL
  std::string prometheus_query;        ///< --prometheus-query
  std::chrono::milliseconds prometheus_max_age{120'000};
  std::chrono::milliseconds instance_timeout{5'000};
};

/// The day-2 flags (init, due, status --json / --prometheus / --stuck-after).
struct day2_settings {
  std::string user, current_file;
  bool generate = false, create_user = false, json = false, prometheus = false;
  bool adopt_privileged = false;  ///< --adopt-privileged-role
  std::vector<std::string> grants, acl_rules;
  std::optional<dualcred::rotation::password_policy> policy;
  std::optional<std::chrono::seconds> max_age, stuck_after;
};

/// Hot standbys and PgBouncer.
struct pg_topology_settings {
  std::vector<host_port> standbys;
  std::chrono::milliseconds replay_timeout{60'000};
  std::vector<host_port> pgbouncers;
  std::vector<std::string> auth_files;
  std::string admin_password_file;  ///< --pgbouncer-admin-password-file
};

/// Which Redis nodes a rotation reaches, and which discovered ones it may trust.
struct redis_topology_flags {
  std::vector<host_port> nodes, sentinels;
  std::optional<host_port> cluster;
  std::string master, sentinel_user;
  std::string sentinel_password_file;  ///< --redis-sentinel-password-file
  bool single_node = false;
  /// --redis-allow, or (not given) the hosts the operator named.
  /// --redis-allow; the hosts named on the command line are allowed besides (the library
  /// adds them).
  dualcred::rotation::redis::allow_list allow;
};

struct config {
  command_kind command = command_kind::status;
  backend_kind backend = backend_kind::postgres;
  store_kind store = store_kind::file;
  std::string file, vault_path, vault_mount = "secret", vault_token_file, prefix;
  pg_strategy strategy = pg_strategy::single;
  std::pair<std::string, std::string> pg_roles;  ///< alternating: ROLE_A, ROLE_B
  /// --pg-admin: checked for a password before the tool uses it (checks.hpp).
  std::optional<dualcred::secret> pg_admin;
  std::string pg_admin_file;
  std::string pg_host, pg_dbname, pg_sslrootcert;
  pg_sslmode sslmode = pg_sslmode::unset;
  int pg_port = 5432;
  std::string redis_host = "127.0.0.1", redis_admin_user = "default", redis_admin_password_file;
  int redis_port = 6379;
  bool redis_acl_save = false;
  std::vector<std::string> instances;
  std::chrono::milliseconds fleet_timeout{60'000}, settle{0};
  fleet_settings fleet;
  std::chrono::milliseconds lock_wait{0};                          ///< --lock-wait
  std::chrono::milliseconds lock_lease{std::chrono::minutes(15)};  ///< --lock-lease
  std::string lock_holder;                 ///< --lock-holder, for break-lock
  dualcred::rotation::drain_policy drain;  ///< --drain, --drain-timeout
  bool drain_timeout_given = false;
  std::size_t password_length = 32;
  day2_settings day2;
  pg_topology_settings pg_topology;
  redis_topology_flags redis_topology;
};

}  // namespace dualcred_rotate
