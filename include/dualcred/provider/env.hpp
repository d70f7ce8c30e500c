#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include "../error.hpp"
#include "../secret.hpp"
#include "assemble.hpp"
#include "detail/version_stamp.hpp"
#include "key_names.hpp"

namespace dualcred {

/// Reads a login from environment variables, by default `DB_USER`, `DB_PASS_CURRENT`,
/// `DB_PASS_NEXT` (and `DB_USER_NEXT` for alternating roles).
///
/// A missing CURRENT is `errc::not_found` naming the variable; an empty one `errc::malformed`;
/// NEXT may be absent. The version changes exactly when the values do.
class env_provider {
 public:
  explicit env_provider(key_names keys = key_names::for_prefix("DB")) : keys_(std::move(keys)) {}

  [[nodiscard]] result<credential_set> load() {
    auto set = provider::assemble(keys_, "the environment",
                                  [](const std::string& name) -> result<std::optional<secret>> {
                                    const char* value = std::getenv(name.c_str());
                                    if (value == nullptr) return std::optional<secret>();
                                    return std::optional<secret>(secret(std::string_view(value)));
                                  });
    if (set) stamp_.stamp(set.value());
    return set;
  }

  [[nodiscard]] const key_names& keys() const noexcept { return keys_; }

 private:
  key_names keys_;
  provider::detail::version_stamp stamp_;
};

}  // namespace dualcred
