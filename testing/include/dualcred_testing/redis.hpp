#pragma once

// Throwaway Redis servers for tests, benchmarks and demos: one node (`redis_process`), and a
// standalone server with an admin connection (`redis_server`); multi-node deployments are in
// redis_topology.hpp.
//
// Each runs from its own directory on a free 127.0.0.1 port, is ready when its constructor
// returns, and is stopped by its destructor; the kernel kills it if this process dies first
// (see process.hpp). Errors throw std::runtime_error with the tail of the server's log.
//
//     dualcred::testing::redis_server rd;
//     rd.command({"ACL", "SETUSER", "app", "on", ">pw", "~*", "+@all"});
//
// Binaries: $DUALCRED_REDIS_SERVER (else redis-server on $PATH, `--sentinel` for Sentinels).

#include <hiredis/hiredis.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <dualcred_testing/process.hpp>
#include <dualcred_testing/temp_dir.hpp>

namespace dualcred::testing {

/// One reply, flattened to text.
struct redis_reply {
  bool error = false;
  std::string text;                ///< status, string, error or integer as text
  std::vector<std::string> items;  ///< an array's elements, flattened one level
};

/// `redis-server` ($DUALCRED_REDIS_SERVER first) or another Redis program beside it.
inline std::filesystem::path redis_binary(const std::string& name = "redis-server") {
  if (name == "redis-server")
    if (const char* env = std::getenv("DUALCRED_REDIS_SERVER"); env && *env) return env;
  auto p = find_in_path(name);
  if (p.empty() && ::access(("/usr/bin/" + name).c_str(), X_OK) == 0) p = "/usr/bin/" + name;
  if (p.empty())
    throw std::runtime_error(name +
                             " not found: install redis-server or set DUALCRED_REDIS_SERVER");
  return p;
}

/// Sends `args` (argv-style: any byte is fine) on `c` and flattens the reply; nullopt when
/// the connection failed (c->errstr says why).
inline std::optional<redis_reply> redis_run(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* raw = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (raw == nullptr) return std::nullopt;
  const std::unique_ptr<redisReply, void (*)(void*)> reply(raw, freeReplyObject);
  redis_reply out;
  out.error = reply->type == REDIS_REPLY_ERROR;
  if (reply->type == REDIS_REPLY_INTEGER)
    out.text = std::to_string(reply->integer);
  else if (reply->str != nullptr)
    out.text.assign(reply->str, reply->len);
  if (reply->type == REDIS_REPLY_ARRAY)
    for (std::size_t i = 0; i < reply->elements; ++i)
      if (reply->element[i]->str != nullptr)
        out.items.emplace_back(reply->element[i]->str, reply->element[i]->len);
  return out;
}

/// A connection to 127.0.0.1:`port`, logged in as `user` when given; nullptr when the node
/// cannot be reached or refuses the login.
inline std::unique_ptr<redisContext, void (*)(redisContext*)> redis_connect(
    int port, const std::string& user = {}, const std::string& password = {},
    std::string* why = nullptr) {
  std::unique_ptr<redisContext, void (*)(redisContext*)> c(
      redisConnectWithTimeout("127.0.0.1", port, timeval{2, 0}), redisFree);
  const auto refuse = [&](std::string text) {
    if (why != nullptr) *why = std::move(text);
    return std::unique_ptr<redisContext, void (*)(redisContext*)>(nullptr, redisFree);
  };
  if (c == nullptr) return refuse("out of memory");
  if (c->err != 0) return refuse(c->errstr);
  redisSetTimeout(c.get(), timeval{15, 0});
  if (!user.empty()) {
    const auto r = redis_run(c.get(), {"AUTH", user, password});
    if (!r) return refuse(c->errstr);
    if (r->error) return refuse("AUTH refused");
  }
  return c;
}

/// One command on a fresh connection to 127.0.0.1:`port`, as `user` when given. Throws when
/// the node cannot be reached or refuses the login; an error reply comes back with `error` set.
inline redis_reply redis_command_at(int port, const std::vector<std::string>& args,
                                    const std::string& user = {},
                                    const std::string& password = {}) {
  const std::string where = "127.0.0.1:" + std::to_string(port);
  std::string why;
  auto c = redis_connect(port, user, password, &why);
  if (c == nullptr) throw std::runtime_error("cannot reach " + where + ": " + why);
  auto r = redis_run(c.get(), args);
  if (!r) throw std::runtime_error("command to " + where + " failed: " + c->errstr);
  return std::move(*r);
}

/// One redis-server (or Sentinel) process in `dir`, configured by `conf` and, when `acl` is
/// not empty, an aclfile holding it (so ACL SAVE works; CONFIG REWRITE rewrites redis.conf).
/// Ready (answers PING without a login: `default` must stay open) when constructed.
class redis_process {
 public:
  redis_process(const std::filesystem::path& dir, std::string conf, std::string acl, bool sentinel,
                int port = 0)
      : dir_(dir), sentinel_(sentinel), port_(port != 0 ? port : free_port()) {
    std::filesystem::create_directories(dir_);
    if (!acl.empty()) {
      std::ofstream(dir_ / "users.acl") << acl;
      conf += "aclfile " + (dir_ / "users.acl").string() + "\n";
    }
    std::ofstream(dir_ / "redis.conf")
        << "port " << port_ << "\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\n"
        << "dir " << dir_.string() << "\nlogfile \"\"\n"
        << (sentinel ? "" : "save \"\"\nappendonly no\n") << conf;
    start();
  }
  redis_process(const redis_process&) = delete;
  redis_process& operator=(const redis_process&) = delete;
  ~redis_process() { stop(SIGTERM, std::chrono::seconds(10)); }

  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] std::filesystem::path log_path() const { return dir_ / "server.log"; }
  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_; }
  [[nodiscard]] bool running() { return proc_.running(); }

  void start() {
    if (proc_.running()) return;
    std::vector<std::string> argv{redis_binary().string(), (dir_ / "redis.conf").string()};
    if (sentinel_) argv.emplace_back("--sentinel");
    proc_ = child(argv, log_path(), run_as{}, dir_);
    wait_until([&] { return redis_connect(port_) != nullptr; }, proc_, log_path(),
               sentinel_ ? "redis-sentinel" : "redis-server");
  }
  /// Sends `sig`, then SIGKILL after `grace`.
  void stop(int sig, std::chrono::milliseconds grace) { proc_.stop(sig, grace); }
  /// SIGKILL: a crash, for failover tests.
  void kill() { stop(SIGKILL, std::chrono::seconds(1)); }

 private:
  std::filesystem::path dir_;
  bool sentinel_;
  int port_;
  child proc_;
};

