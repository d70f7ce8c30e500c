#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "../../../detail/json.hpp"
#include "../kv2_types.hpp"

// Request bodies that carry secrets, each built in one buffer sized up front: growing a
// string copies it and frees the old buffer unscrubbed.
namespace dualcred::provider::vault::detail {

// The bytes `write_json_escaped` produces for `s`.
inline std::size_t escaped_size(std::string_view s) noexcept {
  std::size_t n = 0;
  for (const char c : s) {
    switch (c) {
      case '"':
      case '\\':
      case '\n':
      case '\r':
      case '\t':
        n += 2;
        break;
      default:
        n += static_cast<unsigned char>(c) < 0x20 ? 6 : 1;
    }
  }
  return n;
}

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF): JSON text is UTF-8, and Vault refuses or replaces anything else.
inline bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (b >= 0xC2 && b <= 0xDF) {
      n = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      n = 2;
      if (b == 0xE0) lo = 0xA0;  // overlong
      if (b == 0xED) hi = 0x9F;  // surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
      n = 3;
      if (b == 0xF0) lo = 0x90;  // overlong
      if (b == 0xF4) hi = 0x8F;  // past U+10FFFF
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) return false;
    }
    i += n + 1;
  }
  return true;
}

// `"key":"value"` pairs, comma-separated, appended to `out`.
template <class Pairs>
void append_string_members(std::string& out, const Pairs& pairs) {
  bool first = true;
  for (const auto& [k, v] : pairs) {
    if (!first) out += ',';
    first = false;
    out += '"';
    dualcred::detail::write_json_escaped(std::back_inserter(out), std::string_view(k));
    out += "\":\"";
    dualcred::detail::write_json_escaped(std::back_inserter(out), std::string_view(v));
    out += '"';
  }
}

template <class Pairs>
std::size_t string_members_size(const Pairs& pairs) noexcept {
  std::size_t n = 0;
  for (const auto& [k, v] : pairs) n += escaped_size(k) + escaped_size(v) + 6;
  return n;
}

// `{"k":"v",...}` from string pairs.
inline std::string json_object(
    std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  std::string out;
  out.reserve(string_members_size(fields) + 2);
  out += '{';
  append_string_members(out, fields);
  out += '}';
  return out;
}

// A KV v2 write: `{"options":{"cas":N},"data":{...}}`, the options only with a CAS.
inline std::string kv2_write_body(const secret_map& values, std::optional<std::uint64_t> cas) {
  struct revealed {
    const secret_map& v;
    struct iterator {
      secret_map::const_iterator it;
      std::pair<std::string_view, std::string_view> operator*() const {
        return {it->first, it->second.reveal()};
      }
      iterator& operator++() {
        ++it;
        return *this;
      }
      bool operator!=(const iterator& o) const { return it != o.it; }
    };
    iterator begin() const { return {v.begin()}; }
    iterator end() const { return {v.end()}; }
  } pairs{values};
  const std::string options =
      cas ? fmt::format("\"options\":{{\"cas\":{}}},", *cas) : std::string();
  std::string out;
  out.reserve(options.size() + string_members_size(pairs) + 12);
  out += '{';
  out += options;
  out += "\"data\":{";
  append_string_members(out, pairs);
  out += "}}";
  return out;
}

}  // namespace dualcred::provider::vault::detail
