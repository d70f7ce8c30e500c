#pragma once

// dualcred-rotate's Redis deployment: which nodes a rotation changes (an explicit list, what
// Sentinels report, a cluster, the seed's replication group by default, or one node). The
// flags are in flag_table.hpp and checked together in cli_checks.hpp.

#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>

#include <dualcred/backend/hiredis_sentinel.hpp>
#include <dualcred/rotation/redis/admin.hpp>
#include <dualcred/rotation/redis/topology.hpp>
#include <dualcred/rotation/rotator.hpp>

#include <dualcred/rotation/detail/printable.hpp>
#include "config.hpp"
#include "exit_codes.hpp"

namespace dualcred_rotate {

/// The admin's topology from the configuration; `sentinel_password` from
/// REDIS_SENTINEL_PASSWORD or --redis-sentinel-password-file.
[[nodiscard]] inline dualcred::rotation::redis::topology redis_topology_from(
    const redis_topology_flags& f, std::chrono::milliseconds timeout,
    std::optional<dualcred::secret> sentinel_password) {
  using dualcred::rotation::redis::discovery;
  const auto endpoints = [](const std::vector<host_port>& list) {
    std::vector<dualcred::redis::endpoint> out;
    for (const auto& hp : list) out.push_back({hp.host, hp.port});
    return out;
  };
  dualcred::rotation::redis::topology t;
  if (f.single_node) {
    t.how = discovery::single_node;
  } else if (!f.nodes.empty()) {
    t.how = discovery::node_list;
    t.nodes = endpoints(f.nodes);
  } else if (f.cluster) {
    t.how = discovery::cluster;
    t.nodes = {{f.cluster->host, f.cluster->port}};
  } else if (!f.sentinels.empty()) {
    t.how = discovery::sentinel;
    t.sentinel.sentinels = endpoints(f.sentinels);
    t.sentinel.master_name = f.master;
    t.sentinel.timeout = timeout;
    if (sentinel_password)
      t.sentinel.sentinel_auth = dualcred::credential{
          f.sentinel_user.empty() ? "default" : f.sentinel_user, std::move(*sentinel_password)};
  }
  return t;
}

/// Before a step that changes or checks the backend: every node reachable and letting the
/// admin in, so an unreachable node fails before the store is written. An exit code then.
inline std::optional<int> redis_topology_precheck(const dualcred::rotation::redis::acl_admin& admin,
                                                  command_kind command) {
  if (!touches_backend(command)) return std::nullopt;
  auto ok = admin.check();
  if (ok) return std::nullopt;
  return report_failure(dualcred::rotation::as_failure(dualcred::rotation::failure_site::backend,
                                                       ok.error(), admin.describe()),
                        {to_string(command)});
}

}  // namespace dualcred_rotate
