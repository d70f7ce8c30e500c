// A service's health endpoint: /health serves each backend's dual_credential status as one
// JSON document (with the secret version each one uses), /metrics the same counters in the
// Prometheus text format. A probe connects to each backend once a second so the counters
// show what logins are doing; the secret file is re-read every second, so a rotation shows.
//
//   ./health_endpoint SECRETS_FILE [--listen PORT] [--postgres HOST:PORT] [--redis HOST:PORT]
//                     [--dbname NAME] [--probe-ms N]
//
// SECRETS_FILE is a dotenv file (or a directory of one file per key) holding DB_USER,
// DB_PASS_CURRENT, DB_PASS_NEXT and REDIS_USER, REDIS_PASS_CURRENT, REDIS_PASS_NEXT. Each
// backend given is watched (at least one). The server listens on 127.0.0.1 (port 0: any
// free one) and prints `listening on http://127.0.0.1:PORT`; SIGINT or SIGTERM stops it.
//
//   curl -s http://127.0.0.1:8080/health
//   {"ok":true,"postgres":{"connects_via_current":41,...,"version":"...","last_error":null}}
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <pthread.h>

#include <fmt/format.h>

#include <dualcred/backend/hiredis.hpp>
#include <dualcred/backend/libpq.hpp>
#include <dualcred/dual_credential.hpp>
#include <dualcred/provider/file.hpp>

#include "health_server.hpp"

using namespace std::chrono_literals;

namespace {

struct endpoint {
  std::string host;
  int port = 0;
};

struct config {
  std::string secrets;
  int listen = 8080;
  std::optional<endpoint> postgres;
  std::optional<endpoint> redis;
  std::string dbname = "postgres";
  std::chrono::milliseconds probe_every = 1000ms;
};

std::optional<endpoint> parse_endpoint(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const int port = std::atoi(std::string(text.substr(colon + 1)).c_str());
  if (port <= 0 || port > 65535) return std::nullopt;
  return endpoint{std::string(text.substr(0, colon)), port};
}

std::optional<config> parse_args(int argc, char** argv) {
  config c;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (!arg.starts_with("--")) {
      if (!c.secrets.empty()) return std::nullopt;
      c.secrets = arg;
      continue;
    }
    if (i + 1 >= argc) return std::nullopt;
    const std::string_view value = argv[++i];
    if (arg == "--listen") {
      c.listen = std::atoi(std::string(value).c_str());
      if (c.listen < 0 || c.listen > 65535) return std::nullopt;
    } else if (arg == "--postgres") {
      if (!(c.postgres = parse_endpoint(value))) return std::nullopt;
    } else if (arg == "--redis") {
      if (!(c.redis = parse_endpoint(value))) return std::nullopt;
    } else if (arg == "--dbname") {
      c.dbname = value;
    } else if (arg == "--probe-ms") {
      c.probe_every = std::chrono::milliseconds(std::atoi(std::string(value).c_str()));
      if (c.probe_every.count() <= 0) return std::nullopt;
    } else {
      return std::nullopt;
    }
  }
  if (c.secrets.empty() || (!c.postgres && !c.redis)) return std::nullopt;
  return c;
}

// One watched backend: a name, a probe (connect and query once; true when it worked), and
// its dual_credential's snapshot.
struct watched {
  std::string name;
  std::function<bool()> probe;
  std::function<dualcred::status()> snapshot;
};

template <class Creds, class Query>
watched watch(std::string name, std::shared_ptr<Creds> creds, Query query) {
  return {std::move(name),
          [creds, query] {
            auto conn = creds->connect();
            return conn && query(conn.value());
          },
          [creds] { return creds->snapshot(); }};
}

bool select_one(dualcred::pg::connection& c) {
  std::unique_ptr<PGresult, void (*)(PGresult*)> res(PQexec(c.get(), "SELECT 1"), PQclear);
  return PQresultStatus(res.get()) == PGRES_TUPLES_OK;
}

bool ping(dualcred::redis::connection& c) {
  std::unique_ptr<redisReply, void (*)(void*)> reply(
      static_cast<redisReply*>(redisCommand(c.get(), "PING")), freeReplyObject);
  return reply && reply->type == REDIS_REPLY_STATUS;
}

}  // namespace

int main(int argc, char** argv) {
  const auto cfg = parse_args(argc, argv);
  if (!cfg) {
    fmt::print(stderr,
               "usage: {} SECRETS_FILE [--listen PORT] [--postgres HOST:PORT] "
               "[--redis HOST:PORT] [--dbname NAME] [--probe-ms N]\n",
               argv[0]);
    return 2;
  }
  // SIGINT and SIGTERM are taken by sigwait below, not by a handler: block them before any
  // thread starts, so every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  dualcred::options opts;
  opts.refresh_interval = 1s;  // re-read the secret file at most once a second
  std::vector<watched> backends;
  if (cfg->postgres) {
    dualcred::pg::params where;
    where.host = cfg->postgres->host;
    where.port = cfg->postgres->port;
    where.dbname = cfg->dbname;
    where.connect_timeout = 5s;
    where.application_name = "dualcred-health-endpoint";
    auto creds = dualcred::make_dual_credential(
        dualcred::pg::connector(where),
        dualcred::file_provider(cfg->secrets, dualcred::key_names::for_prefix("DB")), opts);
    if (!creds) {
      fmt::print(stderr, "cannot read the PostgreSQL login: {}\n", creds.error().detail);
      return 1;
    }
    backends.push_back(
        watch("postgres", std::make_shared<decltype(creds)::value_type>(std::move(creds).value()),
              select_one));
  }
  if (cfg->redis) {
    dualcred::redis::params where;
    where.host = cfg->redis->host;
    where.port = cfg->redis->port;
    where.timeout = 5s;
    auto creds = dualcred::make_dual_credential(
        dualcred::redis::connector(where),
        dualcred::file_provider(cfg->secrets, dualcred::key_names::for_prefix("REDIS")), opts);
    if (!creds) {
      fmt::print(stderr, "cannot read the Redis login: {}\n", creds.error().detail);
      return 1;
    }
    backends.push_back(watch(
        "redis", std::make_shared<decltype(creds)::value_type>(std::move(creds).value()), ping));
  }

  try {
    example::health_server http(
        [&backends] {
          std::vector<dualcred::named_status> all;
          for (const auto& b : backends) all.push_back({b.name, b.snapshot()});
          return all;
        },
        cfg->listen);
    fmt::print("listening on http://127.0.0.1:{}\n", http.port());
    std::fflush(stdout);

    std::atomic<bool> stop{false};
    std::thread prober([&] {
      while (!stop.load()) {
        for (const auto& b : backends) (void)b.probe();
        for (auto waited = 0ms; waited < cfg->probe_every && !stop.load(); waited += 10ms)
          std::this_thread::sleep_for(10ms);
      }
    });
    int sig = 0;
    sigwait(&stop_signals, &sig);
    stop = true;
    prober.join();
    fmt::print("stopped by signal {}\n", sig);
  } catch (const std::exception& e) {
    fmt::print(stderr, "cannot serve: {}\n", e.what());
    return 1;
  }
  return 0;
}
