// The zero-downtime demo: real PostgreSQL and Redis servers, clients that never stop
// connecting, and several full password rotations of both while they run.
//
// It starts a throwaway PostgreSQL and Redis on 127.0.0.1 (the test suite's fixture), keeps
// one secret file with both logins (DB_* and REDIS_*), and runs client threads that connect
// and query through dual_credential without pause. Then it rotates both passwords with
// dualcred/rotation.hpp, step by step, printing after each step how the clients fared:
// connects that worked or failed, with CURRENT or with NEXT, and fallbacks. The demo serves
// its own /health and /metrics, and the rotation's decommission step waits on that /health
// until the demo's clients report the new secret version: the demo is its own fleet.
//
//   ./zero_downtime_demo [--rotations N] [--clients N] [--health-port PORT] [--verbose]
//                        [--pg direct|pgbouncer] [--redis direct|sentinel]
//
// With `--pg pgbouncer` the PostgreSQL clients connect through a throwaway PgBouncer in
// auth_query mode (it asks the server for the verifier at each login), and verify logs in
// through it too.
//
// With `--redis sentinel` Redis is a primary with two replicas watched by three Sentinels:
// clients find the primary through redis::sentinel_connector, every step changes every node,
// and the middle rotation runs a SENTINEL FAILOVER between apply and decommission. Connection
// errors while the failover runs are counted apart (its own window, not a login refusal).
//
// The last line is `rotations: R, connects: N ok, F failed`; the exit code is 1 when F > 0
// or a step failed. Run as root, PostgreSQL runs as the `postgres` user.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include <dualcred/backend/hiredis.hpp>
#include <dualcred/backend/hiredis_sentinel.hpp>
#include <dualcred/backend/libpq.hpp>
#include <dualcred/dual_credential.hpp>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/fleet/http_check.hpp>
#include <dualcred/rotation/pg/admin.hpp>
#include <dualcred/rotation/redis/admin.hpp>

#include <dualcred_testing/pg_topology.hpp>
#include <dualcred_testing/postgres.hpp>
#include <dualcred_testing/redis.hpp>
#include <dualcred_testing/redis_topology.hpp>
#include "health_server.hpp"

using namespace std::chrono_literals;

namespace {

struct config {
  int rotations = 3;
  int clients = 2;  // per backend
  int health_port = 0;
  std::chrono::milliseconds window = 300ms;  // client traffic after each step
  bool verbose = false;                      // print the rotator's account of each step
  bool pgbouncer = false;                    // --pg pgbouncer: PostgreSQL clients via PgBouncer
  bool sentinel = false;                     // --redis sentinel: replicas, Sentinels, a failover
};

bool parse_args(int argc, char** argv, config& c) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--verbose") {
      c.verbose = true;
      continue;
    }
    if (i + 1 >= argc) return false;
    if (arg == "--pg") {
      const std::string_view mode = argv[++i];
      if (mode != "direct" && mode != "pgbouncer") return false;
      c.pgbouncer = mode == "pgbouncer";
      continue;
    }
    if (arg == "--redis") {
      const std::string_view mode = argv[++i];
      if (mode != "direct" && mode != "sentinel") return false;
      c.sentinel = mode == "sentinel";
      continue;
    }
    const int value = std::atoi(argv[++i]);
    if (arg == "--rotations" && value > 0)
      c.rotations = value;
    else if (arg == "--clients" && value > 0)
      c.clients = value;
    else if (arg == "--health-port" && value >= 0)
      c.health_port = value;
    else
      return false;
  }
  return true;
}

