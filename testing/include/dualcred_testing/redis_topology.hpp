#pragma once

// Throwaway multi-node Redis deployments for tests and demos, on 127.0.0.1 with free ports:
// a primary with replicas watched by Sentinels (`redis_sentinel_group`), and a cluster
// (`redis_cluster`). Every node has the same ACL users (ACL users are per node): `default`
// on without a password (so Sentinels and redis-cli need no login), `admin` with a random
// password, and `repl`, the user replicas log in to their primary as (`masteruser`). Each
// node keeps its users in an aclfile and its settings in a config file, so both ACL SAVE and
// CONFIG REWRITE work. Everything is stopped by the destructors, and by the kernel if this
// process dies (see process.hpp). Errors throw std::runtime_error with a log's tail.
//
// Binaries: $DUALCRED_REDIS_SERVER (else redis-server on $PATH; `--sentinel` for Sentinels)
// and redis-cli beside it or on $PATH (cluster creation).

#include <hiredis/hiredis.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <dualcred_testing/process.hpp>
#include <dualcred_testing/redis.hpp>
#include <dualcred_testing/temp_dir.hpp>

namespace dualcred::testing {

/// Whether `user` / `password` logs in on 127.0.0.1:`port`.
inline bool redis_logs_in(int port, const std::string& user, const std::string& password) {
  try {
    return !redis_command_at(port, {"PING"}, user, password).error;
  } catch (const std::exception&) {
    return false;
  }
}

/// A field of an INFO text, empty when absent.
inline std::string redis_info_field(const std::string& info, const std::string& field) {
  const auto at = info.find("\n" + field + ":");
  const auto start = info.starts_with(field + ":") ? field.size() + 1
                     : at == std::string::npos     ? std::string::npos
                                                   : at + field.size() + 2;
  if (start == std::string::npos) return {};
  const auto end = info.find_first_of("\r\n", start);
  return info.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

/// A free port for a cluster node: at most 55535, with the cluster bus port (+10000) free too.
inline int free_cluster_port() {
  for (int tries = 0; tries < 200; ++tries) {
    const int p = free_port();
    if (p > 55535) continue;
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(p + 10000));
    const bool bus_free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (bus_free) return p;
  }
  throw std::runtime_error("no free port pair for a cluster node");
}

/// The users every node of a topology starts with.
struct redis_topology_users {
  std::string admin_password = random_token();
  std::string repl_password = random_token();
  [[nodiscard]] std::string acl() const {
    return "user default on nopass ~* &* +@all\nuser admin on >" + admin_password +
           " ~* &* +@all\nuser repl on >" + repl_password + " +psync +replconf +ping\n";
  }
};

/// A primary, `replicas` replicas and `sentinels` Sentinels monitoring it as `master_name`.
/// Replicas (and the primary, for when it is demoted) log in as `repl`. Ready when the
/// constructor returns: every replica linked, every Sentinel knowing every replica and the
/// other Sentinels.
class redis_sentinel_group {
 public:
  explicit redis_sentinel_group(int replicas = 2, int sentinels = 3,
                                std::string master_name = "dcmaster")
      : dir_("dualcred-redis-group"), master_name_(std::move(master_name)) {
    const std::string repl = "masteruser repl\nmasterauth " + users_.repl_password + "\n";
    nodes_.push_back(
        std::make_unique<redis_process>(dir_.path() / "node0", repl, users_.acl(), false));
    const int primary = nodes_[0]->port();
    for (int i = 1; i <= replicas; ++i)
      nodes_.push_back(std::make_unique<redis_process>(
          dir_.path() / ("node" + std::to_string(i)),
          repl + "replicaof 127.0.0.1 " + std::to_string(primary) + "\n", users_.acl(), false));
    for (int i = 0; i < sentinels; ++i)
      sentinels_.push_back(std::make_unique<redis_process>(
          dir_.path() / ("sentinel" + std::to_string(i)),
          "sentinel monitor " + master_name_ + " 127.0.0.1 " + std::to_string(primary) +
              " 2\nsentinel down-after-milliseconds " + master_name_ +
              " 1000\nsentinel failover-timeout " + master_name_ + " 10000\n",
          std::string(), true));
    wait_ready(std::chrono::seconds(60));
  }

