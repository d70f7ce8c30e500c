#pragma once

// What the rotation tests share: the fixture servers (one of each per test program),
// client threads that connect without pause and count, the cycle count, and a guard that
// puts a server setting back when a test ends.

#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/backend/hiredis.hpp>
#include <dualcred/backend/libpq.hpp>
#include <dualcred/dual_credential.hpp>
#include <dualcred/rotation/pg/admin.hpp>
#include <dualcred/rotation/state.hpp>
#include <dualcred/rotation/stores/file.hpp>

#include <dualcred_testing/postgres.hpp>
#include <dualcred_testing/redis.hpp>

namespace rotation_tests {

inline dualcred::testing::postgres_server& pg_fixture() {
  return dualcred::testing::shared_postgres_server();
}
inline dualcred::testing::redis_server& redis_fixture() {
  return dualcred::testing::shared_redis_server();
}

/// Cycles per soak: the 10, or DUALCRED_ROTATION_CYCLES.
inline int cycles() {
  if (const char* env = std::getenv("DUALCRED_ROTATION_CYCLES"); env && std::atoi(env) > 0)
    return std::atoi(env);
  return 10;
}

inline dualcred::pg::params pg_params() {
  dualcred::pg::params p;
  p.host = pg_fixture().host();
  p.port = pg_fixture().port();
  p.dbname = "postgres";
  p.connect_timeout = std::chrono::seconds(10);
  return p;
}

inline dualcred::redis::params redis_params() {
  dualcred::redis::params p;
  p.host = redis_fixture().host();
  p.port = redis_fixture().port();
  return p;
}

/// Connect attempts by client threads: successes, failures and the first few details.
struct tally {
  std::atomic<long> ok{0};
  std::atomic<long> failed{0};
  std::mutex mutex;
  std::vector<std::string> errors;

  void fail(std::string detail) {
    ++failed;
    std::lock_guard lock(mutex);
    if (errors.size() < 5) errors.push_back(std::move(detail));
  }
  void report(const char* what) {
    std::lock_guard lock(mutex);
    for (const auto& e : errors) MESSAGE(what << ": " << e);
  }
};

inline bool usable(dualcred::pg::connection& c) {
  std::unique_ptr<PGresult, void (*)(PGresult*)> res(PQexec(c.get(), "SELECT 1"), PQclear);
  return PQresultStatus(res.get()) == PGRES_TUPLES_OK;
}

inline bool usable(dualcred::redis::connection& c) {
  auto* reply = static_cast<redisReply*>(redisCommand(c.get(), "PING"));
  const bool ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS;
  if (reply != nullptr) freeReplyObject(reply);
  return ok;
}

/// `n` threads calling `creds.connect()` (and using the connection) until destroyed.
template <class Creds>
class clients {
 public:
  clients(Creds& creds, int n) {
    for (int i = 0; i < n; ++i)
      threads_.emplace_back([this, &creds] {
        while (!stop_.load(std::memory_order_relaxed)) {
          auto conn = creds.connect();
          if (!conn)
            counts.fail(conn.error().detail);
          else if (usable(conn.value()))
            ++counts.ok;
          else
            counts.fail("connected, but the connection did not work");
        }
      });
  }
  clients(const clients&) = delete;
  clients& operator=(const clients&) = delete;
  ~clients() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

  tally counts;

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

/// What a run of the dualcred-rotate command gave: its exit code and stdout and stderr together.
struct tool_outcome {
  int code = -1;
  std::string output;
};

/// Runs dualcred-rotate (DUALCRED_ROTATE_TOOL) with `args`, already shell-quoted. Secrets go
/// through the environment or private files, never `args`.
inline tool_outcome run_rotate_tool(const std::string& args) {
  const char* exe = std::getenv("DUALCRED_ROTATE_TOOL");
  REQUIRE(exe != nullptr);
  tool_outcome out;
  FILE* p = ::popen((std::string(exe) + " " + args + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  while (const std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.output.append(buf, n);
  const int status = ::pclose(p);
  out.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

/// The rotation's admin login to the fixture PostgreSQL, with a 10 s statement timeout.
inline dualcred::rotation::pg::admin_config pg_admin() {
  return dualcred::rotation::pg::admin_config{dualcred::secret(pg_fixture().admin_conninfo()),
                                              pg_params(), std::chrono::seconds(10)};
}

/// The rotation state of the DB credentials in the file store at `path`, with its revision.
inline dualcred::rotation::rotation_state state_of(const std::string& path) {
  auto raw = dualcred::rotation::stores::file_store(path).read();
  REQUIRE(raw);
  auto st = dualcred::rotation::parse_state(
      raw.value().data, dualcred::rotation::rotation_keys::for_prefix("DB"), path);
  REQUIRE(st);
  st.value().revision = raw.value().revision;
  return std::move(st).value();
}

/// CURRENT and, when given, NEXT for one user.
inline dualcred::credential_set set_of(const std::string& user, const std::string& current,
                                       std::optional<std::string> next) {
  dualcred::credential_set s;
  s.current = {user, dualcred::secret(current)};
  if (next) s.next = dualcred::credential{user, dualcred::secret(*next)};
  return s;
}

/// Options for client dual_credentials: re-read the store every 50 ms, as a service
/// would on a timer, and reload quickly when refused.
inline dualcred::options client_options() {
  dualcred::options o;
  o.refresh_interval = std::chrono::milliseconds(50);
  o.min_reload_interval = std::chrono::milliseconds(20);
  return o;
}

/// Runs `undo` when the scope ends, also after a failed REQUIRE, so a server setting a test
/// changed is back for the next test. An exception from `undo` is swallowed: it would
/// otherwise end the program from a destructor during unwinding.
class on_scope_exit {
 public:
  explicit on_scope_exit(std::function<void()> undo) : undo_(std::move(undo)) {}
  on_scope_exit(const on_scope_exit&) = delete;
  on_scope_exit& operator=(const on_scope_exit&) = delete;
  ~on_scope_exit() {
    try {
      undo_();
    } catch (...) {
    }
  }

 private:
  std::function<void()> undo_;
};

}  // namespace rotation_tests
