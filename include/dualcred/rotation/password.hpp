#pragma once

#include <sys/random.h>

#include <cerrno>
#include <cstddef>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "../detail/secure_zero.hpp"
#include "../error.hpp"
#include "../secret.hpp"

namespace dualcred::rotation {

/// The characters of generated passwords: safe unquoted in a libpq conninfo, a URL, a
/// dotenv file, a shell and a Redis ACL rule.
inline constexpr std::string_view password_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A fresh password of `length` characters from the OS CSPRNG (getrandom(2)), uniform over
/// `password_alphabet` (rejection sampling, no modulo bias): 32 characters carry 190 bits.
/// Lengths below 16 are `invalid_argument`.
[[nodiscard]] inline result<secret> generate_password(std::size_t length = 32) {
  if (length < 16 || length > 1024)
    return fail(errc::invalid_argument,
                fmt::format("a generated password must be 16 to 1024 characters, not {}", length));
  constexpr std::size_t n = password_alphabet.size();  // 62
  constexpr unsigned limit = 256 - 256 % n;            // bytes >= limit would bias
  std::string out;
  out.reserve(length);  // no reallocation, so no stray copy to scrub
  unsigned char pool[64];
  while (out.size() < length) {
    const ssize_t got = ::getrandom(pool, sizeof pool, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      dualcred::detail::secure_zero(out.data(), out.size());
      dualcred::detail::secure_zero(pool, sizeof pool);
      return fail(errc::provider_unavailable,
                  fmt::format("getrandom() failed: {}", std::generic_category().message(err)));
    }
    for (ssize_t i = 0; i < got && out.size() < length; ++i)
      if (pool[i] < limit) out.push_back(password_alphabet[pool[i] % n]);
  }
  dualcred::detail::secure_zero(pool, sizeof pool);
  return secret(std::move(out));
}

}  // namespace dualcred::rotation
