#pragma once

// Text from servers (Redis replies, PostgreSQL and PgBouncer messages, names found by
// discovery) reaches error details and progress lines, and from there terminals and logs. A
// terminal acts on escape sequences and a log reader splits on line breaks, so a server could
// clear the screen or forge a line. `printable` makes any bytes inert text: the rotation's
// messages quote server text through it, and dualcred-rotate prints everything through it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace dualcred::rotation::detail {

namespace printable_detail {

// The length of the well-formed UTF-8 sequence at `s[0]` (overlongs, surrogates and code
// points past U+10FFFF are not), or 0.
inline std::size_t utf8_length(std::string_view s, char32_t& cp) {
  const auto b = [&](std::size_t i) { return static_cast<std::uint8_t>(s[i]); };
  const auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  const std::uint8_t c = b(0);
  if (c >= 0xC2 && c <= 0xDF && cont(1)) {
    cp = ((c & 0x1Fu) << 6) | (b(1) & 0x3Fu);
    return 2;
  }
  if (c >= 0xE0 && c <= 0xEF && cont(1) && cont(2)) {
    cp = ((c & 0x0Fu) << 12) | ((b(1) & 0x3Fu) << 6) | (b(2) & 0x3Fu);
    return cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4 && cont(1) && cont(2) && cont(3)) {
    cp = ((c & 0x07u) << 18) | ((b(1) & 0x3Fu) << 12) | ((b(2) & 0x3Fu) << 6) | (b(3) & 0x3Fu);
    return cp >= 0x10000 && cp <= 0x10FFFF ? 4 : 0;
  }
  return 0;
}

// C1 controls (a terminal may read U+009B as CSI), line and paragraph separators, and the
// bidirectional overrides and isolates that reorder what a reader sees.
inline bool invisible(char32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E ||
         cp == 0x200F || cp == 0x061C;
}

}  // namespace printable_detail

/// `text` with every byte a terminal or a log line could act on spelled out: `\n`, `\r`,
/// `\t`, `\\`, `\xHH` for other control bytes, DEL and bytes that are not well-formed
/// UTF-8, and `\u{HHHH}` for C1 controls and bidirectional marks. Well-formed printable
/// UTF-8 stays as it is.
[[nodiscard]] inline std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<std::uint8_t>(text[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c == '\\' || c == '\n' || c == '\r' || c == '\t') {
      out += c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r" : "\\t";
      ++i;
      continue;
    }
    char32_t cp = 0;
    const std::size_t n = c >= 0x80 ? printable_detail::utf8_length(text.substr(i), cp) : 0;
    if (n == 0) {
      out += fmt::format("\\x{:02x}", c);
      ++i;
    } else if (printable_detail::invisible(cp)) {
      out += fmt::format("\\u{{{:04x}}}", static_cast<std::uint32_t>(cp));
      i += n;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace dualcred::rotation::detail