// What the clients of one backend did; written by them, read by the table. While a failover
// runs (`in_failover`), connection errors are its window's, counted apart; a login refused
// for its credential always counts as failed.
struct tally {
  std::atomic<std::uint64_t> ok{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> failover_errors{0};
  std::atomic<bool> in_failover{false};
  std::mutex mutex;
  std::vector<std::string> first_errors;

  void fail(std::string why, bool refused = false) {
    if (!refused && in_failover.load(std::memory_order_relaxed)) {
      failover_errors.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    failed.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mutex);
    if (first_errors.size() < 5) first_errors.push_back(std::move(why));
  }
};

// Connect, run one query, hang up; again, until told to stop.
template <class Creds, class Query>
void keep_querying(Creds& creds, const std::atomic<bool>& stop, tally& t, Query query) {
  while (!stop.load(std::memory_order_relaxed)) {
    auto conn = creds.connect();
    if (!conn) {
      t.fail(conn.error().detail, conn.error().is(dualcred::errc::auth_rejected) ||
                                      conn.error().is(dualcred::errc::all_rejected));
      continue;
    }
    if (query(conn.value()))
      t.ok.fetch_add(1, std::memory_order_relaxed);
    else
      t.fail("connected, but the query failed");
  }
}

bool select_one(dualcred::pg::connection& c) {
  std::unique_ptr<PGresult, void (*)(PGresult*)> res(PQexec(c.get(), "SELECT 1"), PQclear);
  return PQresultStatus(res.get()) == PGRES_TUPLES_OK;
}

bool incr(dualcred::redis::connection& c) {
  std::unique_ptr<redisReply, void (*)(void*)> reply(
      static_cast<redisReply*>(redisCommand(c.get(), "INCR dualcred:demo:queries")),
      freeReplyObject);
  return reply && reply->type == REDIS_REPLY_INTEGER;
}

// One backend's counters at one moment; a table row is the difference of two.
struct counts {
  std::uint64_t ok = 0, failed = 0, via_current = 0, via_next = 0, fallbacks = 0;
  std::string version;
};

counts since(const counts& now, const counts& before) {
  return {now.ok - before.ok,
          now.failed - before.failed,
          now.via_current - before.via_current,
          now.via_next - before.via_next,
          now.fallbacks - before.fallbacks,
          now.version};
}

struct backend_view {
  std::string name;
  tally* clients;
  std::function<dualcred::status()> snapshot;

  [[nodiscard]] counts read() const {
    const dualcred::status s = snapshot();
    return {clients->ok.load(),
            clients->failed.load(),
            s.connects_via_current,
            s.connects_via_next,
            s.fallbacks,
            s.version};
  }
};

void print_header() {
  fmt::print("  {:<13}{:<10}{:>8}{:>8}{:>8}{:>13}{:>10}{:>11}\n", "step", "backend", "version",
             "ok", "failed", "via CURRENT", "via NEXT", "fallbacks");
}

void print_rows(std::string_view step, const std::vector<backend_view>& backends,
                std::vector<counts>& last) {
  for (std::size_t i = 0; i < backends.size(); ++i) {
    const counts now = backends[i].read();
    const counts d = since(now, last[i]);
    fmt::print("  {:<13}{:<10}{:>8}{:>8}{:>8}{:>13}{:>10}{:>11}\n", i == 0 ? step : "",
               backends[i].name, d.version, d.ok, d.failed, d.via_current, d.via_next, d.fallbacks);
    last[i] = now;
  }
}

namespace rotation = dualcred::rotation;

// The rotation's fleet check reads /health over HTTP; cpp-httplib serves as the client too,
// so the demo needs no libcurl. A 503 body still tells which version an instance uses. Its
// requests get 2 s, or what is left of the check's deadline when that is less.
rotation::fleet::fetch_function httplib_fetch() {
  return [](const std::string& url, auto left) -> dualcred::result<std::string> {
    const auto path_at = url.find('/', url.find("//") + 2);
    httplib::Client client(url.substr(0, path_at));
    const auto limit = std::min<std::chrono::milliseconds>(left, std::chrono::seconds(2));
    client.set_connection_timeout(limit);
    client.set_read_timeout(limit);
    auto res = client.Get(path_at == std::string::npos ? "/" : url.substr(path_at));
    if (!res)
      return dualcred::fail(dualcred::errc::provider_unavailable,
                            fmt::format("GET {}: {}", url, httplib::to_string(res.error())));
    if (res->status != 200 && res->status != 503)
      return dualcred::fail(dualcred::errc::provider_unavailable,
                            fmt::format("GET {}: HTTP {}", url, res->status));
    return res->body;
  };
}

// Clients reach Redis directly or through Sentinel: one connector type for both keeps the
// demo's client code the same. Both are two-phase (a refused password is retried on the same
// connection).
class demo_redis_connector {
 public:
  explicit demo_redis_connector(
      std::variant<dualcred::redis::connector, dualcred::redis::sentinel_connector> c)
      : c_(std::move(c)) {}
  [[nodiscard]] dualcred::result<dualcred::redis::connection> open() const {
    return std::visit([](const auto& c) { return c.open(); }, c_);
  }
  [[nodiscard]] dualcred::result<void> authenticate(dualcred::redis::connection& conn,
                                                    const dualcred::credential& cred) const {
    return std::visit([&](const auto& c) { return c.authenticate(conn, cred); }, c_);
  }
  [[nodiscard]] dualcred::result<dualcred::redis::connection> operator()(
      const dualcred::credential& cred) const {
    return std::visit([&](const auto& c) { return c(cred); }, c_);
  }

