#pragma once

// Addresses on dualcred-rotate's command line: HOST:PORT, the --redis-allow list (host names,
// IPv4/IPv6 addresses and CIDR blocks), and whether a host is on loopback. Pure parsing: no
// name is resolved here.

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

/// An IPv4 or IPv6 address as 16 bytes (IPv4 mapped into ::ffff:0:0/96, so one comparison
/// serves both families).
struct ip_address {
  std::array<std::uint8_t, 16> bytes{};
  bool v4 = false;
};

[[nodiscard]] inline std::optional<ip_address> parse_ip(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  const std::string s(text);  // inet_pton wants it NUL-terminated
  ip_address a;
  std::array<std::uint8_t, 4> v4{};
  if (::inet_pton(AF_INET, s.c_str(), v4.data()) == 1) {
    a.v4 = true;
    a.bytes[10] = a.bytes[11] = 0xff;
    for (int i = 0; i < 4; ++i) a.bytes[12 + i] = v4[i];
    return a;
  }
  if (::inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) return a;
  return std::nullopt;
}

/// One entry of --redis-allow: a host name (matched as written, case-insensitively) or an
/// address block (a bare address is a block of one).
struct allow_entry {
  std::string host;                ///< a host name; empty for a block
  std::optional<ip_address> base;  ///< the block's first address
  int prefix = 0;                  ///< the block's length in bits, counted on 128 (v4: + 96)
};

/// Whether `a` lies in the block `base/prefix` (prefix counted on the 16-byte form).
[[nodiscard]] inline bool in_block(const ip_address& a, const ip_address& base, int prefix) {
  for (int bit = 0; bit < prefix; ++bit) {
    const int byte = bit / 8, mask = 0x80 >> (bit % 8);
    if ((a.bytes[byte] & mask) != (base.bytes[byte] & mask)) return false;
  }
  return true;
}

// A host name as DNS allows it: letters, digits, '-', '.', '_' (service names), at most 253.
[[nodiscard]] inline bool is_host_name(std::string_view s) {
  if (s.empty() || s.size() > 253 || s.front() == '-' || s.front() == '.') return false;
  for (const char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.' || c == '_'))
      return false;
  return true;
}

/// One entry: `HOST`, `ADDR` or `ADDR/BITS` (IPv6 may be bracketed). nullopt when malformed
/// or when the block has bits set past its prefix (`10.0.0.1/8` is a typo for what?).
[[nodiscard]] inline std::optional<allow_entry> parse_allow_entry(std::string_view text) {
  if (text.starts_with('[')) {
    // [V6] or [V6]/BITS: the brackets dropped, and what is inside must be an address.
    const auto close = text.find(']');
    if (close == std::string_view::npos || !parse_ip(text.substr(1, close - 1)))
      return std::nullopt;
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && rest.front() != '/') return std::nullopt;
    return parse_allow_entry(std::string(text.substr(1, close - 1)) + std::string(rest));
  }
  const auto slash = text.find('/');
  const auto addr = parse_ip(text.substr(0, slash));
  if (!addr) {
    if (slash != std::string_view::npos || !is_host_name(text)) return std::nullopt;
    return allow_entry{std::string(text), std::nullopt, 0};
  }
  int bits = addr->v4 ? 32 : 128;
  if (slash != std::string_view::npos) {
    const auto n = parse_integer(text.substr(slash + 1), 0, bits);
    if (!n) return std::nullopt;
    bits = static_cast<int>(*n);
  }
  const int prefix = addr->v4 ? bits + 96 : bits;
  for (int bit = prefix; bit < 128; ++bit)
    if (addr->bytes[bit / 8] & (0x80 >> (bit % 8))) return std::nullopt;
  return allow_entry{{}, addr, prefix};
}

/// `HOST|CIDR[,...]`: every entry valid, none empty; nullopt otherwise.
[[nodiscard]] inline std::optional<std::vector<allow_entry>> parse_allow_list(
    std::string_view text) {
  std::vector<allow_entry> out;
  std::size_t at = 0;
  for (;;) {
    const std::size_t comma = text.find(',', at);
    auto entry = parse_allow_entry(text.substr(at, comma - at));
    if (!entry || out.size() >= 1024) return std::nullopt;
    out.push_back(std::move(*entry));
    if (comma == std::string_view::npos) return out;
    at = comma + 1;
  }
}

/// The entry for one host the operator named: its address as a block of one, else its name.
[[nodiscard]] inline allow_entry allow_exactly(const std::string& host) {
  if (const auto a = parse_ip(host)) return allow_entry{{}, a, 128};
  return allow_entry{host, std::nullopt, 0};
}

[[nodiscard]] inline bool same_host_name(std::string_view a, std::string_view b) {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

/// Whether `host` (a name or an address literal) falls inside the list.
[[nodiscard]] inline bool allowed(const std::vector<allow_entry>& list, std::string_view host) {
  const auto a = parse_ip(host);
  for (const auto& e : list) {
    if (e.base && a && in_block(*a, *e.base, e.prefix)) return true;
    if (!e.base && same_host_name(e.host, host)) return true;
  }
  return false;
}

/// 127.0.0.0/8, ::1, and `localhost` (which resolvers map there).
[[nodiscard]] inline bool is_loopback(std::string_view host) {
  if (same_host_name(host, "localhost")) return true;
  const auto a = parse_ip(host);
  if (!a) return false;
  if (a->v4) return a->bytes[12] == 127;
  for (int i = 0; i < 15; ++i)
    if (a->bytes[i] != 0) return false;
  return a->bytes[15] == 1;
}

}  // namespace dualcred_rotate