/// A throwaway Redis 7 with ACL users, on 127.0.0.1. An `admin` user (random password)
/// administers it over one persistent connection, so `INFO stats` counts only the tests'
/// own connections. The `default` user is left as Redis ships it (on, no password); ACLs
/// survive `stop()`/`start()` through an ACL file.
class redis_server {
 public:
  redis_server()
      : dir_("dualcred-redis"),
        admin_password_(random_token()),
        node_(dir_.path(), std::string(),
              "user default on nopass ~* &* +@all\nuser admin on >" + admin_password_ +
                  " ~* &* +@all\n",
              false) {}
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;
  ~redis_server() { drop_admin(); }

  [[nodiscard]] std::string host() const { return "127.0.0.1"; }
  [[nodiscard]] int port() const noexcept { return node_.port(); }
  [[nodiscard]] const std::string& admin_user() const noexcept { return admin_user_; }
  [[nodiscard]] const std::string& admin_password() const noexcept { return admin_password_; }
  [[nodiscard]] std::filesystem::path log_path() const { return node_.log_path(); }
  [[nodiscard]] bool running() { return node_.running(); }

  void start() { node_.start(); }
  /// Saves the ACLs, then shuts down. `start()` brings it back with the same users.
  void stop() {
    try {
      command({"ACL", "SAVE"});
    } catch (const std::exception&) {
      // Already unreachable: nothing to save.
    }
    drop_admin();
    node_.stop(SIGTERM, std::chrono::seconds(10));
  }

  /// Kills the server (SIGKILL), as a crash would: ACL changes since the last ACL SAVE are
  /// lost. `start()` brings it back from its ACL file.
  void crash() {
    drop_admin();
    node_.stop(SIGKILL, std::chrono::milliseconds(0));
  }

  /// Runs one command as the admin (argv-style: any byte is fine). Throws when the server
  /// cannot be reached; an error reply comes back with `error` set.
  redis_reply command(const std::vector<std::string>& args) {
    std::lock_guard lock(mutex_);
    if (admin_ == nullptr || admin_->err != 0)
      admin_ = redis_connect(node_.port(), admin_user_, admin_password_);
    if (admin_ == nullptr) throw std::runtime_error("cannot reach redis-server as admin");
    auto r = redis_run(admin_.get(), args);
    if (!r) {
      const std::string why = admin_->errstr;
      admin_.reset();
      throw std::runtime_error("redis admin command failed: " + why);
    }
    return std::move(*r);
  }

  /// Like `command`, but an error reply throws.
  redis_reply must(const std::vector<std::string>& args) {
    auto r = command(args);
    if (r.error) throw std::runtime_error("redis admin command refused: " + r.text);
    return r;
  }

  /// A numeric field of `INFO section` (`info_number("stats", "total_connections_received")`).
  long long info_number(const std::string& section, const std::string& field) {
    const std::string info = must({"INFO", section}).text;
    const std::string key = field + ":";
    const auto at = info.find(key);
    if (at == std::string::npos) throw std::runtime_error("INFO has no " + field);
    return std::atoll(info.c_str() + at + key.size());
  }

  /// Creates or resets an ACL user that may run every command, with exactly these passwords.
  void set_user(const std::string& user, const std::vector<std::string>& passwords) {
    std::vector<std::string> args{"ACL", "SETUSER", user, "reset", "on", "~*", "&*", "+@all"};
    for (const auto& p : passwords) args.push_back(">" + p);
    must(args);
  }

 private:
  void drop_admin() {
    std::lock_guard lock(mutex_);
    admin_.reset();
  }

  temp_dir dir_;
  std::string admin_user_ = "admin";
  std::string admin_password_;
  redis_process node_;
  std::mutex mutex_;
  std::unique_ptr<redisContext, void (*)(redisContext*)> admin_{nullptr, redisFree};
};

/// One server for the whole test program, started on first use, stopped at exit.
inline redis_server& shared_redis_server() {
  static redis_server server;
  return server;
}

}  // namespace dualcred::testing
