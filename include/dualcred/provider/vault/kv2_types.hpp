#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "../../secret.hpp"
#include "../secret_map.hpp"

namespace dualcred {

/// One version's bookkeeping, as Vault reports it.
struct kv2_version {
  std::uint64_t version = 0;
  std::string created_time;
  std::string deletion_time;  ///< empty unless soft-deleted
  bool destroyed = false;

  [[nodiscard]] bool deleted() const noexcept { return !deletion_time.empty(); }
};

/// A secret's metadata (`GET /v1/{mount}/metadata/{path}`).
struct kv2_metadata {
  std::uint64_t current_version = 0;
  std::uint64_t oldest_version = 0;
  std::uint64_t max_versions = 0;  ///< 0: the mount's setting applies
  bool cas_required = false;
  std::map<std::uint64_t, kv2_version> versions;
};

/// What a read does with a value that is not a string (a number, a list, an object).
enum class kv2_other_types {
  refuse,  ///< `errc::malformed` naming the key: writing the secret back would change it
  list,    ///< left out of `values`; the keys are listed in `kv2_secret::other_types`
};

/// One version of a secret with its values (`GET /v1/{mount}/data/{path}[?version=N]`).
struct kv2_secret {
  secret_map values;
  kv2_version metadata;
  std::vector<std::string> other_types;  ///< keys whose value is not a string
};

}  // namespace dualcred
