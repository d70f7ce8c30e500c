#pragma once

// The tool's numeric and duration arguments. Plain decimal only, parsed without floating
// point, so `inf`, `nan`, `1e400`, `0x10`, signs and trailing text cannot get through, and every
// value is checked against its flag's bounds before anything converts it.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace dualcred_rotate {

/// A decimal integer in `[min, max]`: digits only (no sign, space, or `0x`); nullopt otherwise.
[[nodiscard]] constexpr std::optional<std::int64_t> parse_integer(std::string_view text,
                                                                  std::int64_t min,
                                                                  std::int64_t max) noexcept {
  if (text.empty()) return std::nullopt;
  std::int64_t v = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    // Past max already: stop before the multiplication can overflow.
    if (v > (max - (c - '0')) / 10) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v < min || v > max) return std::nullopt;
  return v;
}

/// A duration in `[min, max]`: `DIGITS[.DIGITS][UNIT]`, UNIT one of `s` (the default), `m`,
/// `h`, `d`; rounded down to milliseconds. Examples: `30`, `0.5`, `90s`, `1.5m`, `2h`.
[[nodiscard]] constexpr std::optional<std::chrono::milliseconds> parse_duration(
    std::string_view text, std::chrono::milliseconds min, std::chrono::milliseconds max) noexcept {
  std::int64_t unit_ms = 1000;
  if (!text.empty()) {
    switch (text.back()) {
      case 's':
        unit_ms = 1000;
        break;
      case 'm':
        unit_ms = 60'000;
        break;
      case 'h':
        unit_ms = 3'600'000;
        break;
      case 'd':
        unit_ms = 86'400'000;
        break;
      default:
        unit_ms = 0;
    }
    if (unit_ms != 0)
      text.remove_suffix(1);
    else
      unit_ms = 1000;
  }
  const std::size_t dot = text.find('.');
  const std::string_view whole_text = text.substr(0, dot);
  // A whole part this large is past any bound; capping it keeps whole * unit_ms in range.
  const auto whole = parse_integer(whole_text, 0, 1'000'000'000);
  if (!whole) return std::nullopt;
  std::int64_t ms = *whole * unit_ms;
  if (dot != std::string_view::npos) {
    const std::string_view frac = text.substr(dot + 1);
    if (frac.empty()) return std::nullopt;
    // floor(unit_ms * 0.DIGITS), exactly, for any number of digits: long multiplication from
    // the last digit, each step's floor carried into the next. Cutting the digits short
    // instead rounds a value just above a whole millisecond down one too far.
    std::int64_t carry = 0;
    for (auto c = frac.rbegin(); c != frac.rend(); ++c) {
      if (*c < '0' || *c > '9') return std::nullopt;
      carry = ((*c - '0') * unit_ms + carry) / 10;
    }
    ms += carry;
  }
  if (ms < min.count() || ms > max.count()) return std::nullopt;
  return std::chrono::milliseconds(ms);
}

}  // namespace dualcred_rotate
