#pragma once

// Which Redis nodes a rotation must change: ACL users live on each node and are not
// replicated, so every primary and replica gets each change. Link with hiredis.

#include <algorithm>
#include <cstddef>
#include <optional>
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
#include "allow.hpp"
#include "replies.hpp"
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
  /// The Sentinels the operator named: the only ones ever sent a command.
  std::vector<dualcred::redis::endpoint> sentinels;
  /// Sentinels that `SENTINEL SENTINELS` lists but the operator did not name. Anyone who may
  /// `PUBLISH` on the primary's `__sentinel__:hello` can add one, so they are sent nothing;
  /// the step goes on with the named ones and reports these.
  std::vector<dualcred::redis::endpoint> unnamed_sentinels;
};

/// The hosts a discovered node may be on: every host the operator named in `t` (its nodes,
/// cluster seeds and Sentinels; for the default discovery and `single_node`, the admin's own
/// host `seed.host`), plus `extra` (`--redis-allow`).
[[nodiscard]] inline allow_list allowed_hosts(const topology& t,
                                              const dualcred::redis::params& seed,
                                              const allow_list& extra = {}) {
  allow_list out = extra;
  // A named host that is no valid entry (an odd name) only stays unmatchable: discovered
  // nodes must then be allowed explicitly.
  const auto name = [&](const std::string& host) { (void)out.add(host); };
  switch (t.how) {
    case discovery::node_list:
    case discovery::cluster:
      for (const auto& at : t.nodes) name(at.host);
      if (t.how == discovery::cluster && t.nodes.empty()) name(seed.host);
      break;
    case discovery::sentinel:
      for (const auto& at : t.sentinel.sentinels) name(at.host);
      break;
    case discovery::single_node:
    case discovery::replication_group:
      name(seed.host);
      break;
  }
  return out;
}

namespace detail {

using replies::info_field;
using replies::kv_field;

inline dualcred::redis::params redis_params_at(const dualcred::redis::endpoint& at,
                                               const dualcred::redis::params& like) {
  dualcred::redis::params p = like;
  p.host = at.host;
  p.port = at.port;
  p.db = 0;
  return p;
}

inline std::string redis_where(const dualcred::redis::endpoint& at) {
  return fmt::format("Redis {}:{}", replies::printable(at.host), at.port);
}

/// The error for a discovered node outside the allowed set, made in this one place.
inline error node_not_allowed(const dualcred::redis::endpoint& at, std::string_view how,
                              const allow_list& allowed) {
  return error(condition::node_not_allowed,
               fmt::format("{}:{} ({}) is outside the allowed hosts ({}): nothing was sent to it "
                           "and nothing was changed",
                           replies::printable(at.host), at.port, how,
                           allowed.empty() ? std::string("none") : allowed.describe()));
}

/// Checks a discovered node before anything is sent to it.
inline result<void> admit(const allow_list& allowed, const dualcred::redis::endpoint& at,
                          std::string_view how) {
  if (allowed.contains(at.host)) return boost::outcome_v2::success();
  return boost::outcome_v2::failure(node_not_allowed(at, how, allowed));
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

/// `CLUSTER NODES` from `asked`, each node admitted before it is returned.
inline result<std::vector<node>> parse_cluster_nodes(std::string_view text,
                                                     const dualcred::redis::endpoint& asked,
                                                     const allow_list& allowed) {
  DUALCRED_TRY(found, replies::cluster_nodes(text, redis_where(asked)));
  std::vector<node> out;
  for (auto& n : found) {
    // A node that has never learnt its own address reports an empty one.
    dualcred::redis::endpoint at{n.at.host.empty() ? asked.host : std::move(n.at.host), n.at.port};
    DUALCRED_TRY(
        admit(allowed, at, fmt::format("listed by CLUSTER NODES on {}", redis_where(asked))));
    out.push_back({std::move(at), n.primary ? "primary" : "replica"});
  }
  return out;
}

inline result<deployment> discover_cluster(const std::vector<dualcred::redis::endpoint>& seeds,
                                           const dualcred::redis::params& like,
                                           const credential& admin, const allow_list& allowed) {
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
    DUALCRED_TRY(nodes,
                 parse_cluster_nodes(dualcred::redis::reply_text(r.value().get()), seed, allowed));
    return deployment{std::move(nodes), {}, {}};
  }
  return fail(errc::backend_unavailable, fmt::format("no cluster seed answered: {}", problems));
}

// From the top primary down: each node's replicas from `INFO replication`. Every address a
// node reports is admitted before the admin logs in there.
inline result<std::vector<node>> discover_group(const dualcred::redis::endpoint& seed,
                                                const dualcred::redis::params& like,
                                                const credential& admin,
                                                const allow_list& allowed) {
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
    const auto port = replies::port_number(info_field(info, "master_port"));
    dualcred::redis::endpoint up{info_field(info, "master_host"), port.value_or(0)};
    if (up.host.empty() || !port)
      return fail(errc::backend_unavailable,
                  fmt::format("{}: a replica that names no primary", redis_where(top)));
    DUALCRED_TRY(admit(allowed, up,
                       fmt::format("the primary {} names in INFO replication", redis_where(top))));
    top = std::move(up);
  }
  std::vector<node> out{{top, "primary"}};
  for (std::size_t i = 0; i < out.size(); ++i) {
    const dualcred::redis::endpoint from = out[i].at;
    DUALCRED_TRY(conn, redis_login(from, like, admin));
    DUALCRED_TRY(info, redis_info(conn, from, "replication"));
    DUALCRED_TRY(found, replies::info_replicas(info, redis_where(from)));
    for (auto& a : found) {
      dualcred::redis::endpoint at{std::move(a.host), a.port};
      if (known(out, at)) continue;
      DUALCRED_TRY(admit(allowed, at,
                         fmt::format("a replica {} lists in INFO replication", redis_where(from))));
      DUALCRED_TRY(replies::within_cap(out.size() + 1, max_group_nodes,
                                       "nodes in its replication group", redis_where(top)));
      out.push_back({std::move(at), "replica"});
    }
  }
  return out;
}

