#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../error.hpp"

namespace dualcred {

/// HTTP header fields in the order they were sent or received. Names compare
/// case-insensitively (`header_value` does so); values are raw.
using http_headers = std::vector<std::pair<std::string, std::string>>;

/// What a provider asks an HTTP transport to send. The headers may carry a token: a
/// transport must not log them, and the caller scrubs them after the call.
struct http_request {
  std::string method;  ///< "GET", "POST", ...
  std::string url;     ///< absolute, without user info
  http_headers headers;
  std::string body;
  /// The most this exchange may take, connect included; zero: the transport's own limit.
  /// A transport applies the shorter of the two.
  std::chrono::milliseconds timeout{0};
};

/// What came back. Any status is a successful exchange; only a failure to exchange
/// (connect, TLS, timeout, a dropped connection) is an error.
struct http_response {
  int status = 0;
  http_headers headers;
  std::string body;
};

/// \requires `h(request)` returns `result<http_response>`. A transport maps its own failures
/// onto `errc::timeout` (a deadline passed) or `errc::provider_unavailable` (anything else
/// that kept the exchange from completing), with a detail that never holds header values.
template <class H>
concept http_client = requires(H& h, const http_request& request) {
  { h(request) } -> std::same_as<result<http_response>>;
};

/// The first value of header `name` (ASCII case-insensitive), or empty.
[[nodiscard]] inline std::string_view header_value(const http_headers& headers,
                                                   std::string_view name) noexcept {
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  for (const auto& [key, value] : headers) {
    if (key.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < key.size() && same; ++i) same = lower(key[i]) == lower(name[i]);
    if (same) return value;
  }
  return {};
}

namespace detail {
// The URL as it may appear in an error or a log line: no user info (it may hold a
// password), no query string or fragment (they may hold a token).
inline std::string loggable_url(std::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  const auto scheme = url.find("://");  // none: curl takes the URL for http://
  const auto host_start = scheme == std::string_view::npos ? 0 : scheme + 3;
  const auto path_start = std::min(url.find('/', host_start), url.size());
  const auto at = url.substr(host_start, path_start - host_start).rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  return std::string(url.substr(0, host_start)) + std::string(url.substr(host_start + at + 1));
}
}  // namespace detail

}  // namespace dualcred
