#pragma once

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dualcred::detail {

// Replaces every occurrence of each non-empty secret in `text` by `***`. A detail is built
// from text we do not control (a server's or a library's message), which may echo what it was
// sent, so every user of a secret checks. Longer secrets go first, so a secret that holds
// another one is not half-replaced; run it on the raw text, before any trimming or
// whitespace folding could split an occurrence.
inline std::string redact(std::string text, std::span<const std::string_view> secrets) {
  std::vector<std::string_view> order;
  order.reserve(secrets.size());
  for (const std::string_view s : secrets)
    if (!s.empty()) order.push_back(s);
  std::stable_sort(order.begin(), order.end(),
                   [](std::string_view a, std::string_view b) { return a.size() > b.size(); });
  for (const std::string_view s : order)
    for (auto pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 3))
      text.replace(pos, s.size(), "***");
  return text;
}

inline std::string redact(std::string text, std::initializer_list<std::string_view> secrets) {
  return redact(std::move(text),
                std::span<const std::string_view>(secrets.begin(), secrets.size()));
}

inline std::string redact(std::string text, std::string_view secret_text) {
  return redact(std::move(text), std::span<const std::string_view>(&secret_text, 1));
}

}  // namespace dualcred::detail