 private:
  std::variant<dualcred::redis::connector, dualcred::redis::sentinel_connector> c_;
};

// The first logins: generated, set on the servers, and written to the store.
void seed(rotation::stores::file_store& store, dualcred::testing::postgres_server& pg,
          const std::function<void(const std::string&, const std::string&)>& set_redis_user) {
  auto pg_pw = rotation::generate_password();
  auto redis_pw = rotation::generate_password();
  if (!pg_pw || !redis_pw) throw std::runtime_error("cannot generate the first passwords");
  pg.create_login_role("app", std::string(pg_pw.value().reveal()));
  set_redis_user("app", std::string(redis_pw.value().reveal()));
  dualcred::secret_map data;
  data.emplace("DB_USER", dualcred::secret("app"));
  data.emplace("DB_PASS_CURRENT", std::move(pg_pw).value());
  data.emplace("REDIS_USER", dualcred::secret("app"));
  data.emplace("REDIS_PASS_CURRENT", std::move(redis_pw).value());
  auto written = store.write(data, 0);
  if (!written) throw std::runtime_error("cannot write the store: " + written.error().detail);
}

}  // namespace

int main(int argc, char** argv) {
  config cfg;
  if (!parse_args(argc, argv, cfg)) {
    fmt::print(stderr,
               "usage: {} [--rotations N] [--clients N] [--health-port PORT] [--verbose] "
               "[--pg direct|pgbouncer] [--redis direct|sentinel]\n",
               argv[0]);
    return 2;
  }
  try {
    fmt::print("starting PostgreSQL and Redis{} on 127.0.0.1 ...\n",
               cfg.sentinel ? " (a primary, two replicas, three Sentinels)" : "");
    std::fflush(stdout);
    dualcred::testing::postgres_server pg_server;
    // --redis sentinel: ACL users are per node, so the app's user is made on every node.
    std::unique_ptr<dualcred::testing::redis_server> redis_server;
    std::unique_ptr<dualcred::testing::redis_sentinel_group> redis_group;
    std::function<void(const std::string&, const std::string&)> set_redis_user;
    if (cfg.sentinel) {
      redis_group = std::make_unique<dualcred::testing::redis_sentinel_group>(2, 3);
      set_redis_user = [&](const std::string& user, const std::string& pw) {
        redis_group->on_every_node(
            {"ACL", "SETUSER", user, "reset", "on", ">" + pw, "~*", "&*", "+@all"});
      };
    } else {
      redis_server = std::make_unique<dualcred::testing::redis_server>();
      set_redis_user = [&](const std::string& user, const std::string& pw) {
        redis_server->set_user(user, {pw});
      };
    }
    // --pg pgbouncer: PgBouncer logs in to the server as the superuser to run auth_query.
    std::unique_ptr<dualcred::testing::pgbouncer_server> bouncer;
    const std::string bouncer_admin_pw = dualcred::testing::random_token(24);
    if (cfg.pgbouncer) {
      const std::string super_pw = dualcred::testing::random_token(24);
      pg_server.set_password("postgres", super_pw);
      bouncer = std::make_unique<dualcred::testing::pgbouncer_server>(
          pg_server, dualcred::testing::pgbouncer_mode::auth_query, bouncer_admin_pw, super_pw);
      fmt::print("PgBouncer (auth_query) on 127.0.0.1:{}\n", bouncer->port());
    }

    // One dotenv file holds both logins (DB_* and REDIS_*), with the rotation's own keys and
    // a revision counter beside them. It stands in for Vault.
    dualcred::testing::temp_dir secrets_dir("dualcred-demo");
    const std::string secrets = (secrets_dir.path() / "app.env").string();
    auto store = std::make_shared<rotation::stores::file_store>(secrets);
    seed(*store, pg_server, set_redis_user);

    // Clients re-read the store every 100 ms, as a service would on a timer. Their set's
    // version is the store's revision: what the fleet check compares.
    dualcred::options opts;
    opts.refresh_interval = 100ms;
    opts.min_reload_interval = 20ms;
    dualcred::pg::params pp;
    pp.host = pg_server.host();
    pp.port = pg_server.port();
    pp.dbname = "postgres";
    pp.connect_timeout = 10s;
    pp.application_name = "dualcred-demo";
    if (bouncer) {
      pp.port = bouncer->port();
      // PgBouncer 1.18 refuses a login with 08P01: a refusal, so clients fall back to NEXT.
      pp.sqlstate_rules = dualcred::pg::pgbouncer_sqlstate_rules();
    }
    dualcred::redis::params rp;
    rp.host = "127.0.0.1";
    rp.port = redis_group ? redis_group->primary_port() : redis_server->port();
    rp.timeout = 5s;
    dualcred::redis::sentinel_params sp;
    if (redis_group) {
      for (auto& s : redis_group->sentinels()) sp.sentinels.push_back({"127.0.0.1", s->port()});
      sp.master_name = redis_group->master_name();
      sp.timeout = 5s;
    }
    const auto redis_clients = redis_group
                                   ? demo_redis_connector(dualcred::redis::sentinel_connector(sp))
                                   : demo_redis_connector(dualcred::redis::connector(rp));

    auto pg_made = dualcred::make_dual_credential(
        dualcred::pg::connector(pp),
        rotation::store_provider(store, rotation::rotation_keys::for_prefix("DB")), opts);
    auto redis_made = dualcred::make_dual_credential(
        redis_clients,
        rotation::store_provider(store, rotation::rotation_keys::for_prefix("REDIS")), opts);
    if (!pg_made || !redis_made) {
      fmt::print(stderr, "cannot read the logins: {}\n",
                 !pg_made ? pg_made.error().detail : redis_made.error().detail);
      return 1;
    }
    auto& pg = pg_made.value();
    auto& redis = redis_made.value();

    example::health_server http(
        [&] {
          return std::vector<dualcred::named_status>{{"postgres", pg.snapshot()},
                                                     {"redis", redis.snapshot()}};
        },
        cfg.health_port);
    const std::string health_url = fmt::format("http://127.0.0.1:{}/health", http.port());
    fmt::print("health: {}  metrics: http://127.0.0.1:{}/metrics\n", health_url, http.port());

    // The rotators. PostgreSQL's single role holds one password at a time, so clients fall
    // back to NEXT from apply until promote; Redis's ACL user holds both. Decommission waits
    // until this process's /health reports the promoted revision for both backends.
    rotation::rotator_options ropts;
    ropts.instances = rotation::fleet::http_check{{health_url}, httplib_fetch(), 20s, 25ms, {}};
    if (cfg.verbose)
      ropts.on_progress = [](std::string_view line) { fmt::print("      {}\n", line); };
    rotation::pg::admin_config admin;
    admin.admin_conninfo = dualcred::secret(pg_server.admin_conninfo());
    admin.clients = pp;
    if (bouncer) {
      // verify logs in on the server itself and through PgBouncer.
      admin.pgbouncers = {{pp, {"pgb_admin", dualcred::secret(bouncer_admin_pw)}}};
      admin.clients.port = pg_server.port();
      admin.clients.sqlstate_rules.clear();
    }
    rotation::rotator pg_rotator(rotation::stores::file_store(secrets),
                                 rotation::pg::single_role_admin(std::move(admin)),
                                 rotation::rotation_keys::for_prefix("DB"), ropts);
    // Every step finds the nodes afresh (through the Sentinels after a failover), changes and
    // checks each.
    rotation::redis::admin_options redis_opts;
    if (redis_group) {
      redis_opts.topology.how = rotation::redis::discovery::sentinel;
      redis_opts.topology.sentinel = sp;
    }
    const dualcred::credential redis_admin =
        redis_group ? dualcred::credential{"admin", dualcred::secret(redis_group->admin_password())}
                    : dualcred::credential{redis_server->admin_user(),
                                           dualcred::secret(redis_server->admin_password())};
    rotation::rotator redis_rotator(rotation::stores::file_store(secrets),
                                    rotation::redis::acl_admin(rp, redis_admin, redis_opts),
                                    rotation::rotation_keys::for_prefix("REDIS"), ropts);

    tally pg_tally, redis_tally;
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    const auto stop_clients = [&] {
      stop = true;
      for (auto& t : clients)
        if (t.joinable()) t.join();
    };
    const std::vector<backend_view> backends{
        {"postgres", &pg_tally, [&] { return pg.snapshot(); }},
        {"redis", &redis_tally, [&] { return redis.snapshot(); }}};
    std::vector<counts> last(backends.size());

    int rotations_done = 0;
    std::string step_error;
    try {
      for (int i = 0; i < cfg.clients; ++i) {
        clients.emplace_back([&] { keep_querying(pg, stop, pg_tally, select_one); });
        clients.emplace_back([&] { keep_querying(redis, stop, redis_tally, incr); });
      }
      fmt::print("{} client thread{} per backend, connecting and querying without pause\n\n",
                 cfg.clients, cfg.clients == 1 ? "" : "s");
      std::this_thread::sleep_for(cfg.window);
      print_header();
      print_rows("(steady)", backends, last);

      // Each step runs for both backends, then the clients work on for a moment before the
      // row shows what they saw.
      for (int r = 1; r <= cfg.rotations && step_error.empty(); ++r) {
        fmt::print("\nrotation {} of {}\n", r, cfg.rotations);
        print_header();
        for (const rotation::step step :
             {rotation::step::prepare, rotation::step::apply, rotation::step::promote,
              rotation::step::verify, rotation::step::decommission}) {
          auto done = pg_rotator.run(step);
          if (done) done = redis_rotator.run(step);
          if (!done) {
            step_error = done.error().detail;
            break;
          }
          std::this_thread::sleep_for(cfg.window);
          print_rows(rotation::to_string(step), backends, last);
          // The middle rotation: the primary changes while both passwords are accepted.
          if (redis_group && step == rotation::step::apply && r == (cfg.rotations + 1) / 2) {
            redis_tally.in_failover = true;
            const auto took = redis_group->failover();
            std::this_thread::sleep_for(cfg.window);  // clients meet the new primary
            redis_tally.in_failover = false;
            print_rows("failover", backends, last);
            fmt::print(
                "  SENTINEL FAILOVER: the Sentinels named the new primary after {} ms, "
                "every replica linked after {} ms; Redis connection errors in that "
                "window: {}\n",
                took.named.count(), took.settled.count(), redis_tally.failover_errors.load());
          }
        }
        if (step_error.empty()) ++rotations_done;
      }
    } catch (...) {
      stop_clients();
      throw;
    }
    stop_clients();

    std::uint64_t ok = 0, failed = 0;
    for (const auto& b : backends) {
      ok += b.clients->ok.load();
      failed += b.clients->failed.load();
      std::lock_guard lock(b.clients->mutex);
      for (const auto& e : b.clients->first_errors) fmt::print("{} failure: {}\n", b.name, e);
    }
    fmt::print("\n/health: {}\n",
               dualcred::health_json({{"postgres", pg.snapshot()}, {"redis", redis.snapshot()}}));
    if (redis_group)
      fmt::print("Redis connection errors while the failover ran (counted apart): {}\n",
                 redis_tally.failover_errors.load());
    if (!step_error.empty()) fmt::print("rotation failed: {}\n", step_error);
    fmt::print("rotations: {}, connects: {} ok, {} failed\n", rotations_done, ok, failed);
    return failed == 0 && step_error.empty() ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "demo failed: {}\n", e.what());
    return 1;
  }
}
