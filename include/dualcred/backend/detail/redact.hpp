#pragma once

#include <string>
#include <string_view>

namespace dualcred::detail {

// Replaces every occurrence of `secret_text` in `text` with `***`. A backend's message should
// never echo a password, but a detail is built from text we do not control, so we check.
inline std::string redact(std::string text, std::string_view secret_text) {
  if (secret_text.empty()) return text;
  for (std::size_t at = text.find(secret_text); at != std::string::npos;
       at = text.find(secret_text, at + 3))
    text.replace(at, secret_text.size(), "***");
  return text;
}

}  // namespace dualcred::detail
