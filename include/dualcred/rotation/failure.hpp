#pragma once

// Errors that say where: a failed step names itself, the part of it that failed, the node
// and the condition, in the error it returns. Callers branch on the condition (the `rotate`
// command maps each to its exit code) and print the detail.

#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include <boost/outcome/basic_result.hpp>

#include "../error.hpp"
#include "steps.hpp"

namespace dualcred::rotation {

/// What went wrong in a rotation, in the terms a caller reacts to. Also an error code of its
/// own category: an admin or store that knows more than a generic `errc` says (a standby's
/// replay timing out, a node outside the allowed set) puts one in its `error::code`, and the
/// rotator keeps it as the failure's condition.
enum class condition {
  out_of_order = 1,     ///< the step does not fit the phase, or NEXT / PREVIOUS is missing
  keys_conflict,        ///< init found keys that contradict each other or what it was given
  store_failed,         ///< the store could not be read, parsed or written
  store_conflict,       ///< another writer changed the store since it was read (check-and-set)
  backend_unreachable,  ///< the database or cache (or one of its nodes) could not be reached
  admin_refused,        ///< the backend refused the admin: its login, a privilege, a user
  bad_configuration,    ///< the admin's configuration does not fit the backend
  not_a_standby,        ///< a server configured as a hot standby of the primary is not one
  not_a_cluster,        ///< a Redis seed configured as a Cluster node is not in cluster mode
  login_refused,        ///< the credential being checked could not log in
  fleet_not_ready,      ///< the instances did not report the store revision in time
  replay_timeout,       ///< a hot standby did not replay a change within its timeout
  node_not_allowed,     ///< a node lies outside the allowed set; nothing was changed
  lock_held,            ///< another rotator holds the rotation lock
  sessions_remain,      ///< sessions of the removed credential outlived the drain's timeout
};

[[nodiscard]] constexpr std::string_view to_string(condition c) noexcept {
  switch (c) {
    case condition::out_of_order:
      return "out_of_order";
    case condition::keys_conflict:
      return "keys_conflict";
    case condition::store_failed:
      return "store_failed";
    case condition::store_conflict:
      return "store_conflict";
    case condition::backend_unreachable:
      return "backend_unreachable";
    case condition::admin_refused:
      return "admin_refused";
    case condition::bad_configuration:
      return "bad_configuration";
    case condition::not_a_standby:
      return "not_a_standby";
    case condition::not_a_cluster:
      return "not_a_cluster";
    case condition::login_refused:
      return "login_refused";
    case condition::fleet_not_ready:
      return "fleet_not_ready";
    case condition::replay_timeout:
      return "replay_timeout";
    case condition::node_not_allowed:
      return "node_not_allowed";
    case condition::lock_held:
      return "lock_held";
    case condition::sessions_remain:
      return "sessions_remain";
  }
  return "unknown";
}

/// Every condition, in declaration order (for tables and tests).
inline constexpr condition all_conditions[] = {
    condition::out_of_order,      condition::keys_conflict,       condition::store_failed,
    condition::store_conflict,    condition::backend_unreachable, condition::admin_refused,
    condition::bad_configuration, condition::not_a_standby,       condition::not_a_cluster,
    condition::login_refused,     condition::fleet_not_ready,     condition::replay_timeout,
    condition::node_not_allowed,  condition::lock_held,           condition::sessions_remain};

namespace detail {
class condition_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "dualcred.rotation"; }
  std::string message(int ev) const override {
    return std::string(to_string(static_cast<condition>(ev)));
  }
  std::error_condition default_error_condition(int ev) const noexcept override {
    // Lets callers test against the portable conditions they already know.
    switch (static_cast<condition>(ev)) {
      case condition::replay_timeout:
      case condition::fleet_not_ready:
      case condition::sessions_remain:
        return std::errc::timed_out;
      case condition::bad_configuration:
      case condition::not_a_standby:
      case condition::not_a_cluster:
        return std::errc::invalid_argument;
      case condition::admin_refused:
      case condition::login_refused:
      case condition::node_not_allowed:
        return std::errc::permission_denied;
      default:
        return {ev, *this};
    }
  }
};
}  // namespace detail

/// The category of `condition`; one object for the whole program.
inline const std::error_category& condition_category() noexcept {
  static const detail::condition_category_impl category;
  return category;
}

inline std::error_code make_error_code(condition c) noexcept {
  return {static_cast<int>(c), condition_category()};
}

/// The condition a failure at `site` with cause `e` stands for: the one `e` carries when it
/// is of `condition_category()`, else read from its `errc`.
[[nodiscard]] inline condition classify(failure_site site, const error& e) noexcept {
  if (e.code.category() == condition_category()) return static_cast<condition>(e.code.value());
  if (e.is(errc::conflict)) return condition::store_conflict;
  if (e.is(errc::locked)) return condition::lock_held;
  const bool unreachable = e.is(errc::backend_unavailable) || e.is(errc::timeout);
  switch (site) {
    case failure_site::order:
      return condition::out_of_order;
    case failure_site::store:
      return condition::store_failed;
    case failure_site::fleet:
      return condition::fleet_not_ready;
    case failure_site::verify:
      return unreachable ? condition::backend_unreachable : condition::login_refused;
    case failure_site::drain:  // a count or a kill the backend refused, like any admin call
    case failure_site::backend:
    case failure_site::none:
      break;
  }
  if (unreachable) return condition::backend_unreachable;
  if (e.is(errc::invalid_argument)) return condition::bad_configuration;
  return condition::admin_refused;
}

/// A failed rotation step. The base `error` is the cause as the store, backend or fleet
/// check reported it (its detail prefixed with the step), so code that only knows `error`
/// keeps working; the rest says where.
struct failure : error {
  /// The step that failed; none outside the runbook's steps (`init`, reading the state).
  std::optional<rotation::step> step;
  failure_site site = failure_site::none;
  condition what = condition::store_failed;
  /// The store or backend as it describes itself; empty where no one node is at fault (a
  /// step out of order, the fleet). The detail names a single node of a topology.
  std::string node;

  failure() = default;
  failure(error cause, std::optional<rotation::step> at, failure_site where, condition c,
          std::string at_node)
      : error(std::move(cause)), step(at), site(where), what(c), node(std::move(at_node)) {}
};

/// A failure at `site` of a call outside a step (a topology check before the run).
[[nodiscard]] inline failure as_failure(failure_site site, const error& e, std::string node = {}) {
  return failure(e, std::nullopt, site, classify(site, e), std::move(node));
}

/// A `T` or a `failure`: what the rotator's steps return.
template <class T>
using step_result = boost::outcome_v2::basic_result<T, failure, dualcred::detail::result_policy>;

}  // namespace dualcred::rotation

template <>
struct std::is_error_code_enum<dualcred::rotation::condition> : std::true_type {};
