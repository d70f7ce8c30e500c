#pragma once

// Which Redis nodes a rotation must change: ACL users live on each node and are not
// replicated, so every primary and replica gets each change. Link with hiredis.

#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include "../../backend/hiredis.hpp"
#include "../../backend/hiredis_sentinel.hpp"
#include "../../error.hpp"
#include "../../secret.hpp"
#include "../failure.hpp"

namespace dualcred::rotation::redis {

/// Where the nodes come from.
enum class discovery {
  /// The admin's node and its replication group: its primary if it is a replica, and every
  /// replica (`INFO replication`, followed down chained replicas); a cluster node gives the
  /// whole cluster. The default, so one address is enough.
  replication_group,
  single_node,  ///< the admin's node alone
  node_list,    ///< `topology::nodes`, as given
  sentinel,     ///< the primary and replicas the Sentinels report for `sentinel.master_name`
  cluster,      ///< every primary and replica of the cluster `nodes` (seeds) belong to
};

struct topology {
  discovery how = discovery::replication_group;
  /// `node_list`: the nodes; `cluster`: seeds, the first reachable one is asked.
  std::vector<dualcred::redis::endpoint> nodes;
  /// `sentinel`: the Sentinels, the master name and Sentinel's own login.
  dualcred::redis::sentinel_params sentinel;
};

/// A node found, with its role when discovery knows it ("primary", "replica", or empty).
struct node {
  dualcred::redis::endpoint at;
  std::string role;
  [[nodiscard]] std::string name() const {
    return role.empty() ? fmt::format("{}:{}", at.host, at.port)
                        : fmt::format("{}:{} ({})", at.host, at.port, role);
  }
};

/// The nodes found and the Sentinels that watch them (for `auth-pass`).
struct deployment {
  std::vector<node> nodes;
  std::vector<dualcred::redis::endpoint> sentinels;
};

namespace detail {

inline dualcred::redis::params redis_params_at(const dualcred::redis::endpoint& at,
                                               const dualcred::redis::params& like) {
  dualcred::redis::params p = like;
  p.host = at.host;
  p.port = at.port;
  p.db = 0;
  return p;
}

inline std::string redis_where(const dualcred::redis::endpoint& at) {
  return fmt::format("Redis {}:{}", at.host, at.port);
}

/// A field of an `INFO` reply (`role`, `master_host`), empty when absent.
inline std::string info_field(std::string_view info, std::string_view field) {
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

/// `key=value` from a comma-separated `slaveN:ip=..,port=..` value.
inline std::string kv_field(std::string_view list, std::string_view key) {
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

inline result<dualcred::redis::connection> redis_login(const dualcred::redis::endpoint& at,
                                                       const dualcred::redis::params& like,
                                                       const credential& admin) {
  dualcred::redis::connector c(redis_params_at(at, like));
  auto conn = c(admin);
  if (!conn) {
    error e = conn.error();
    e.detail = fmt::format("admin login: {}", e.detail);
    return boost::outcome_v2::failure(std::move(e));
  }
  return conn;
}

inline result<std::string> redis_info(dualcred::redis::connection& conn,
                                      const dualcred::redis::endpoint& at,
                                      std::string_view section) {
  DUALCRED_TRY(r, dualcred::redis::command(conn, {"INFO", section}, redis_where(at)));
  return dualcred::redis::reply_text(r.get());
}

inline bool known(const std::vector<node>& nodes, const dualcred::redis::endpoint& at) {
  return std::any_of(nodes.begin(), nodes.end(), [&](const node& n) { return n.at == at; });
}

/// Parses `CLUSTER NODES`: every node with an address, primary or replica.
inline result<std::vector<node>> parse_cluster_nodes(std::string_view text,
                                                     const dualcred::redis::endpoint& asked) {
  std::vector<node> out;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t eol = std::min(text.find('\n', at), text.size());
    const std::string_view line = text.substr(at, eol - at);
    at = eol + 1;
    std::vector<std::string_view> f;
    for (std::size_t p = 0; p < line.size();) {
      const std::size_t sp = std::min(line.find(' ', p), line.size());
      if (sp > p) f.push_back(line.substr(p, sp - p));
      p = sp + 1;
    }
    if (f.size() < 3) continue;
    const std::string_view flags = f[2];
    if (flags.find("noaddr") != std::string_view::npos ||
        flags.find("handshake") != std::string_view::npos)
      continue;
    std::string_view addr = f[1].substr(0, f[1].find_first_of("@,"));
    const std::size_t colon = addr.rfind(':');
    if (colon == std::string_view::npos)
      return fail(
          errc::backend_unavailable,
          fmt::format("{}: CLUSTER NODES has an address without a port", redis_where(asked)));
    const int port = std::atoi(std::string(addr.substr(colon + 1)).c_str());
    std::string host(addr.substr(0, colon));
    // A node that has never learnt its own address reports an empty one.
    if (host.empty()) host = asked.host;
    if (port <= 0 || port > 65535) continue;
    const bool primary = flags.find("master") != std::string_view::npos;
    out.push_back(
        {dualcred::redis::endpoint{std::move(host), port}, primary ? "primary" : "replica"});
  }
  if (out.empty())
    return fail(errc::backend_unavailable,
                fmt::format("{}: CLUSTER NODES lists no node", redis_where(asked)));
  return out;
}

inline result<deployment> discover_cluster(const std::vector<dualcred::redis::endpoint>& seeds,
                                           const dualcred::redis::params& like,
                                           const credential& admin) {
  std::string problems;
  for (const auto& seed : seeds) {
    auto conn = redis_login(seed, like, admin);
    if (!conn) {
      problems += fmt::format("{}{}", problems.empty() ? "" : "; ", conn.error().detail);
      continue;
    }
    auto r = dualcred::redis::command(conn.value(), {"CLUSTER", "NODES"}, redis_where(seed));
    if (!r) {
      // Not a transport problem: the seed answers but is no cluster node.
      if (r.error().detail.find("cluster support disabled") != std::string::npos)
        return boost::outcome_v2::failure(
            error(condition::not_a_cluster,
                  fmt::format("{} is not in cluster mode (cluster support disabled): name its "
                              "nodes one by one, or use it as the seed of its replication group",
                              redis_where(seed))));
      return std::move(r).as_failure();
    }
    DUALCRED_TRY(nodes, parse_cluster_nodes(dualcred::redis::reply_text(r.value().get()), seed));
    return deployment{std::move(nodes), {}};
  }
  return fail(errc::backend_unavailable, fmt::format("no cluster seed answered: {}", problems));
}

// From the top primary down: each node's replicas from `INFO replication`.
inline result<std::vector<node>> discover_group(const dualcred::redis::endpoint& seed,
                                                const dualcred::redis::params& like,
                                                const credential& admin) {
  dualcred::redis::endpoint top = seed;
  // A replica's primary, followed up a chain (bounded: a loop is a misconfiguration).
  for (int hops = 0;; ++hops) {
    DUALCRED_TRY(conn, redis_login(top, like, admin));
    DUALCRED_TRY(info, redis_info(conn, top, "replication"));
    if (info_field(info, "role") != "slave") break;
    if (hops >= 8)
      return fail(
          errc::invalid_argument,
          fmt::format("{}: a replication chain longer than 8 (a loop?)", redis_where(seed)));
    const int port = std::atoi(info_field(info, "master_port").c_str());
    top = dualcred::redis::endpoint{info_field(info, "master_host"), port};
    if (top.host.empty() || port <= 0)
      return fail(errc::backend_unavailable,
                  fmt::format("{}: a replica that names no primary", redis_where(seed)));
  }
  std::vector<node> out{{top, "primary"}};
  for (std::size_t i = 0; i < out.size(); ++i) {
    DUALCRED_TRY(conn, redis_login(out[i].at, like, admin));
    DUALCRED_TRY(info, redis_info(conn, out[i].at, "replication"));
    const int count = std::atoi(info_field(info, "connected_slaves").c_str());
    for (int k = 0; k < count; ++k) {
      const std::string entry = info_field(info, fmt::format("slave{}", k));
      const dualcred::redis::endpoint at{kv_field(entry, "ip"),
                                         std::atoi(kv_field(entry, "port").c_str())};
      if (at.host.empty() || at.port <= 0 || known(out, at)) continue;
      out.push_back({at, "replica"});
    }
  }
  return out;
}

inline result<deployment> discover_sentinel(const dualcred::redis::sentinel_params& s) {
  return dualcred::redis::ask_sentinels(
      s, [&](dualcred::redis::connection& conn, std::string_view where) -> result<deployment> {
        DUALCRED_TRY(addr,
                     dualcred::redis::command(
                         conn, {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.master_name}, where));
        if (addr->type == REDIS_REPLY_NIL)
          return fail(errc::not_found,
                      fmt::format("{} knows no master named '{}'", where, s.master_name));
        if (addr->type != REDIS_REPLY_ARRAY || addr->elements != 2)
          return fail(errc::backend_unavailable,
                      fmt::format("{}: an unexpected reply to GET-MASTER-ADDR-BY-NAME", where));
        deployment d;
        d.nodes.push_back({dualcred::redis::endpoint{
                               dualcred::redis::reply_text(addr->element[0]),
                               std::atoi(dualcred::redis::reply_text(addr->element[1]).c_str())},
                           "primary"});
        // Each replica and Sentinel is a flat array of field, value pairs (RESP2).
        const auto each = [&](const char* what, auto&& take) -> result<void> {
          DUALCRED_TRY(list,
                       dualcred::redis::command(conn, {"SENTINEL", what, s.master_name}, where));
          if (list->type != REDIS_REPLY_ARRAY)
            return fail(errc::backend_unavailable,
                        fmt::format("{}: an unexpected reply to SENTINEL {}", where, what));
          for (std::size_t i = 0; i < list->elements; ++i) {
            const redisReply* item = list->element[i];
            dualcred::redis::endpoint at;
            for (std::size_t k = 0; item->type == REDIS_REPLY_ARRAY && k + 1 < item->elements;
                 k += 2) {
              const std::string key = dualcred::redis::reply_text(item->element[k]);
              if (key == "ip") at.host = dualcred::redis::reply_text(item->element[k + 1]);
              if (key == "port")
                at.port = std::atoi(dualcred::redis::reply_text(item->element[k + 1]).c_str());
            }
            if (!at.host.empty() && at.port > 0) take(std::move(at));
          }
          return boost::outcome_v2::success();
        };
        DUALCRED_TRY(each("REPLICAS", [&](dualcred::redis::endpoint at) {
          if (!known(d.nodes, at)) d.nodes.push_back({std::move(at), "replica"});
        }));
        d.sentinels = s.sentinels;
        DUALCRED_TRY(each("SENTINELS", [&](dualcred::redis::endpoint at) {
          if (std::find(d.sentinels.begin(), d.sentinels.end(), at) == d.sentinels.end())
            d.sentinels.push_back(std::move(at));
        }));
        return d;
      });
}

}  // namespace detail

/// The nodes `t` names, asked as `admin` (Sentinels with `t.sentinel.sentinel_auth`). `seed`
/// is the admin's own address and connection settings (timeout). Errors name the node or
/// Sentinel that failed; a node that cannot be reached is `backend_unavailable`.
[[nodiscard]] inline result<deployment> discover_nodes(const topology& t,
                                                       const dualcred::redis::params& seed,
                                                       const credential& admin) {
  const dualcred::redis::endpoint self{seed.host, seed.port};
  switch (t.how) {
    case discovery::single_node:
      return deployment{{{self, ""}}, {}};
    case discovery::node_list: {
      if (t.nodes.empty()) return fail(errc::invalid_argument, "an empty Redis node list");
      deployment d;
      for (const auto& at : t.nodes)
        if (!detail::known(d.nodes, at)) d.nodes.push_back({at, ""});
      return d;
    }
    case discovery::sentinel: {
      dualcred::redis::sentinel_params s = t.sentinel;
      if (s.timeout.count() == 0) s.timeout = seed.timeout;
      DUALCRED_TRY(d, detail::discover_sentinel(s));
      // Sentinel learns a new primary's replicas from its INFO, seconds after a failover:
      // the primary's own list is added, so no linked replica is missed.
      DUALCRED_TRY(group, detail::discover_group(d.nodes.front().at, seed, admin));
      for (auto& n : group)
        if (!detail::known(d.nodes, n.at)) d.nodes.push_back(std::move(n));
      return d;
    }
    case discovery::cluster:
      return detail::discover_cluster(
          t.nodes.empty() ? std::vector<dualcred::redis::endpoint>{self} : t.nodes, seed, admin);
    case discovery::replication_group: {
      DUALCRED_TRY(conn, detail::redis_login(self, seed, admin));
      DUALCRED_TRY(info, detail::redis_info(conn, self, "cluster"));
      if (detail::info_field(info, "cluster_enabled") == "1")
        return detail::discover_cluster({self}, seed, admin);
      DUALCRED_TRY(nodes, detail::discover_group(self, seed, admin));
      return deployment{std::move(nodes), {}};
    }
  }
  return fail(errc::invalid_argument, "unknown Redis discovery");
}

}  // namespace dualcred::rotation::redis
