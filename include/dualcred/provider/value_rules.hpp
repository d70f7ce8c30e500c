#pragma once

#include <cstddef>
#include <string_view>

#include <fmt/format.h>

#include "../error.hpp"

namespace dualcred::provider {

// What a credential value may hold, for every provider (on read) and every store (on
// write, so a store never writes what its provider then refuses): one line of text. A NUL
// would be cut by libpq at the first NUL; a line break or another control byte is a file
// pasted whole or a value that a key file or a log line would mangle. A tab is allowed.
//
// Returns why `value` cannot be a credential value, or an empty view when it can. The
// reason never quotes the value.
[[nodiscard]] constexpr std::string_view value_defect(std::string_view value) noexcept {
  std::string_view defect;
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u == 0) return "holds a NUL byte (binary data)";
    if (c == '\n' || c == '\r') {
      defect = "holds more than one line";
    } else if ((u < 0x20 && c != '\t') || u == 0x7f) {
      if (defect.empty()) defect = "holds a control character";
    }
  }
  return defect;
}

// `key` holds a value fit for a credential; the error names the key and `source`.
[[nodiscard]] inline result<void> check_value(std::string_view key, std::string_view value,
                                              std::string_view source) {
  const std::string_view defect = value_defect(value);
  if (defect.empty()) return boost::outcome_v2::success();
  return fail(errc::malformed, fmt::format("{} in {} {}", key, source, defect));
}

// A store key: letters, digits, `_ . -`, not starting with a digit, `.` or `-`. The same
// keys a dotenv line and a secret directory can hold (a leading `.` is the directory's own).
[[nodiscard]] constexpr bool is_key_char(char c, bool first) noexcept {
  const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  return alpha || (!first && ((c >= '0' && c <= '9') || c == '.' || c == '-'));
}
[[nodiscard]] constexpr bool valid_key(std::string_view key) noexcept {
  for (std::size_t i = 0; i < key.size(); ++i)
    if (!is_key_char(key[i], i == 0)) return false;
  return !key.empty();
}

}  // namespace dualcred::provider
