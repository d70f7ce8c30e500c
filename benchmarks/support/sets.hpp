#pragma once

// Credential sets for benchmarks: one user, CURRENT and an optional NEXT.

#include <string_view>

#include <dualcred/secret.hpp>

namespace dualcred::bench {

inline credential_set set_of(std::string_view user, std::string_view current,
                             std::string_view next = {}) {
  credential_set s;
  s.current = credential{std::string(user), secret(current)};
  if (!next.empty()) s.next = credential{std::string(user), secret(next)};
  return s;
}

}  // namespace dualcred::bench