  [[nodiscard]] const std::string& master_name() const noexcept { return master_name_; }
  [[nodiscard]] const std::string& admin_password() const noexcept { return users_.admin_password; }
  [[nodiscard]] const std::string& repl_password() const noexcept { return users_.repl_password; }
  [[nodiscard]] std::vector<std::unique_ptr<redis_process>>& nodes() noexcept { return nodes_; }
  [[nodiscard]] std::vector<std::unique_ptr<redis_process>>& sentinels() noexcept {
    return sentinels_;
  }

  /// Runs `args` as admin on every node.
  void on_every_node(const std::vector<std::string>& args) {
    for (auto& n : nodes_) {
      auto r = redis_command_at(n->port(), args, "admin", users_.admin_password);
      if (r.error) throw std::runtime_error(n->address() + " refused a command: " + r.text);
    }
  }
  redis_reply admin_command(int port, const std::vector<std::string>& args) {
    return redis_command_at(port, args, "admin", users_.admin_password);
  }

  /// The port Sentinel names as the primary now.
  int primary_port() {
    auto r = redis_command_at(sentinels_[0]->port(),
                              {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", master_name_});
    if (r.items.size() != 2) throw std::runtime_error("Sentinel names no primary");
    return std::atoi(r.items[1].c_str());
  }

  /// How long a failover took: until every Sentinel named the new primary, and until every
  /// other node was linked to it.
  struct failover_times {
    std::chrono::milliseconds quieted{0};  ///< before the request: the group settling
    std::chrono::milliseconds named{0}, settled{0};
  };

  /// `SENTINEL FAILOVER` once the group is quiet, then waits until a replica is primary,
  /// every Sentinel names it and every other node is linked to it again. The demoted primary
  /// is pointed at the new one at once (Sentinel would do the same after about 8 s).
  /// Sentinel abandons a failover whose replica does not report its promotion in time (a
  /// loaded machine, or a link it was still re-establishing); the request is then repeated.
  failover_times failover(std::chrono::seconds timeout = std::chrono::seconds(60)) {
    // A failover asked for while another is ending, or while a Sentinel is reconnecting to a
    // node, picks its replica from stale state. A group that stays unquiet (a node down) is
    // failed over anyway, with the whole timeout still ahead.
    const auto asked = std::chrono::steady_clock::now();
    while (!quiet() && std::chrono::steady_clock::now() < asked + timeout / 4)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto start = std::chrono::steady_clock::now();
    const auto since = [&] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
    };
    const auto until = start + timeout;
    const int old = primary_port();
    std::uintmax_t log_seen = 0;
    const auto request = [&] {
      for (;;) {
        auto r = redis_command_at(sentinels_[0]->port(), {"SENTINEL", "FAILOVER", master_name_});
        if (!r.error) break;
        // "INPROG" or "NOGOODSLAVE" right after a previous failover: wait and ask again.
        if (std::chrono::steady_clock::now() > until)
          throw std::runtime_error("SENTINEL FAILOVER refused: " + r.text);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      std::error_code ec;
      log_seen = std::filesystem::file_size(sentinels_[0]->log_path(), ec);
    };
    const auto aborted = [&] {
      std::ifstream in(sentinels_[0]->log_path());
      in.seekg(static_cast<std::streamoff>(log_seen));
      const std::string fresh((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
      return fresh.find("-failover-abort") != std::string::npos;
    };
    request();
    failover_times t;
    t.quieted = std::chrono::duration_cast<std::chrono::milliseconds>(start - asked);
    int now = old;
    int requests = 1;
    while (std::chrono::steady_clock::now() < until) {
      if (aborted()) {
        request();
        ++requests;
      }
      bool moved = true;
      for (auto& s : sentinels_) {
        try {
          auto r =
              redis_command_at(s->port(), {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", master_name_});
          const int port = r.items.size() == 2 ? std::atoi(r.items[1].c_str()) : old;
          moved = moved && port != old;
          now = port;
        } catch (const std::exception&) {
          moved = false;
        }
      }
      if (moved) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    t.named = since();
    if (now == old)
      throw std::runtime_error("failover did not finish after " + std::to_string(requests) +
                               " request(s); sentinel log:\n" +
                               read_tail(sentinels_[0]->log_path(), 6000));
    try {
      const std::string info = admin_command(old, {"INFO", "replication"}).text;
      if (redis_info_field(info, "role") == "master")
        admin_command(old, {"REPLICAOF", "127.0.0.1", std::to_string(now)});
    } catch (const std::exception&) {
      // Down: Sentinel reconfigures it when it returns.
    }
    while (!linked() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!linked())
      throw std::runtime_error("the nodes did not follow the new primary; sentinel log:\n" +
                               read_tail(sentinels_[0]->log_path()));
    t.settled = since();
    return t;
  }

  /// Every Sentinel sees the primary up with no failover under way and every replica up,
  /// and every replica is linked to the primary.
  bool quiet() {
    for (auto& s : sentinels_) {
      redisContext* c = redisConnectWithTimeout("127.0.0.1", s->port(), timeval{2, 0});
      if (c == nullptr || c->err != 0) {
        if (c != nullptr) redisFree(c);
        return false;
      }
      auto* master = command(c, "SENTINEL MASTER %s");
      bool ok = field_is(master, "flags", "master");
      if (master != nullptr) freeReplyObject(master);
      auto* replicas = command(c, "SENTINEL REPLICAS %s");
      ok = ok && replicas != nullptr && replicas->type == REDIS_REPLY_ARRAY;
      for (std::size_t i = 0; ok && i < replicas->elements; ++i)
        ok = field_is(replicas->element[i], "flags", "slave");
      if (replicas != nullptr) freeReplyObject(replicas);
      redisFree(c);
      if (!ok) return false;
    }
    return linked();
  }

  /// Every node but the primary is a replica with master_link_status:up to the primary.
  bool linked() {
    int primary = 0;
    try {
      primary = primary_port();
    } catch (const std::exception&) {
      return false;
    }
    for (auto& n : nodes_) {
      if (n->port() == primary) continue;
      try {
        const std::string info = admin_command(n->port(), {"INFO", "replication"}).text;
        if (redis_info_field(info, "master_link_status") != "up" ||
            redis_info_field(info, "master_port") != std::to_string(primary))
          return false;
      } catch (const std::exception&) {
        return false;
      }
    }
    return true;
  }

 private:
  void wait_ready(std::chrono::seconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    const std::size_t replicas = nodes_.size() - 1;
    const std::size_t others = sentinels_.size() - 1;
    for (;;) {
      bool ready = linked();
      for (auto& s : sentinels_) {
        if (!ready) break;
        try {
          ready = count_entries(s->port(), "REPLICAS") == replicas &&
                  count_entries(s->port(), "SENTINELS") == others;
        } catch (const std::exception&) {
          ready = false;
        }
      }
      if (ready) return;
      if (std::chrono::steady_clock::now() > until)
        throw std::runtime_error("the Sentinel group did not become ready; sentinel log:\n" +
                                 read_tail(sentinels_[0]->log_path()));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  redisReply* command(redisContext* c, const char* format) {
    return static_cast<redisReply*>(redisCommand(c, format, master_name_.c_str()));
  }
  // In a Sentinel's field/value array `r`, `name` holds exactly `want` (`r` may be an
  // element of another reply: the caller frees).
  static bool field_is(const redisReply* r, const char* name, const char* want) {
    if (r == nullptr || r->type != REDIS_REPLY_ARRAY) return false;
    for (std::size_t i = 0; i + 1 < r->elements; i += 2)
      if (r->element[i]->type == REDIS_REPLY_STRING && std::string(r->element[i]->str) == name)
        return r->element[i + 1]->type == REDIS_REPLY_STRING &&
               std::string(r->element[i + 1]->str) == want;
    return false;
  }
  std::size_t count_entries(int port, const char* what) {
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port, timeval{2, 0});
    if (c == nullptr || c->err != 0) {
      if (c != nullptr) redisFree(c);
      return 0;
    }
    auto* r =
        static_cast<redisReply*>(redisCommand(c, "SENTINEL %s %s", what, master_name_.c_str()));
    const std::size_t n = r != nullptr && r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    if (r != nullptr) freeReplyObject(r);
    redisFree(c);
    return n;
  }

  temp_dir dir_;
  std::string master_name_;
  redis_topology_users users_;
  std::vector<std::unique_ptr<redis_process>> nodes_;
  std::vector<std::unique_ptr<redis_process>> sentinels_;
};

/// A cluster of `primaries` primaries with `replicas_each` replicas each, all slots
/// covered (redis-cli --cluster create). Ready when every node reports cluster_state:ok and
/// knows every other node.
class redis_cluster {
 public:
  explicit redis_cluster(int primaries = 3, int replicas_each = 0)
      : dir_("dualcred-redis-cluster") {
    const int total = primaries * (1 + replicas_each);
    for (int i = 0; i < total; ++i)
      nodes_.push_back(std::make_unique<redis_process>(
          dir_.path() / ("node" + std::to_string(i)),
          "cluster-enabled yes\ncluster-config-file nodes.conf\ncluster-node-timeout 2000\n",
          users_.acl(), false, free_cluster_port()));
    std::vector<std::string> argv{redis_binary("redis-cli").string(), "--cluster", "create"};
    for (auto& n : nodes_) argv.push_back(n->address());
    argv.insert(argv.end(), {"--cluster-replicas", std::to_string(replicas_each), "--cluster-yes"});
    const auto log = dir_.path() / "create.log";
    child cli(argv, log, run_as{}, dir_.path());
    if (cli.wait() != 0)
      throw std::runtime_error("redis-cli --cluster create failed:\n" + read_tail(log));
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      bool ok = true;
      for (auto& n : nodes_) {
        try {
          const std::string info = admin_command(n->port(), {"CLUSTER", "INFO"}).text;
          ok = ok && redis_info_field(info, "cluster_state") == "ok" &&
               redis_info_field(info, "cluster_known_nodes") == std::to_string(total);
        } catch (const std::exception&) {
          ok = false;
        }
      }
      if (ok) break;
      if (std::chrono::steady_clock::now() > until)
        throw std::runtime_error("the cluster did not become ready:\n" + read_tail(log));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  [[nodiscard]] const std::string& admin_password() const noexcept { return users_.admin_password; }
  [[nodiscard]] std::vector<std::unique_ptr<redis_process>>& nodes() noexcept { return nodes_; }
  redis_reply admin_command(int port, const std::vector<std::string>& args) {
    return redis_command_at(port, args, "admin", users_.admin_password);
  }
  void on_every_node(const std::vector<std::string>& args) {
    for (auto& n : nodes_) {
      auto r = admin_command(n->port(), args);
      if (r.error) throw std::runtime_error(n->address() + " refused a command: " + r.text);
    }
  }
  /// The ports of the nodes that are primaries now.
  std::vector<int> primary_ports() {
    std::vector<int> out;
    for (auto& n : nodes_) {
      const std::string role =
          redis_info_field(admin_command(n->port(), {"INFO", "replication"}).text, "role");
      if (role == "master") out.push_back(n->port());
    }
    return out;
  }

 private:
  temp_dir dir_;
  redis_topology_users users_;
  std::vector<std::unique_ptr<redis_process>> nodes_;
};

}  // namespace dualcred::testing
