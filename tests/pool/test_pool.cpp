// The pool's rules with an in-process connector: bounds, timeouts, retirement, ageing,
// validation. The rotation tests (test_pool_rotation.cpp) run it against real servers.
#include <dualcred/pool/pool.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <dualcred/dual_credential.hpp>
#include <dualcred/pool/counts.hpp>
#include <dualcred/provider/static.hpp>

#include "support/scripted.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_pool {

TEST_SUITE_BEGIN("pool");

using namespace std::chrono_literals;
using namespace dualcred;
using dualcred::testing::fake_conn;
using dualcred::testing::make_set;
using dualcred::testing::scripted_backend;
using dualcred::testing::scripted_connector;

namespace {
auto make_creds(scripted_backend& db, credential_set set) {
  options o;
  o.min_reload_interval = 0ms;
  auto made = make_dual_credential(scripted_connector{&db}, static_provider(std::move(set)), o);
  REQUIRE(made);
  return std::move(made).value();
}
using creds_t = decltype(make_creds(std::declval<scripted_backend&>(), {}));

pool::options sized(std::size_t n, std::chrono::milliseconds timeout = 2000ms) {
  pool::options o;
  o.max_size = n;
  o.borrow_timeout = timeout;
  return o;
}
}  // namespace

TEST_CASE("bounded: a full pool times out, and a return lets a waiting borrower in") {
  scripted_backend db;
  db.accept_only({"cur"});
  auto creds = make_creds(db, make_set("cur", std::nullopt));
  pool::connection_pool<creds_t> p(creds, sized(2, 50ms));
  auto a = p.borrow();
  auto b = p.borrow();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a.value()->id != b.value()->id);
  auto c = p.borrow();
  REQUIRE_FALSE(c);
  CHECK(c.error().code == errc::timeout);
  CHECK(p.stats().borrow_timeouts == 1);

  pool::connection_pool<creds_t> q(creds, sized(1, 2000ms));
  auto held = q.borrow();
  REQUIRE(held);
  const int id = held.value()->id;
  std::thread returner([&] {
    std::this_thread::sleep_for(20ms);
    held.value().release();
  });
  auto waited = q.borrow();
  returner.join();
  REQUIRE(waited);
  CHECK(waited.value()->id == id);  // the same connection, reused
  CHECK(q.stats().opened == 1);

  pool::connection_pool<creds_t> none(creds, sized(0));
  auto refused = none.borrow();
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == errc::invalid_argument);
  CHECK(refused.error().detail.find("max_size") != std::string::npos);
}

TEST_CASE("retired: counted while lent, closed on return, on borrow and by sweep") {
  scripted_backend db;
  db.accept_only({"old", "new"});
  auto creds = make_creds(db, make_set("old", "new"));
  pool::connection_pool<creds_t> p(creds, sized(3));
  auto lent = p.borrow();
  auto idle1 = p.borrow();
  auto idle2 = p.borrow();
  REQUIRE((lent && idle1 && idle2));
  idle1.value().release();
  idle2.value().release();
  CHECK(p.stats().current.open() == 3);

  creds.provider().set(make_set("new", std::nullopt));  // "old" leaves the set
  REQUIRE(creds.reload());
  auto s = p.stats();
  CHECK(s.retired.lent == 1);
  CHECK(s.retired.idle == 2);
  CHECK(s.current.open() == 0);

  // A borrow skips (and closes) the retired idle one it picks, then opens on "new".
  auto fresh = p.borrow();
  REQUIRE(fresh);
  CHECK(creds.slot_of(fresh.value().tag()) == slot::current);
  s = p.stats();
  CHECK(s.closed_retired == 2);  // both idle ones were picked and closed before opening
  CHECK(s.retired.lent == 1);    // never closed while lent
  lent.value().release();        // retire on return
  s = p.stats();
  CHECK(s.retired.open() == 0);
  CHECK(s.closed_retired == 3);
  CHECK(s.current.lent == 1);

  // sweep: an idle connection on a credential that just left is closed without a borrow.
  fresh.value().release();
  creds.provider().set(make_set("newer", std::nullopt));
  REQUIRE(creds.reload());
  CHECK(p.stats().retired.idle == 1);
  CHECK(p.sweep() == 1);
  CHECK(p.stats().open() == 0);
}

