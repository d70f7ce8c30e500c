#pragma once

// A throwaway Redis server for tests, benchmarks and demos.
//
// It runs from a fresh temporary directory on a free 127.0.0.1 port, is ready when its
// constructor returns, and is stopped (and its directory removed) by its destructor; the
// kernel kills it if this process dies first (see process.hpp). Errors throw
// std::runtime_error with the tail of the server's log.
//
//     dualcred::testing::redis_server rd;
//     rd.command({"ACL", "SETUSER", "app", "on", ">pw", "~*", "+@all"});
//
// Binary: $DUALCRED_REDIS_SERVER, else redis-server on $PATH.

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
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <dualcred_testing/process.hpp>
#include <dualcred_testing/temp_dir.hpp>

namespace dualcred::testing {

/// One reply from `redis_server::command`, flattened to text.
struct redis_reply {
  bool error = false;
  std::string text;                ///< status, string, error or integer as text
  std::vector<std::string> items;  ///< an array's elements, flattened one level
};

/// A throwaway Redis 7 with ACL users, on 127.0.0.1. An `admin` user (random password)
/// administers it over one persistent connection, so `INFO stats` counts only the tests'
/// own connections. The `default` user is left as Redis ships it (on, no password); ACLs
/// survive `stop()`/`start()` through an ACL file.
class redis_server {
 public:
  redis_server() : dir_("dualcred-redis"), admin_password_(random_token()) {
    if (const char* env = std::getenv("DUALCRED_REDIS_SERVER"); env && *env)
      binary_ = env;
    else
      binary_ = find_in_path("redis-server");
    if (binary_.empty() && ::access("/usr/bin/redis-server", X_OK) == 0)
      binary_ = "/usr/bin/redis-server";
    if (binary_.empty())
      throw std::runtime_error(
          "redis-server not found: install redis-server or set "
          "DUALCRED_REDIS_SERVER");
    port_ = free_port();
    {
      std::ofstream acl(dir_.path() / "users.acl");
      acl << "user default on nopass ~* &* +@all\n"
          << "user admin on >" << admin_password_ << " ~* &* +@all\n";
    }
    {
      std::ofstream conf(dir_.path() / "redis.conf");
      conf << "port " << port_ << "\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\n"
           << "save \"\"\nappendonly no\ndir " << dir_.path().string() << "\naclfile "
           << (dir_.path() / "users.acl").string() << "\nlogfile \"\"\n";
    }
    start();
  }
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;
  ~redis_server() {
    drop_admin();
    proc_.stop(SIGTERM, std::chrono::seconds(10));
  }

  [[nodiscard]] std::string host() const { return "127.0.0.1"; }
  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] const std::string& admin_user() const noexcept { return admin_user_; }
  [[nodiscard]] const std::string& admin_password() const noexcept { return admin_password_; }
  [[nodiscard]] std::filesystem::path log_path() const { return dir_.path() / "server.log"; }
  [[nodiscard]] bool running() { return proc_.running(); }

  void start() {
    if (proc_.running()) return;
    proc_ = child({binary_.string(), (dir_.path() / "redis.conf").string()}, log_path(), run_as{},
                  dir_.path());
    wait_until(
        [&] {
          std::lock_guard lock(mutex_);
          return admin_locked() != nullptr;
        },
        proc_, log_path(), "redis-server");
  }
  /// Saves the ACLs, then shuts down. `start()` brings it back with the same users.
  void stop() {
    try {
      command({"ACL", "SAVE"});
    } catch (const std::exception&) {
      // Already unreachable: nothing to save.
    }
    drop_admin();
    proc_.stop(SIGTERM, std::chrono::seconds(10));
  }

  /// Kills the server (SIGKILL), as a crash would: ACL changes since the last ACL SAVE are
  /// lost. `start()` brings it back from its ACL file.
  void crash() {
    drop_admin();
    proc_.stop(SIGKILL, std::chrono::milliseconds(0));
  }

  /// Runs one command as the admin (argv-style: any byte is fine). Throws when the server
  /// cannot be reached; an error reply comes back with `error` set.
  redis_reply command(const std::vector<std::string>& args) {
    std::lock_guard lock(mutex_);
    redisContext* c = admin_locked();
    if (c == nullptr) throw std::runtime_error("cannot reach redis-server as admin");
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* raw = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (raw == nullptr) {
      const std::string why = c->errstr;
      redisFree(std::exchange(admin_, nullptr));
      throw std::runtime_error("redis admin command failed: " + why);
    }
    std::unique_ptr<redisReply, void (*)(void*)> reply(raw, freeReplyObject);
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
  redisContext* admin_locked() {
    if (admin_ != nullptr && admin_->err == 0) return admin_;
    if (admin_ != nullptr) redisFree(std::exchange(admin_, nullptr));
    const timeval tv{2, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (c == nullptr) return nullptr;
    if (c->err != 0) {
      redisFree(c);
      return nullptr;
    }
    redisSetTimeout(c, timeval{10, 0});
    const char* argv[] = {"AUTH", admin_user_.c_str(), admin_password_.c_str()};
    auto* reply = static_cast<redisReply*>(redisCommandArgv(c, 3, argv, nullptr));
    const bool ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS;
    if (reply != nullptr) freeReplyObject(reply);
    if (!ok) {
      redisFree(c);
      return nullptr;
    }
    admin_ = c;
    return admin_;
  }
  void drop_admin() {
    std::lock_guard lock(mutex_);
    if (admin_ != nullptr) redisFree(std::exchange(admin_, nullptr));
  }

  temp_dir dir_;
  std::string admin_user_ = "admin";
  std::string admin_password_;
  std::filesystem::path binary_;
  int port_ = 0;
  std::mutex mutex_;
  redisContext* admin_ = nullptr;
  child proc_;
};

}  // namespace dualcred::testing
