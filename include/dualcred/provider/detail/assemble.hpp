#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "../../error.hpp"
#include "../../secret.hpp"
#include "../key_names.hpp"

namespace dualcred::detail {

// Builds a credential_set from a key lookup shared by every provider, so all of them apply
// one rule: CURRENT is required, NEXT is optional, an empty value is malformed, and errors
// name the key and the source, never the value.
//
// `lookup(key)` returns result<std::optional<secret>>: empty when the key is absent.
template <class Lookup>
result<credential_set> assemble(const key_names& keys, std::string_view source, Lookup&& lookup) {
  auto required_text = [&](const std::string& key, bool required,
                           const std::string& fallback) -> result<std::optional<std::string>> {
    if (key.empty())
      return std::optional<std::string>(fallback.empty() ? std::nullopt : std::optional(fallback));
    DUALCRED_TRY(value, lookup(key));
    if (!value) {
      if (!fallback.empty()) return std::optional<std::string>(fallback);
      if (required) return fail(errc::not_found, fmt::format("{} is not set in {}", key, source));
      return std::optional<std::string>();
    }
    if (value->empty()) return fail(errc::malformed, fmt::format("{} is empty in {}", key, source));
    return std::optional<std::string>(std::string(value->reveal()));
  };
  auto password = [&](const std::string& key, bool required) -> result<std::optional<secret>> {
    DUALCRED_TRY(value, lookup(key));
    if (!value) {
      if (required) return fail(errc::not_found, fmt::format("{} is not set in {}", key, source));
      return std::optional<secret>();
    }
    if (value->empty()) return fail(errc::malformed, fmt::format("{} is empty in {}", key, source));
    return std::optional<secret>(std::move(*value));
  };

  DUALCRED_TRY(user, required_text(keys.user, true, keys.default_user));
  if (!user)
    return fail(errc::invalid_argument, fmt::format("no user key configured for {}", source));
  DUALCRED_TRY(current, password(keys.current, true));
  DUALCRED_TRY(next, keys.next.empty() ? result<std::optional<secret>>(std::optional<secret>())
                                       : password(keys.next, false));
  DUALCRED_TRY(user_next, required_text(keys.user_next, false, std::string()));

  credential_set set;
  set.current = credential{*user, std::move(*current)};
  if (next) set.next = credential{user_next ? *user_next : *user, std::move(*next)};
  return set;
}

}  // namespace dualcred::detail