TEST_CASE("a connection opened with NEXT stays when NEXT is promoted to CURRENT") {
  scripted_backend db;
  db.accept_only({"new"});
  auto creds = make_creds(db, make_set("old", "new"));
  pool::connection_pool<creds_t> p(creds, sized(2));
  {
    auto c = p.borrow();
    REQUIRE(c);
    CHECK(c.value().tag().which == slot::next);
  }
  CHECK(p.stats().next.idle == 1);
  creds.provider().set(make_set("new", std::nullopt));
  REQUIRE(creds.reload());
  CHECK(p.sweep() == 0);
  CHECK(p.stats().current.idle == 1);
}

TEST_CASE("ageing, validation and discard close connections, each counted") {
  scripted_backend db;
  db.accept_only({"cur"});
  auto creds = make_creds(db, make_set("cur", std::nullopt));
  pool::options o = sized(2);
  o.max_lifetime = 30ms;
  pool::connection_pool<creds_t> aged(creds, o);
  { REQUIRE(aged.borrow()); }
  std::this_thread::sleep_for(40ms);
  CHECK(aged.sweep() == 1);
  CHECK(aged.stats().closed_expired == 1);

  o = sized(2);
  o.max_idle = 30ms;
  pool::connection_pool<creds_t> idle(creds, o);
  { REQUIRE(idle.borrow()); }
  CHECK(idle.sweep() == 0);
  std::this_thread::sleep_for(40ms);
  CHECK(idle.sweep() == 1);

  std::atomic<int> validations{0};
  auto refuse_first = [&](fake_conn&) { return validations.fetch_add(1) > 0; };
  o = sized(2);
  o.validate_on_borrow = true;
  pool::connection_pool<creds_t, decltype(refuse_first)> v(creds, o, refuse_first);
  {
    auto c = v.borrow();  // a new connection is not validated
    REQUIRE(c);
  }
  auto c = v.borrow();  // the idle one fails validation: closed, and a new one opened
  REQUIRE(c);
  CHECK(validations == 1);
  CHECK(v.stats().closed_invalid == 1);
  CHECK(v.stats().opened == 2);
  c.value().discard();
  c.value().release();
  CHECK(v.stats().closed_invalid == 2);
  CHECK(v.stats().open() == 0);
}

TEST_CASE("a failed connect fails the borrow with its error and frees the slot") {
  scripted_backend db;
  db.accept_only({});
  auto creds = make_creds(db, make_set("cur", std::nullopt));
  pool::connection_pool<creds_t> p(creds, sized(1, 50ms));
  auto c = p.borrow();
  REQUIRE_FALSE(c);
  CHECK(c.error().code == errc::all_rejected);
  db.accept_only({"cur"});
  CHECK(p.borrow());  // the slot was given back
  CHECK(p.stats().connect_failures == 1);
}

TEST_CASE("counts: the text exposition and the JSON body name every count") {
  pool::counts c;
  c.retired.lent = 2;
  c.current.idle = 3;
  c.closed_retired = 7;
  const std::string text = pool::to_prometheus(c, "main \"db\"");
  CHECK(
      text.find(
          R"(dualcred_pool_connections{pool="main \"db\"",credential="retired",state="lent"} 2)") !=
      std::string::npos);
  CHECK(text.find(R"(dualcred_pool_closed_total{pool="main \"db\"",reason="retired"} 7)") !=
        std::string::npos);
  CHECK(pool::to_json(c).find(R"("retired":{"open":2,"idle":0,"lent":2})") != std::string::npos);
}

TEST_CASE("8 threads share a pool of 4: every borrow succeeds and the bound holds") {
  scripted_backend db;
  db.accept_only({"cur"});
  auto creds = make_creds(db, make_set("cur", std::nullopt));
  pool::connection_pool<creds_t> p(creds, sized(4));
  std::atomic<int> in_use{0}, most{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        auto c = p.borrow();
        if (!c) {
          ++failed;
          continue;
        }
        const int now = ++in_use;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        --in_use;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(failed == 0);
  CHECK(most <= 4);
  CHECK(p.stats().opened <= 4);
}

TEST_SUITE_END();

}  // namespace test_pool
