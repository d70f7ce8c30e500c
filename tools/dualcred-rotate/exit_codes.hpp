#pragma once

// dualcred-rotate's exit codes: one per kind of failure, so a scheduler or a script can react
// to each. A contract: codes are only ever added (after 9), each documented in --help and in
// docs/operations.md's exit-code table. `exit_for` is the one place a rotation's failure
// becomes a code, whichever command failed.

#include <cstdio>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <dualcred/rotation/detail/printable.hpp>
#include <dualcred/rotation/failure.hpp>

namespace dualcred_rotate {

enum exit_code : int {
  exit_ok = 0,
  exit_other = 1,
  exit_usage = 2,              // bad flags or environment, or a secret offered on the command line
  exit_store = 3,              // the secret store could not be read or written
  exit_conflict = 4,           // someone else wrote the store meanwhile (check-and-set)
  exit_backend_down = 5,       // the database or cache could not be reached
  exit_admin_refused = 6,      // the backend refused the admin: login, privilege, missing user
  exit_verify = 7,             // the new CURRENT could not log in
  exit_fleet = 8,              // instances did not report the new version in time
  exit_order = 9,              // the step does not fit where the rotation stands
  exit_replay_timeout = 10,    // a hot standby did not replay a change within --replay-timeout
  exit_stuck = 11,             // status --stuck-after: a rotation sat in a non-idle phase too long
  exit_node_not_allowed = 12,  // a node lies outside the allowed set; nothing was changed
  exit_lock_held = 13,         // another rotator holds the rotation lock
  exit_sessions_remain = 14,   // --drain wait: sessions of the removed credential outlived it
};

/// The exit code of a rotation that failed with condition `c`. The step does not enter: the
/// same condition means the same to a script whichever command met it.
[[nodiscard]] constexpr exit_code exit_for(dualcred::rotation::condition c) noexcept {
  using dualcred::rotation::condition;
  switch (c) {
    case condition::out_of_order:
    case condition::keys_conflict:
      return exit_order;
    case condition::store_failed:
      return exit_store;
    case condition::store_conflict:
      return exit_conflict;
    case condition::backend_unreachable:
      return exit_backend_down;
    case condition::admin_refused:
      return exit_admin_refused;
    case condition::bad_configuration:
    case condition::not_a_standby:
    case condition::not_a_cluster:
      return exit_usage;
    case condition::login_refused:
      return exit_verify;
    case condition::fleet_not_ready:
      return exit_fleet;
    case condition::replay_timeout:
      return exit_replay_timeout;
    case condition::node_not_allowed:
      return exit_node_not_allowed;
    case condition::lock_held:
      return exit_lock_held;
    case condition::sessions_remain:
      return exit_sessions_remain;
  }
  return exit_other;
}

/// What the command was run with, for the hints `report_failure` adds.
struct failure_context {
  std::string_view command;  ///< the STEP argument: prepare ... status, init, due
  bool generate = false;     ///< init --generate
};

/// The flag a failure points to, in the tool's terms (the library names no flag): empty when
/// the message says all there is.
[[nodiscard]] inline std::string failure_hint(const dualcred::rotation::failure& f,
                                              const failure_context& ctx) {
  using dualcred::rotation::condition;
  switch (f.what) {
    case condition::not_a_standby:
      return "--pg-standby names hot standbys of the primary only";
    case condition::not_a_cluster:
      return "give its nodes with --redis-node, or --redis-host for its replication group";
    case condition::node_not_allowed:
      return "if that node is yours, allow it with --redis-allow HOST|CIDR";
    case condition::lock_held:
      return "run again once that rotator is done, or wait for it with --lock-wait DURATION";
    case condition::sessions_remain:
      return "run decommission again with --drain wait (a longer --drain-timeout) or --drain "
             "terminate";
    case condition::store_failed:
    case condition::store_conflict:
      if (ctx.command == "init" && ctx.generate) return "run init --generate again";
      return {};
    default:
      return {};
  }
}

/// Prints the failure (its site, detail and hint) and gives its exit code.
inline int report_failure(const dualcred::rotation::failure& f, const failure_context& ctx) {
  const std::string hint = failure_hint(f, ctx);
  fmt::print(stderr, "dualcred-rotate: error: ({}) {}{}{}\n", to_string(f.site),
             dualcred::rotation::detail::printable(f.detail), hint.empty() ? "" : "; ", hint);
  return exit_for(f.what);
}

}  // namespace dualcred_rotate
