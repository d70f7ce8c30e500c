#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace dualcred {

/// Which keys (environment variables, file names, Vault fields) hold a backend's login.
struct key_names {
  std::string user;
  std::string current;
  std::string next;
  /// Where NEXT names another role (two login roles that alternate). Optional.
  std::string user_next;
  /// The user when the `user` key is absent; empty means the key is required.
  std::string default_user;

  /// `DB` gives `DB_USER`, `DB_PASS_CURRENT`, `DB_PASS_NEXT` and `DB_USER_NEXT`. `REDIS`
  /// gives the same shape with the user optional, defaulting to Redis' `default` user.
  [[nodiscard]] static key_names for_prefix(std::string_view prefix) {
    const std::string p(prefix);
    return key_names{p + "_USER", p + "_PASS_CURRENT", p + "_PASS_NEXT", p + "_USER_NEXT",
                     prefix == "REDIS" ? "default" : ""};
  }
};

}  // namespace dualcred
