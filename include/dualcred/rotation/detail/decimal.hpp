#pragma once

// Numbers the rotation reads as text, from its own store records or from servers (Redis
// replies, PostgreSQL counts, the versions instances report): accepted only when the whole
// text is one decimal integer that fits, so a stray sign, space or suffix is never half-read.

#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>

namespace dualcred::rotation::detail {

/// `text` as an `Int`; nullopt when it is empty, holds anything but the number, or overflows.
template <class Int>
[[nodiscard]] std::optional<Int> parse_decimal(std::string_view text) noexcept {
  Int n{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return n;
}

}  // namespace dualcred::rotation::detail
