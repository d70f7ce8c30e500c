#pragma once

#include <concepts>

#include "../concepts.hpp"
#include "../error.hpp"
#include "../policy.hpp"

namespace dualcred::detail {

// dual_credential's checks of its arguments, each with a message that says what to write.
template <class Connector, class SecretProvider, class Policy>
consteval bool check_dual_credential_arguments() {
  static_assert(
      connector<Connector> || two_phase_connector<Connector> || async_only_connector<Connector>,
      "dualcred: the Connector must be callable as `c(const dualcred::credential&)` "
      "returning dualcred::result<Connection>, or have `open()` returning "
      "result<Connection> and `authenticate(Connection&, const credential&)` "
      "returning result<void>, or be an async connector (include "
      "<dualcred/asio/concepts.hpp> first)");
  static_assert(secret_provider<SecretProvider>,
                "dualcred: the SecretProvider must have `load()` returning "
                "dualcred::result<dualcred::credential_set>");
  static_assert(
      requires(Policy & p, const error& e, const event& ev) {
        { p.should_fall_back(e) } -> std::convertible_to<bool>;
        p.on_event(ev);
      },
      "dualcred: the Policy must have `should_fall_back(const error&)` and "
      "`on_event(const event&)`; derive it from dualcred::default_policy");
  return true;
}

}  // namespace dualcred::detail