// `SENTINEL <what> <master>`: each entry's address, at most `cap` entries.
inline result<std::vector<dualcred::redis::endpoint>> sentinel_list(
    dualcred::redis::connection& conn, const char* what, const std::string& master, std::size_t cap,
    std::string_view where) {
  DUALCRED_TRY(list, dualcred::redis::command(conn, {"SENTINEL", what, master}, where));
  if (list->type != REDIS_REPLY_ARRAY)
    return fail(errc::backend_unavailable,
                fmt::format("{}: an unexpected reply to SENTINEL {}", where, what));
  DUALCRED_TRY(
      replies::within_cap(list->elements, cap, fmt::format("entries in SENTINEL {}", what), where));
  std::vector<dualcred::redis::endpoint> out;
  std::vector<std::string_view> fields;
  for (std::size_t i = 0; i < list->elements; ++i) {
    const redisReply* item = list->element[i];
    if (item->type != REDIS_REPLY_ARRAY) continue;
    fields.clear();
    for (std::size_t k = 0; k < item->elements; ++k) {
      const redisReply* f = item->element[k];
      fields.emplace_back(f->str != nullptr ? std::string_view(f->str, f->len)
                                            : std::string_view());
    }
    if (auto a = replies::sentinel_entry(fields)) out.push_back({std::move(a->host), a->port});
  }
  return out;
}

