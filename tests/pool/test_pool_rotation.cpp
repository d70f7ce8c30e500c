// A pool of 16 under 8 borrowing threads through whole rotations on real PostgreSQL and Redis.
// The rotator's fleet check waits for the pool as one instance: the pool reports the store
// revision only once it holds no connection on a retired credential (after a sweep) and, for
// alternating roles, pg_stat_activity shows no session of the role being decommissioned.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/pool/counts.hpp>
#include <dualcred/pool/pool.hpp>
#include <dualcred/provider/file.hpp>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/fleet/http_check.hpp>
#include <dualcred/rotation/pg/admin.hpp>
#include <dualcred/rotation/redis/admin.hpp>

#include <dualcred_testing/temp_dir.hpp>
#include "rotation/rotation_helpers.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_pool_rotation {

TEST_SUITE_BEGIN("pool_rotation");

using namespace std::chrono_literals;
using namespace dualcred;
using namespace dualcred::rotation;
using rotation_tests::pg_fixture;
using rotation_tests::redis_fixture;

namespace {

constexpr std::size_t pool_size = 16;
constexpr int borrowers = 8;

// Sessions of `user` as PostgreSQL sees them.
long pg_sessions(const std::string& user) {
  const auto rows = pg_fixture().exec("SELECT count(*) FROM pg_stat_activity WHERE usename = " +
                                      pg_fixture().quote_literal(user));
  return rows.empty() ? -1 : std::stol(rows.at(0).at(0));
}

// What the rotations saw of the pool when it reported ready.
struct watch {
  std::atomic<long> borrows{0};
  std::atomic<long> failed{0};
  std::atomic<long> draining_polls{0};  // fleet polls answered "not yet": pool or server
  std::atomic<long> server_checks{0};   // polls that asked the server, and it showed none
  std::atomic<long> most_lent{0};
};

// `borrowers` threads that borrow, use and return until stopped; every failure counts.
template <class Pool>
class borrowing {
 public:
  borrowing(Pool& pool, watch& w) {
    for (int t = 0; t < borrowers; ++t)
      threads_.emplace_back([this, &pool, &w] {
        while (!stop_.load(std::memory_order_relaxed)) {
          auto lease = pool.borrow();
          ++w.borrows;
          if (!lease) {
            failures.fail(lease.error().detail);
            ++w.failed;
          } else if (!rotation_tests::usable(lease.value().get())) {
            failures.fail("borrowed, but the connection did not work");
            ++w.failed;
            lease.value().discard();
          }
          // A pause between requests, as a service has: 8 threads spinning on 2 cores would
          // starve the servers and the rotator they are meant to race.
          std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
      });
  }
  ~borrowing() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  rotation_tests::tally failures;

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// The pool as one fleet instance: "not yet" while any connection (idle or lent) is on a
// credential that left the set, or while `server_old` (when given) sees old sessions.
template <class Creds, class Pool>
fleet::http_check pool_fleet(Creds& creds, Pool& pool, watch& w,
                             std::function<long(const credential_set&)> server_old) {
  auto fetch = [&creds, &pool, &w, server_old](const std::string&,
                                               std::chrono::milliseconds) -> result<std::string> {
    pool.sweep();
    const pool::counts c = pool.stats();
    if (c.retired.open() > 0) {
      ++w.draining_polls;
      return fail(errc::provider_unavailable,
                  fmt::format("{} connections on a retired credential", c.retired.open()));
    }
    if (server_old) {
      auto set = creds.provider().load();
      if (!set) return std::move(set).as_failure();
      if (const long n = server_old(set.value()); n != 0) {
        ++w.draining_polls;
        return fail(errc::provider_unavailable, fmt::format("server shows {} old sessions", n));
      }
      ++w.server_checks;
    }
    return fmt::format("{}", creds.snapshot());
  };
  return fleet::http_check{{"pool"}, fetch, 10s, 5ms, {}};
}

template <class Creds, class Admin>
void soak(Creds& creds, Admin admin, const std::string& path, const char* prefix,
          std::function<long(const credential_set&)> server_old, const char* name) {
  pool::options po;
  po.max_size = pool_size;
  po.borrow_timeout = 10s;
  pool::connection_pool<Creds> pool(creds, po);
  watch w;
  borrowing<decltype(pool)> b(pool, w);
  rotator_options o;
  o.instances = pool_fleet(creds, pool, w, server_old);
  rotator r(dualcred::rotation::stores::file_store(path), std::move(admin),
            rotation_keys::for_prefix(prefix), o);
  const auto start = std::chrono::steady_clock::now();
  const int n = rotation_tests::cycles();
  for (int i = 0; i < n; ++i) {
    auto done = r.run_all();
    REQUIRE_MESSAGE(done, done.error().detail);
    CHECK(pool.stats().open() <= pool_size);
  }
  b.stop();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  b.failures.report(name);
  const pool::counts c = pool.stats();
  MESSAGE(std::string(name) << ": " << n << " rotations, " << w.borrows.load() << " borrows, "
                            << w.failed.load() << " failed, " << w.draining_polls.load()
                            << " fleet polls waited for the pool or server, " << ms << " ms; pool "
                            << pool::to_json(c));
  CHECK(w.failed == 0);
  if (server_old) CHECK(w.server_checks >= 2 * n);  // before each apply and decommission
  CHECK(w.borrows > n);
  CHECK(c.retired.open() == 0);
  CHECK(c.closed_retired >= static_cast<std::uint64_t>(n));  // each rotation retired some
  CHECK(c.opened <= c.closed_retired + c.closed_expired + c.closed_invalid + pool_size);
}

using rotation_tests::pg_admin;

template <class Store>
auto store_creds(const std::string& path, auto connector, const char* prefix) {
  auto dc = make_dual_credential(
      connector, store_provider<Store>(Store(path), rotation_keys::for_prefix(prefix)),
      rotation_tests::client_options());
  REQUIRE(dc);
  return std::move(dc).value();
}

}  // namespace

TEST_CASE("pool of 16, 8 threads: PostgreSQL alternating roles, server shows no old session") {
  testing::temp_dir dir;
  auto& pg = pg_fixture();
  const std::string pw = "seed-" + testing::random_token(16);
  pg.create_login_role("pool_alt_a", pw);
  pg.create_login_role("pool_alt_b", "seed-" + testing::random_token(16));
  pg.exec("ALTER ROLE pool_alt_b PASSWORD NULL");
  std::filesystem::create_directory(dir / "secrets");
  dir.write("secrets/DB_USER", "pool_alt_a");
  dir.write("secrets/DB_PASS_CURRENT", pw);
  const std::string path = dir / "secrets";
  auto creds = store_creds<dualcred::rotation::stores::file_store>(
      path, dualcred::pg::connector(rotation_tests::pg_params()), "DB");
  // The role that is neither CURRENT's nor NEXT's is the one being decommissioned.
  auto old_sessions = [](const credential_set& set) {
    long n = 0;
    for (const char* role : {"pool_alt_a", "pool_alt_b"})
      if (set.current.user != role && (!set.next || set.next->user != role)) n += pg_sessions(role);
    return n;
  };
  soak(creds,
       dualcred::rotation::pg::alternating_roles_admin(pg_admin(), "pool_alt_a", "pool_alt_b"),
       path, "DB", old_sessions, "postgres alternating");
}

TEST_CASE("pool of 16, 8 threads: PostgreSQL single role") {
  testing::temp_dir dir;
  const std::string pw = "seed-" + testing::random_token(16);
  pg_fixture().create_login_role("pool_single", pw);
  const std::string path = dir.write("db.env", "DB_USER=pool_single\nDB_PASS_CURRENT=" + pw + "\n");
  auto creds = store_creds<dualcred::rotation::stores::file_store>(
      path, dualcred::pg::connector(rotation_tests::pg_params()), "DB");
  soak(creds, dualcred::rotation::pg::single_role_admin(pg_admin()), path, "DB", {},
       "postgres single");
}

TEST_CASE("pool of 16, 8 threads: Redis ACL user") {
  testing::temp_dir dir;
  const std::string pw = "seed-" + testing::random_token(16);
  redis_fixture().set_user("pool_user", {pw});
  const std::string path =
      dir.write("app.env", "REDIS_USER=pool_user\nREDIS_PASS_CURRENT=" + pw + "\n");
  auto creds = store_creds<dualcred::rotation::stores::file_store>(
      path, dualcred::redis::connector(rotation_tests::redis_params()), "REDIS");
  const credential admin{redis_fixture().admin_user(), secret(redis_fixture().admin_password())};
  soak(creds, dualcred::rotation::redis::acl_admin(rotation_tests::redis_params(), admin), path,
       "REDIS", {}, "redis acl");
}

TEST_SUITE_END();

}  // namespace test_pool_rotation
