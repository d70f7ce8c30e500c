#pragma once

// dualcred-rotate's Redis deployment flags: which nodes a rotation changes (an explicit list,
// what Sentinels report, a cluster, the seed's replication group by default, or one node).

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <dualcred/backend/hiredis_sentinel.hpp>
#include <dualcred/rotation/redis/admin.hpp>
#include <dualcred/rotation/redis/topology.hpp>
#include <dualcred/rotation/rotator.hpp>

#include "pg_deployment_flags.hpp"

namespace dualcred_rotate {

constexpr std::string_view redis_topology_usage =
    R"(  --redis-node HOST:PORT      rotate on exactly these nodes; repeat for each (default:
                              --redis-host's replication group, or its whole cluster,
                              found with INFO replication / CLUSTER NODES)
  --redis-sentinel HOST:PORT  ask these Sentinels (in order) for the primary and replicas of
                              --redis-master NAME; repeat for each
  --redis-sentinel-user USER  Sentinel's own ACL user; its password from
                              REDIS_SENTINEL_PASSWORD
  --redis-cluster HOST:PORT   every primary and replica of the cluster this node is in
  --redis-single-node         only --redis-host, no discovery
  Each step changes and verifies every node and prints each; an unreachable or refusing node
  fails it (exit 5 or 6, naming the node) before the store moves on: run it again.
  Replicas whose masteruser is the rotated user get the new masterauth; Sentinels logged in
  as it get SENTINEL SET auth-pass. With --redis-acl-save each node keeps the change (ACL
  SAVE with an aclfile, else CONFIG REWRITE) or the step fails.
)";

struct redis_topology_flags {
  std::vector<dualcred::redis::endpoint> nodes, sentinels;
  std::optional<dualcred::redis::endpoint> cluster;
  std::string master, sentinel_user;
  bool single_node = false;
};

/// Whether `flag` (with `value`) is one of these; a usage error's text when its value is bad.
/// `--redis-single-node` takes no value: see `is_redis_topology_switch`.
inline std::optional<std::optional<std::string>> take_redis_topology_flag(std::string_view flag,
                                                                          std::string_view value,
                                                                          redis_topology_flags& f) {
  const auto endpoint = [&]() -> std::optional<dualcred::redis::endpoint> {
    // One HOST:PORT parser for the tool (pg_deployment_flags.hpp's).
    const auto hp = parse_host_port(value);
    if (!hp) return std::nullopt;
    return dualcred::redis::endpoint{hp->host, hp->port};
  };
  const auto bad = [&] {
    return std::optional<std::string>(fmt::format("{} wants HOST:PORT (port 1 to 65535)", flag));
  };
  if (flag == "--redis-node" || flag == "--redis-sentinel" || flag == "--redis-cluster") {
    const auto at = endpoint();
    if (!at) return bad();
    if (flag == "--redis-node")
      f.nodes.push_back(*at);
    else if (flag == "--redis-sentinel")
      f.sentinels.push_back(*at);
    else if (f.cluster)
      return std::optional<std::string>("--redis-cluster is given once (one seed node)");
    else
      f.cluster = *at;
    return std::optional<std::string>();
  }
  if (flag == "--redis-master") {
    f.master = value;
    return std::optional<std::string>();
  }
  if (flag == "--redis-sentinel-user") {
    f.sentinel_user = value;
    return std::optional<std::string>();
  }
  return std::nullopt;
}

inline bool is_redis_topology_switch(std::string_view flag, redis_topology_flags& f) {
  if (flag != "--redis-single-node") return false;
  f.single_node = true;
  return true;
}

/// The admin's topology from the flags (and REDIS_SENTINEL_PASSWORD); a usage error's text
/// when they do not fit together.
inline dualcred::result<dualcred::rotation::redis::topology> redis_topology_from(
    const redis_topology_flags& f, std::chrono::milliseconds timeout) {
  using dualcred::errc;
  using dualcred::fail;
  using dualcred::rotation::redis::discovery;
  const int sources = (f.nodes.empty() ? 0 : 1) + (f.sentinels.empty() ? 0 : 1) +
                      (f.cluster ? 1 : 0) + (f.single_node ? 1 : 0);
  if (sources > 1)
    return fail(errc::invalid_argument,
                "give one of --redis-node, --redis-sentinel, --redis-cluster and "
                "--redis-single-node");
  if (!f.master.empty() && f.sentinels.empty())
    return fail(errc::invalid_argument, "--redis-master goes with --redis-sentinel");
  if (!f.sentinel_user.empty() && f.sentinels.empty())
    return fail(errc::invalid_argument, "--redis-sentinel-user goes with --redis-sentinel");
  dualcred::rotation::redis::topology t;
  if (f.single_node) {
    t.how = dualcred::rotation::redis::discovery::single_node;
  } else if (!f.nodes.empty()) {
    t.how = dualcred::rotation::redis::discovery::node_list;
    t.nodes = f.nodes;
  } else if (f.cluster) {
    t.how = dualcred::rotation::redis::discovery::cluster;
    t.nodes = {*f.cluster};
  } else if (!f.sentinels.empty()) {
    if (f.master.empty())
      return fail(errc::invalid_argument, "--redis-sentinel needs --redis-master NAME");
    t.how = dualcred::rotation::redis::discovery::sentinel;
    t.sentinel.sentinels = f.sentinels;
    t.sentinel.master_name = f.master;
    t.sentinel.timeout = timeout;
    const char* pw = std::getenv("REDIS_SENTINEL_PASSWORD");
    if (pw != nullptr && *pw != '\0')
      t.sentinel.sentinel_auth = dualcred::credential{
          f.sentinel_user.empty() ? "default" : f.sentinel_user, dualcred::secret(pw)};
    else if (!f.sentinel_user.empty())
      return fail(errc::invalid_argument,
                  "--redis-sentinel-user needs its password in REDIS_SENTINEL_PASSWORD");
  }
  return t;
}

/// Before a step that changes or checks the backend: every node reachable and letting the
/// admin in, so an unreachable node fails before the store is written. An exit code then.
inline std::optional<int> redis_topology_precheck(const dualcred::rotation::redis::acl_admin& admin,
                                                  std::string_view command) {
  static constexpr std::string_view steps[] = {"prepare",      "apply",    "promote", "verify",
                                               "decommission", "rollback", "all"};
  if (std::find(std::begin(steps), std::end(steps), command) == std::end(steps))
    return std::nullopt;
  auto ok = admin.check();
  if (ok) return std::nullopt;
  return report_failure(dualcred::rotation::as_failure(dualcred::rotation::failure_site::backend,
                                                       ok.error(), admin.describe()),
                        {command});
}

}  // namespace dualcred_rotate