inline result<deployment> discover_sentinel(const dualcred::redis::sentinel_params& s,
                                            const allow_list& allowed) {
  // A node outside the allowed set is the answer, not a Sentinel to skip for the next one.
  std::optional<error> refused;
  const auto admit = [&](const dualcred::redis::endpoint& at, std::string how) -> result<void> {
    auto ok = detail::admit(allowed, at, how);
    if (!ok) refused = ok.error();
    return ok;
  };
  auto found = dualcred::redis::ask_sentinels(
      s, [&](dualcred::redis::connection& conn, std::string_view where) -> result<deployment> {
        DUALCRED_TRY(addr,
                     dualcred::redis::command(
                         conn, {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.master_name}, where));
        if (addr->type == REDIS_REPLY_NIL)
          return fail(errc::not_found,
                      fmt::format("{} knows no master named '{}'", where, s.master_name));
        const auto port = addr->type == REDIS_REPLY_ARRAY && addr->elements == 2
                              ? replies::port_number(dualcred::redis::reply_text(addr->element[1]))
                              : std::nullopt;
        if (!port)
          return fail(errc::backend_unavailable,
                      fmt::format("{}: an unexpected reply to GET-MASTER-ADDR-BY-NAME", where));
        deployment d;
        const dualcred::redis::endpoint primary{dualcred::redis::reply_text(addr->element[0]),
                                                *port};
        DUALCRED_TRY(admit(primary, fmt::format("the primary {} names", where)));
        d.nodes.push_back({primary, "primary"});
        DUALCRED_TRY(replicas, sentinel_list(conn, "REPLICAS", s.master_name, max_replicas, where));
        for (auto& at : replicas) {
          if (known(d.nodes, at)) continue;
          DUALCRED_TRY(admit(at, fmt::format("a replica {} lists", where)));
          d.nodes.push_back({std::move(at), "replica"});
        }
        d.sentinels = s.sentinels;
        DUALCRED_TRY(peers, sentinel_list(conn, "SENTINELS", s.master_name, max_sentinels, where));
        for (auto& at : peers)
          if (std::find(d.sentinels.begin(), d.sentinels.end(), at) == d.sentinels.end())
            d.unnamed_sentinels.push_back(std::move(at));
        return d;
      });
  if (!found && refused) return boost::outcome_v2::failure(std::move(*refused));
  return found;
}

}  // namespace detail

/// The nodes `t` names, asked as `admin` (Sentinels with `t.sentinel.sentinel_auth`). `seed`
/// is the admin's own address and connection settings (timeout). Every node discovery finds
/// (from `INFO replication`, Sentinel or `CLUSTER NODES`: what servers report, which a replica
/// or anyone who may publish to Sentinel can choose) must be on a host in
/// `allowed_hosts(t, seed, allow)` before the admin logs in there or sends it anything; one
/// outside stops discovery with `permission_denied` naming it and how it was found. Errors
/// name the node or Sentinel that failed; a node that cannot be reached is
/// `backend_unavailable`; a list or count over its cap (`max_replicas`, ...) too.
[[nodiscard]] inline result<deployment> discover_nodes(const topology& t,
                                                       const dualcred::redis::params& seed,
                                                       const credential& admin,
                                                       const allow_list& allow = {}) {
  const dualcred::redis::endpoint self{seed.host, seed.port};
  const allow_list allowed = allowed_hosts(t, seed, allow);
  switch (t.how) {
    case discovery::single_node:
      return deployment{{{self, ""}}, {}, {}};
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
      DUALCRED_TRY(d, detail::discover_sentinel(s, allowed));
      // Sentinel learns a new primary's replicas from its INFO, seconds after a failover:
      // the primary's own list is added, so no linked replica is missed.
      DUALCRED_TRY(group, detail::discover_group(d.nodes.front().at, seed, admin, allowed));
      for (auto& n : group)
        if (!detail::known(d.nodes, n.at)) d.nodes.push_back(std::move(n));
      return d;
    }
    case discovery::cluster:
      return detail::discover_cluster(
          t.nodes.empty() ? std::vector<dualcred::redis::endpoint>{self} : t.nodes, seed, admin,
          allowed);
    case discovery::replication_group: {
      DUALCRED_TRY(conn, detail::redis_login(self, seed, admin));
      DUALCRED_TRY(info, detail::redis_info(conn, self, "cluster"));
      if (detail::info_field(info, "cluster_enabled") == "1")
        return detail::discover_cluster({self}, seed, admin, allowed);
      DUALCRED_TRY(nodes, detail::discover_group(self, seed, admin, allowed));
      return deployment{std::move(nodes), {}, {}};
    }
  }
  return fail(errc::invalid_argument, "unknown Redis discovery");
}

}  // namespace dualcred::rotation::redis
