#pragma once

// dualcred-rotate's command line, parsed once: argv and an environment snapshot in, a typed
// `config`, the --help text or a usage error (exit 2) out. Nothing here prints, exits or
// touches the process: the tests and the fuzzer call it in-process.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include <fmt/format.h>

#include "cli_checks.hpp"
#include "config.hpp"
#include "environment.hpp"
#include "flag_table.hpp"
#include "flags.hpp"
#include "net.hpp"

namespace dualcred_rotate {

struct usage_error {
  std::string message;  ///< names the flag or the slot, never a value
};
struct help_request {
  std::string text;
};
using parse_result = std::variant<config, help_request, usage_error>;

struct help_row {
  std::string_view left, right;
};

inline constexpr help_row environment_help[] = {
    {"PGHOST PGPORT PGDATABASE", "the defaults of --pg-host, --pg-port, --pg-dbname"},
    {"PGSSLMODE PGSSLROOTCERT", "the defaults of --pg-sslmode, --pg-sslrootcert"},
    {"PGUSER PGPASSWORD PGPASSFILE ...", "libpq's own, for the admin's login"},
    {"REDIS_HOST REDIS_PORT", "the defaults of --redis-host, --redis-port"},
    {"REDIS_ADMIN_USER REDIS_ADMIN_PASSWORD", "the Redis admin's login"},
    {"REDIS_SENTINEL_PASSWORD", "the Sentinels' password (or --redis-sentinel-password-file)"},
    {"PGBOUNCER_ADMIN_USER PGBOUNCER_ADMIN_PASSWORD",
     "PgBouncer's admin console login (or\n--pgbouncer-admin-password-file)"},
    {"DUALCRED_CURRENT_PASSWORD", "init: the backend's present password (or --current-file)"},
    {"VAULT_ADDR VAULT_TOKEN VAULT_NAMESPACE VAULT_CACERT VAULT_CAPATH", "as the Vault CLI"},
};

inline constexpr help_row exit_code_help[] = {
    {"0", "done, or nothing left to do"},
    {"1", "other error"},
    {"2", "usage (bad flag or environment, or a secret on the command line)"},
    {"3", "store unreadable or unwritable"},
    {"4", "check-and-set conflict (another rotator wrote the store; run again)"},
    {"5", "backend unreachable (or one of its nodes, named)"},
    {"6", "backend refused the admin: login, privilege, missing user"},
    {"7", "the new credential could not log in"},
    {"8", "instances did not report the new version in time"},
    {"9",
     "the step does not fit the rotation's phase (or NEXT/PREVIOUS is missing), or\ninit "
     "found keys that conflict (named; nothing written)"},
    {"10", "a hot standby (--pg-standby) did not replay a change within --replay-timeout"},
    {"11", "status --stuck-after: a rotation has sat in a phase other than idle too long"},
    {"12", "a discovered node outside the allowed set (--redis-allow; nothing changed)"},
    {"13", "another rotator holds the rotation lock (its holder named)"},
    {"14", "--drain wait: sessions of the removed credential outlived --drain-timeout"},
};

// Words printed under a section's flags.
inline constexpr help_row section_notes[] = {
    {rollout_section,
     "DURATION is a decimal number with an optional unit s (default), m, h or d: 30, 0.5, 2m."},
    {redis_topology_section,
     "Each step changes and verifies every node and prints each; an unreachable or refusing\n"
     "node fails it (exit 5 or 6, naming the node) before the store moves on: run it again.\n"
     "Replicas whose masteruser is the rotated user get the new masterauth; Sentinels logged\n"
     "in as it get SENTINEL SET auth-pass. With --redis-acl-save each node keeps the change\n"
     "(ACL SAVE with an aclfile, else CONFIG REWRITE) or the step fails."},
};

namespace cli_detail {

// `left` in a `column`-wide slot (alone on its line when longer), `right` beside it, its
// later lines under its first.
inline void row(std::string& out, std::string_view indent, std::string_view left,
                std::string_view right, std::size_t column = 30) {
  std::string head = fmt::format("{}{}", indent, left);
  if (head.size() + 2 > column) {
    out += head + "\n";
    head.clear();
  }
  head.resize(column, ' ');
  std::size_t at = 0;
  for (;;) {
    const std::size_t nl = right.find('\n', at);
    out += head;
    out += right.substr(at, nl - at);
    out += "\n";
    if (nl == std::string_view::npos) break;
    head.assign(column, ' ');
    at = nl + 1;
  }
}

inline void flags_of(std::string& out, std::string_view section) {
  out += fmt::format("\n{}:\n", section);
  for (const auto& f : flag_table)
    if (f.section == section)
      row(out, "  ", f.value.empty() ? f.name : fmt::format("{} {}", f.name, f.value), f.help);
  for (const auto& n : section_notes)
    if (n.left == section) row(out, "", "", n.right, 2);
}

}  // namespace cli_detail

/// --help, from the tables: steps, flags by section, environment, exit codes.
[[nodiscard]] inline std::string help_text() {
  std::string out = "usage: dualcred-rotate [options] STEP\n  STEP is one of:\n";
  for (const auto& c : commands) cli_detail::row(out, "    ", c.name, c.help, 18);
  out += "  No secret is taken from the command line: a flag value holding one is refused.\n";
  for (const auto section : {store_section, backend_section, rollout_section, pg_topology_section,
                             redis_topology_section, day2_section})
    cli_detail::flags_of(out, section);
  out += "\nEnvironment:\n";
  for (const auto& e : environment_help) cli_detail::row(out, "  ", e.left, e.right);
  out += "\nExit codes:\n";
  for (const auto& e : exit_code_help) {
    std::string text(e.right);
    for (std::size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', nl + 1))
      text.insert(nl + 1, "     ");
    out += fmt::format("  {:>2} {}\n", e.left, text);
  }
  return out;
}

[[nodiscard]] inline const flag_spec* find_flag(std::string_view name) {
  for (const auto& f : flag_table)
    if (f.name == name) return &f;
  return nullptr;
}

[[nodiscard]] inline std::optional<command_kind> find_command(std::string_view name) {
  for (const auto& c : commands)
    if (c.name == name) return c.kind;
  return std::nullopt;
}

/// The defaults the environment gives (PGHOST, PGPORT, ...); a usage error's text.
[[nodiscard]] inline problem defaults_from(const environment& e, config& c) {
  if (e.pghost) c.pg_host = *e.pghost;
  if (e.pgport)
    if (auto why = flag_detail::port(c.pg_port, "PGPORT", *e.pgport)) return why;
  if (e.pgdatabase) c.pg_dbname = *e.pgdatabase;
  if (e.pgsslmode) {
    const auto m = lookup(sslmode_names, *e.pgsslmode);
    if (!m) return "PGSSLMODE is one of disable, allow, prefer, require, verify-ca, verify-full";
    c.sslmode = *m;
  }
  if (e.pgsslrootcert) c.pg_sslrootcert = *e.pgsslrootcert;
  if (e.redis_host) c.redis_host = *e.redis_host;
  if (e.redis_port)
    if (auto why = flag_detail::port(c.redis_port, "REDIS_PORT", *e.redis_port)) return why;
  if (e.redis_admin_user) c.redis_admin_user = *e.redis_admin_user;
  return std::nullopt;
}

/// Parses `args` (argv without the program name) over `env`'s defaults.
[[nodiscard]] inline parse_result parse_command_line(std::span<const std::string_view> args,
                                                     const environment& env) {
  draft d;
  if (auto why = defaults_from(env, d.c)) return usage_error{*why};
  std::optional<command_kind> step;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "-h" || a == "--help") return help_request{help_text()};
    if (!a.starts_with("--")) {
      if (step) return usage_error{"more than one STEP given"};
      // Not echoed: a word typed in the wrong place may be a password.
      step = find_command(a);
      if (!step)
        return usage_error{
            "unknown STEP: prepare, apply, promote, verify, decommission, rollback, all, status, "
            "init or due"};
      continue;
    }
    // The name only: `--flag=value` is not a form the tool reads, and the value may be secret.
    if (const auto eq = a.find('='); eq != std::string_view::npos)
      return usage_error{
          fmt::format("{}=...: give the value as the next argument", a.substr(0, eq))};
    const flag_spec* f = find_flag(a);
    if (f == nullptr) return usage_error{fmt::format("unknown option {}", a)};
    std::string_view value;
    if (f->value.starts_with('[')) {
      // An optional value is taken only when the next argument is a URL: anything else is
      // the next flag or the STEP.
      if (i + 1 < args.size() &&
          (args[i + 1].starts_with("http://") || args[i + 1].starts_with("https://")))
        value = args[++i];
    } else if (!f->value.empty()) {
      if (i + 1 >= args.size()) return usage_error{fmt::format("{} needs a value", a)};
      value = args[++i];
    }
    if (auto why = f->set(d, value)) return usage_error{std::move(*why)};
  }
  if (!step) return usage_error{"no STEP given"};
  d.c.command = *step;
  if (auto why = finish(d, env)) return usage_error{std::move(*why)};
  return std::move(d.c);
}

}  // namespace dualcred_rotate
