#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "../error.hpp"
#include "../secret.hpp"
#include "key_names.hpp"
#include "value_rules.hpp"

namespace dualcred::provider {

// The key -> credential rules, written once for every provider and for the rotation state:
// CURRENT and a user are required, NEXT is optional, a present value must be non-empty and
// pass `value_defect`, and errors name the key and the source, never the value.
//
// `lookup(key)` returns result<std::optional<secret>>: empty when the key is absent.

// `key`'s value: nullopt when the key is absent or not configured (empty).
template <class Lookup>
result<std::optional<secret>> lookup_value(const std::string& key, std::string_view source,
                                           Lookup& lookup) {
  if (key.empty()) return std::optional<secret>();
  DUALCRED_TRY(value, lookup(key));
  if (!value) return std::optional<secret>();
  if (value->empty()) return fail(errc::malformed, fmt::format("{} is empty in {}", key, source));
  DUALCRED_TRY(check_value(key, value->reveal(), source));
  return value;
}

template <class Lookup>
result<credential_set> assemble(const key_names& keys, std::string_view source, Lookup&& lookup) {
  DUALCRED_TRY(user, lookup_value(keys.user, source, lookup));
  std::string user_name;
  if (user) {
    user_name = std::string(user->reveal_public());
  } else if (!keys.default_user.empty()) {
    user_name = keys.default_user;
  } else if (keys.user.empty()) {
    return fail(errc::invalid_argument, fmt::format("no user key configured for {}", source));
  } else {
    return fail(errc::not_found, fmt::format("{} is not set in {}", keys.user, source));
  }
  DUALCRED_TRY(current, lookup_value(keys.current, source, lookup));
  if (!current)
    return fail(errc::not_found, fmt::format("{} is not set in {}", keys.current, source));
  DUALCRED_TRY(next, lookup_value(keys.next, source, lookup));
  DUALCRED_TRY(user_next, lookup_value(keys.user_next, source, lookup));

  credential_set set;
  if (next)
    set.next = credential{user_next ? std::string(user_next->reveal_public()) : user_name,
                          std::move(*next)};
  set.current = credential{std::move(user_name), std::move(*current)};
  return set;
}

}  // namespace dualcred::provider
