#pragma once

// The pieces of dualcred-rotate's flag table (flag_table.hpp): a flag's entry, and the value
// checks its setters share. A setter's error names the flag and never quotes the value: a
// value typed in the wrong place may be a password.

#include <algorithm>
#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <dualcred/rotation/password.hpp>

#include "args.hpp"
#include "config.hpp"
#include "net.hpp"

#ifndef DUALCRED_ROTATE_HAVE_CARES
#define DUALCRED_ROTATE_HAVE_CARES 0
#endif

namespace dualcred_rotate {

/// What the parser knows before the configuration is finished (cli.hpp's `finish`).
struct draft {
  config c;
  std::optional<backend_kind> backend;
  std::optional<store_kind> store;
  std::string pg_roles;
};

using problem = std::optional<std::string>;
using setter = problem (*)(draft&, std::string_view);

struct flag_spec {
  std::string_view name;
  std::string_view value;  ///< the value's name in --help; empty for a switch
  std::string_view section;
  std::string_view help;  ///< lines after the first are indented under it
  setter set;
};

namespace flag_detail {

inline constexpr std::chrono::milliseconds max_day2_duration = std::chrono::hours(24 * 3650);

inline problem port(int& out, std::string_view flag, std::string_view v) {
  const auto p = parse_integer(v, 1, 65535);
  if (!p) return fmt::format("{} wants a port number, 1 to 65535", flag);
  out = static_cast<int>(*p);
  return std::nullopt;
}

// "0", "250ms", "1s", "1h", "1d": a bound as --help and the errors write it.
inline std::string duration_text(std::chrono::milliseconds d) {
  using namespace std::chrono;
  if (d.count() == 0) return "0";
  if (d % hours(24) == 0ms) return fmt::format("{}d", d / hours(24));
  if (d % hours(1) == 0ms) return fmt::format("{}h", d / hours(1));
  if (d % seconds(1) == 0ms) return fmt::format("{}s", d / seconds(1));
  return fmt::format("{}ms", d.count());
}

// A duration flag within [min, max]; the error names the flag and the bounds.
inline problem duration(std::chrono::milliseconds& out, std::string_view flag, std::string_view v,
                        std::chrono::milliseconds min, std::chrono::milliseconds max) {
  const auto d = parse_duration(v, min, max);
  if (!d)
    return fmt::format("{} wants a duration, {} to {} (e.g. 0.5, 30s, 5m)", flag,
                       duration_text(min), duration_text(max));
  out = *d;
  return std::nullopt;
}

inline problem day2_duration(std::optional<std::chrono::seconds>& out, std::string_view flag,
                             std::string_view v) {
  const auto d = parse_duration(v, std::chrono::milliseconds(0), max_day2_duration);
  if (!d) return fmt::format("{} wants a duration, 0s to 3650d (e.g. 30d, 12h)", flag);
  out = std::chrono::duration_cast<std::chrono::seconds>(*d);
  return std::nullopt;
}

inline problem endpoint(std::vector<host_port>& out, std::string_view flag, std::string_view v) {
  const auto hp = parse_host_port(v);
  if (!hp) return fmt::format("{} wants HOST:PORT (IPv6 as [ADDR]:PORT), port 1 to 65535", flag);
  out.push_back(*hp);
  return std::nullopt;
}

inline problem path(std::string& out, std::string_view flag, std::string_view v) {
  if (v.empty()) return fmt::format("{} wants a path", flag);
  out = v;
  return std::nullopt;
}

inline problem word(std::string& out, std::string_view flag, std::string_view v) {
  if (v.empty()) return fmt::format("{} wants a value", flag);
  out = v;
  return std::nullopt;
}

// http:// or https:// without user info: a password in the URL would sit on the command line.
inline problem instance(draft& d, std::string_view url) {
  std::string_view rest;
  if (url.starts_with("http://"))
    rest = url.substr(7);
  else if (url.starts_with("https://"))
    rest = url.substr(8);
  else
    return "--instance wants an http:// or https:// URL";
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos)
    return "--instance must not carry user info (user:password@): a command line is visible "
           "to every user";
  if (authority.empty()) return "--instance has no host";
  d.c.instances.emplace_back(url);
  return std::nullopt;
}

// NAME or NAME:PORT: a DNS name whose addresses (or, for _service._proto.name, SRV targets)
// are the instances.
inline problem instances_dns(draft& d, std::string_view v) {
  if (!DUALCRED_ROTATE_HAVE_CARES)
    return "--instances-dns: this dualcred-rotate was built without c-ares (the cares part)";
  if (v.empty() || v.find_first_of(" /@") != std::string_view::npos)
    return "--instances-dns wants a DNS name, NAME or NAME:PORT";
  if (const auto colon = v.rfind(':'); colon != std::string_view::npos) {
    int checked = 0;
    if (auto why = port(checked, "--instances-dns", v.substr(colon + 1))) return why;
  }
  d.c.fleet.dns_names.emplace_back(v);
  return std::nullopt;
}

// --prometheus URL is where the fleet check reads versions; --prometheus alone (no URL after
// it) is still status's Prometheus text output.
inline problem prometheus(draft& d, std::string_view v) {
  if (v.empty()) {
    d.c.day2.prometheus = true;
    return std::nullopt;
  }
  const std::string_view rest = v.substr(v.find("://") + 3);
  if (rest.substr(0, rest.find_first_of("/?#")).find('@') != std::string_view::npos)
    return "--prometheus must not carry user info (user:password@): a command line is visible "
           "to every user";
  std::string url(v);
  while (url.ends_with('/')) url.pop_back();
  d.c.fleet.prometheus_url = std::move(url);
  return std::nullopt;
}

inline problem acl_rules(draft& d, std::string_view v) {
  std::size_t at = 0;
  while (at < v.size()) {
    const std::size_t end = std::min(v.find(' ', at), v.size());
    if (end > at) d.c.day2.acl_rules.emplace_back(v.substr(at, end - at));
    at = end + 1;
  }
  return std::nullopt;
}

inline problem redis_allow(draft& d, std::string_view v) {
  // Parsed into a scratch list first, so the error names the flag and never quotes a value.
  auto list = dualcred::rotation::redis::allow_list::parse(v);
  if (!list)
    return "--redis-allow wants HOST, ADDRESS or ADDRESS/BITS, comma-separated (IPv4 or IPv6)";
  for (std::size_t at = 0; at <= v.size();) {
    const std::size_t comma = std::min(v.find(',', at), v.size());
    (void)d.c.redis_topology.allow.add(v.substr(at, comma - at));
    at = comma + 1;
  }
  return std::nullopt;
}

template <class E, std::size_t N>
problem choice(std::optional<E>& out, const std::array<named<E>, N>& table, std::string_view v,
               std::string_view message) {
  out = lookup(table, v);
  if (!out) return std::string(message);
  return std::nullopt;
}

}  // namespace flag_detail

inline constexpr std::string_view store_section = "Store (where CURRENT, NEXT and PREVIOUS live)";
inline constexpr std::string_view backend_section = "Backend";
inline constexpr std::string_view rollout_section = "Rollout";
inline constexpr std::string_view pg_topology_section = "PostgreSQL hot standbys and PgBouncer";
inline constexpr std::string_view redis_topology_section = "Redis replicas, Sentinel and Cluster";
inline constexpr std::string_view day2_section = "Day-2 commands (init, due, status)";

}  // namespace dualcred_rotate
