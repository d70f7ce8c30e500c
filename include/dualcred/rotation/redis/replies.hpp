#pragma once

// The parts of Redis server replies that discovery reads (`INFO` fields, `INFO replication`'s
// replicas, `CLUSTER NODES`, Sentinel's field/value entries), as pure functions: no I/O and no
// hiredis, so they can be fuzzed. Every count and list a server reports is capped: a hostile
// node answering `connected_slaves:2000000000` gets an error naming it and the cap, not a loop.

#include <algorithm>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "../../error.hpp"
#include "../detail/printable.hpp"

namespace dualcred::rotation::redis {

/// The most replicas one node's `INFO replication` or one Sentinel's `SENTINEL REPLICAS` may
/// list.
inline constexpr std::size_t max_replicas = 1000;
/// The most lines `CLUSTER NODES` may have.
inline constexpr std::size_t max_cluster_nodes = 1000;
/// The most Sentinels `SENTINEL SENTINELS` may list.
inline constexpr std::size_t max_sentinels = 1000;
/// The most nodes a replication group may have in all (chained replicas included).
inline constexpr std::size_t max_group_nodes = 1000;

namespace replies {

/// A host and port as a server reported them (not yet checked against anything).
struct address {
  std::string host;
  int port = 0;
};

/// One `CLUSTER NODES` line with an address: the host may be empty (a node that has not
/// learnt its own address).
struct cluster_node {
  address at;
  bool primary = false;
};

/// Server text for a message: at most 200 bytes of it, made inert (`detail::printable`).
[[nodiscard]] inline std::string printable(std::string_view s) {
  if (s.size() <= 200) return rotation::detail::printable(s);
  return rotation::detail::printable(s.substr(0, 200)) + "...";
}

/// A port: decimal digits only, 1 to 65535.
[[nodiscard]] inline std::optional<int> port_number(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  int n = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n < 1 || n > 65535) return std::nullopt;
  return n;
}

/// A field of an `INFO` reply (`role`, `master_host`), empty when absent.
[[nodiscard]] inline std::string info_field(std::string_view info, std::string_view field) {
  std::size_t at = 0;
  while (at < info.size()) {
    const std::size_t eol = std::min(info.find('\n', at), info.size());
    std::string_view line = info.substr(at, eol - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > field.size() && line.starts_with(field) && line[field.size()] == ':')
      return std::string(line.substr(field.size() + 1));
    at = eol + 1;
  }
  return {};
}

/// `key=value` from a comma-separated `slaveN:ip=..,port=..` value, empty when absent.
[[nodiscard]] inline std::string kv_field(std::string_view list, std::string_view key) {
  std::size_t at = 0;
  while (at <= list.size()) {
    const std::size_t end = std::min(list.find(',', at), list.size());
    const std::string_view item = list.substr(at, end - at);
    if (item.size() > key.size() && item.starts_with(key) && item[key.size()] == '=')
      return std::string(item.substr(key.size() + 1));
    at = end + 1;
  }
  return {};
}

/// `backend_unavailable` (an answer that cannot be used) when a server reports more than
/// `cap` of `what`, naming `where` and the cap.
[[nodiscard]] inline result<void> within_cap(std::size_t count, std::size_t cap,
                                             std::string_view what, std::string_view where) {
  if (count <= cap) return boost::outcome_v2::success();
  return fail(errc::backend_unavailable,
              fmt::format("{}: reports {} {}, more than the cap of {}; nothing was changed", where,
                          count, what, cap));
}

/// The replicas an `INFO replication` reply lists (`slaveN:ip=..,port=..`), at most
/// `max_replicas` (and `connected_slaves` at most that too); entries without an address or
/// with port 0 (a replica that never gave its listening port) are left out. `where` names
/// the node in errors.
[[nodiscard]] inline result<std::vector<address>> info_replicas(std::string_view info,
                                                                std::string_view where) {
  const std::string claimed = info_field(info, "connected_slaves");
  if (!claimed.empty()) {
    const bool digits =
        claimed.size() <= 18 &&
        std::all_of(claimed.begin(), claimed.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits)
      return fail(errc::backend_unavailable,
                  fmt::format("{}: INFO replication has connected_slaves:{}, not a count", where,
                              printable(claimed)));
    DUALCRED_TRY(within_cap(std::stoull(claimed), max_replicas,
                            "connected replicas in INFO replication", where));
  }
  std::vector<address> out;
  std::size_t listed = 0;
  for (std::size_t at = 0; at < info.size();) {
    const std::size_t eol = std::min(info.find('\n', at), info.size());
    std::string_view line = info.substr(at, eol - at);
    at = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon <= 5 || !line.starts_with("slave")) continue;
    const std::string_view n = line.substr(5, colon - 5);
    if (!std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    DUALCRED_TRY(within_cap(++listed, max_replicas, "replicas in INFO replication", where));
    const std::string_view value = line.substr(colon + 1);
    address a{kv_field(value, "ip"), port_number(kv_field(value, "port")).value_or(0)};
    if (!a.host.empty() && a.port > 0) out.push_back(std::move(a));
  }
  return out;
}

/// The nodes `CLUSTER NODES` lists with an address (not `noaddr`, not in `handshake`), at
/// most `max_cluster_nodes` lines.
[[nodiscard]] inline result<std::vector<cluster_node>> cluster_nodes(std::string_view text,
                                                                     std::string_view where) {
  std::vector<cluster_node> out;
  std::size_t lines = 0;
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t eol = std::min(text.find('\n', at), text.size());
    std::string_view line = text.substr(at, eol - at);
    at = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string_view f[3];
    std::size_t fields = 0;
    for (std::size_t p = 0; p < line.size() && fields < 3;) {
      const std::size_t sp = std::min(line.find(' ', p), line.size());
      if (sp > p) f[fields++] = line.substr(p, sp - p);
      p = sp + 1;
    }
    if (fields < 3) continue;
    DUALCRED_TRY(within_cap(++lines, max_cluster_nodes, "nodes in CLUSTER NODES", where));
    const std::string_view flags = f[2];
    if (flags.find("noaddr") != std::string_view::npos ||
        flags.find("handshake") != std::string_view::npos)
      continue;
    const std::string_view addr = f[1].substr(0, f[1].find_first_of("@,"));
    const std::size_t colon = addr.rfind(':');
    if (colon == std::string_view::npos)
      return fail(errc::backend_unavailable,
                  fmt::format("{}: CLUSTER NODES has an address without a port ('{}')", where,
                              printable(addr)));
    const auto port = port_number(addr.substr(colon + 1));
    if (!port) continue;
    out.push_back({{std::string(addr.substr(0, colon)), *port},
                   flags.find("master") != std::string_view::npos});
  }
  if (out.empty())
    return fail(errc::backend_unavailable, fmt::format("{}: CLUSTER NODES lists no node", where));
  return out;
}

/// The address in one `SENTINEL REPLICAS` / `SENTINEL SENTINELS` entry, a flat list of field,
/// value pairs (RESP2); nullopt without an `ip` or a valid `port`.
[[nodiscard]] inline std::optional<address> sentinel_entry(
    std::span<const std::string_view> fields) {
  address a;
  for (std::size_t k = 0; k + 1 < fields.size(); k += 2) {
    if (fields[k] == "ip") a.host = std::string(fields[k + 1]);
    if (fields[k] == "port") a.port = port_number(fields[k + 1]).value_or(0);
  }
  if (a.host.empty() || a.port <= 0) return std::nullopt;
  return a;
}

}  // namespace replies
}  // namespace dualcred::rotation::redis
