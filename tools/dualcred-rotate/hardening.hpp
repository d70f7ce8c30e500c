#pragma once

// What dualcred-rotate does to itself before it holds a secret, and the one warning it owes
// an operator whose Redis credentials cross a network in clear.

#include <sys/prctl.h>

#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "config.hpp"
#include "net.hpp"

namespace dualcred_rotate {

/// No core dump, and no ptrace or /proc/PID/mem by other processes of the same user: the
/// process will hold CURRENT, NEXT and admin passwords. (The secrets themselves also sit in
/// MADV_DONTDUMP pages: tools/meson.build builds the tool with DUALCRED_SECRET_DONTDUMP=1.)
/// False when the kernel refused.
[[nodiscard]] inline bool make_undumpable() noexcept {
  return ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0;
}

/// The Redis nodes the operator named that are not on loopback; where a credential goes.
[[nodiscard]] inline std::vector<std::string> redis_nodes_off_loopback(const config& c) {
  std::vector<std::string> out;
  const auto add = [&](const std::string& host, int port) {
    if (is_loopback(host)) return;
    std::string name = host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                                           : fmt::format("{}:{}", host, port);
    for (const auto& seen : out)
      if (seen == name) return;
    out.push_back(std::move(name));
  };
  const auto& t = c.redis_topology;
  // Sentinel discovery and a node list reach --redis-host only when it is among them.
  if (t.sentinels.empty() && t.nodes.empty() && !t.cluster) add(c.redis_host, c.redis_port);
  for (const auto& hp : t.nodes) add(hp.host, hp.port);
  for (const auto& hp : t.sentinels) add(hp.host, hp.port);
  if (t.cluster) add(t.cluster->host, t.cluster->port);
  return out;
}

/// One warning line when the command sends a Redis credential beyond loopback: this build's
/// hiredis speaks no TLS. nullopt when nothing leaves the host (or nothing is sent).
[[nodiscard]] inline std::optional<std::string> redis_plaintext_warning(const config& c) {
  if (c.backend != backend_kind::redis) return std::nullopt;
  if (c.command == command_kind::status) return std::nullopt;  // reads the store only
  const auto nodes = redis_nodes_off_loopback(c);
  if (nodes.empty()) return std::nullopt;
  std::string list;
  for (const auto& n : nodes) list += (list.empty() ? "" : ", ") + n;
  return fmt::format(
      "warning: Redis credentials go in clear to {} (not loopback): this build's hiredis has "
      "no TLS; see docs/security.md",
      list);
}

}  // namespace dualcred_rotate
