#pragma once

#include <string>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

#include "../error.hpp"

namespace dualcred::detail {

// Writes s as the inside of a JSON string: quotes, backslashes and control bytes escaped.
template <class Out>
Out write_json_escaped(Out out, std::string_view s) {
  for (const char c : s) {
    switch (c) {
      case '"':
        out = fmt::format_to(out, "\\\"");
        break;
      case '\\':
        out = fmt::format_to(out, "\\\\");
        break;
      case '\n':
        out = fmt::format_to(out, "\\n");
        break;
      case '\r':
        out = fmt::format_to(out, "\\r");
        break;
      case '\t':
        out = fmt::format_to(out, "\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out = fmt::format_to(out, "\\u{:04x}", static_cast<unsigned>(c));
        else
          *out++ = c;
    }
  }
  return out;
}

// "auth_rejected" for dualcred's own codes, "category:value" for anyone else's.
inline std::string error_name(const std::error_code& code) {
  if (code.category() == error_category())
    return std::string(to_string(static_cast<errc>(code.value())));
  return fmt::format("{}:{}", code.category().name(), code.value());
}

}  // namespace dualcred::detail
