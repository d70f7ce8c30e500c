#pragma once

// Addresses on dualcred-rotate's command line: HOST:PORT, and whether a host is on loopback
// (through the Redis allow list's matching). Pure parsing: no name is resolved here.

#include <optional>
#include <string>
#include <string_view>

#include <dualcred/rotation/redis/allow.hpp>

#include "args.hpp"

namespace dualcred_rotate {

struct host_port {
  std::string host;
  int port = 0;
};

/// `HOST:PORT`, `[V6]:PORT`; nullopt when malformed.
[[nodiscard]] inline std::optional<host_port> parse_host_port(std::string_view text) {
  std::string_view host, port;
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;
  }
  const auto p = parse_integer(port, 1, 65535);
  if (host.empty() || !p) return std::nullopt;
  return host_port{std::string(host), static_cast<int>(*p)};
}

/// 127.0.0.0/8, ::1, and `localhost` (which resolvers map there).
[[nodiscard]] inline bool is_loopback(std::string_view host) {
  static const auto loopback =
      dualcred::rotation::redis::allow_list::parse("127.0.0.0/8,::1,localhost").value();
  return loopback.contains(host);
}

}  // namespace dualcred_rotate
