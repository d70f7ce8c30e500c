#pragma once

#include <concepts>
#include <cstdint>
#include <string>

#include "../error.hpp"
#include "state.hpp"

namespace dualcred::rotation {

/// \requires
/// - `s.read()` returns `result<stored>`: every key and the current revision. A store that
///   does not exist is `errc::not_found`; one that cannot be reached `provider_unavailable`.
/// - `s.write(data, expected)` returns `result<std::uint64_t>`: it replaces every key with
///   `data` only if the revision is still `expected` (else `errc::conflict`, nothing
///   written), atomically (a reader sees all of the old or all of the new), and returns the
///   new revision, which is greater than `expected`. A value its provider would refuse on
///   read (`provider::value_defect`: a NUL, a line break, another control byte) is
///   refused here instead (`errc::invalid_argument`, naming the key, never the value), and
///   nothing is written.
/// - `s.describe()` names the store for messages (`"file /run/app/db.env"`), no secrets.
///
/// A provider reading the store (`store_provider`, or the Vault provider over a Vault store)
/// reports the revision as the credential set's `version`; fleet checks rely on it.
template <class S>
concept writable_store = requires(S& s, const secret_map& data, std::uint64_t expected) {
  { s.read() } -> std::same_as<result<stored>>;
  { s.write(data, expected) } -> std::same_as<result<std::uint64_t>>;
  { s.describe() } -> std::convertible_to<std::string>;
};

}  // namespace dualcred::rotation
