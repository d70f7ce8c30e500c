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
namespace dualcred::detail {

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

// `"key":"value"` pairs, comma-separated, appended to `out`.
template <class Pairs>
void append_string_members(std::string& out, const Pairs& pairs) {
  bool first = true;
  for (const auto& [k, v] : pairs) {
    if (!first) out += ',';
    first = false;
    out += '"';
    write_json_escaped(std::back_inserter(out), std::string_view(k));
    out += "\":\"";
    write_json_escaped(std::back_inserter(out), std::string_view(v));
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
inline std::string kv2_write_body(const kv2_values& values, std::optional<std::uint64_t> cas) {
  struct revealed {
    const kv2_values& v;
    struct iterator {
      kv2_values::const_iterator it;
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

}  // namespace dualcred::detail
