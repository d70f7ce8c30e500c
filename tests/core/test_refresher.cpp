#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/refresher.hpp>

#include "support/scripted.hpp"

TEST_SUITE_BEGIN("refresher");

namespace refresher_tests {

using namespace dualcred;
using dualcred::testing::make_set;
using dualcred::testing::scripted_backend;
using dualcred::testing::scripted_connector;
using dualcred::testing::scripted_provider;

using std::chrono::milliseconds;

// A provider whose loads, once `hold()` is called, wait inside load() until `release()`.
struct gate {
  std::mutex mutex;
  std::condition_variable changed;
  bool holding = false;
  int inside = 0;  // loads waiting at the gate now
  int loads = 0;

  void hold() {
    std::lock_guard lock(mutex);
    holding = true;
  }
  void release() {
    std::lock_guard lock(mutex);
    holding = false;
    changed.notify_all();
  }
  void wait_until_inside() {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return inside > 0 || !holding; });
  }
};

struct gated_provider {
  std::shared_ptr<gate> g;
  result<credential_set> load() const {
    std::unique_lock lock(g->mutex);
    ++g->loads;
    ++g->inside;
    g->changed.notify_all();
    g->changed.wait(lock, [&] { return !g->holding; });
    --g->inside;
    return make_set("a", "b", "1");
  }
};

struct accepts_a {
  result<int> operator()(const credential& c) const {
    if (c.password.reveal() == "a") return 1;
    return fail(errc::auth_rejected, "refused");
  }
};

// Refuses "old" only once every caller of the storm has tried it, so all of them are
// refused before any reload starts.
struct storm_connector {
  std::shared_ptr<std::latch> all_tried;
  result<int> operator()(const credential& c) const {
    if (c.password.reveal() == "new") return 1;
    all_tried->arrive_and_wait();
    return fail(errc::auth_rejected, "refused");
  }
};

options with_refresh(milliseconds every) {
  options o;
  o.min_reload_interval = milliseconds(0);
  o.refresh_interval = every;
  return o;
}

// A dual_credential over `db` refreshing every `every`, its provider answering what the
// returned script holds: first user "a", version "1".
auto refreshing_over(scripted_backend& db, std::shared_ptr<scripted_provider::script>& script,
                     milliseconds every) {
  script = std::make_shared<scripted_provider::script>();
  script->set = make_set("a", std::nullopt, "1");
  return make_dual_credential(scripted_connector{&db}, scripted_provider(script),
                              with_refresh(every))
      .value();
}

}  // namespace refresher_tests

using namespace refresher_tests;

TEST_CASE("refresh_schedule: poll() loads only when due and says when the next refresh is") {
  scripted_backend db;
  db.accept_only({"a", "b"});
  std::shared_ptr<scripted_provider::script> script;
  auto dc = refreshing_over(db, script, milliseconds(1));
  const int loaded = script->loads;
  refresh_schedule schedule(dc, milliseconds(20));
  const auto first_due = schedule.poll();
  CHECK(script->loads == loaded);  // not due yet
  std::this_thread::sleep_until(first_due);
  script->publish(make_set("b", std::nullopt, "2"));
  const auto second_due = schedule.poll();
  CHECK(script->loads == loaded + 1);
  CHECK(second_due > first_due);
  CHECK(dc.snapshot().version == "2");
}

TEST_CASE("while a refresher is attached, connect() never loads on refresh_interval") {
  scripted_backend db;
  db.accept_only({"a"});
  std::shared_ptr<scripted_provider::script> script;
  auto dc = refreshing_over(db, script, milliseconds(1));
  {
    refresh_schedule schedule(dc, std::chrono::hours(1));
    const int loaded = script->loads;
    for (int i = 0; i < 5; ++i) {
      std::this_thread::sleep_for(milliseconds(3));  // the interval elapses every time
      REQUIRE(dc.connect());
    }
    CHECK(script->loads == loaded);
  }
  // Detached: the refresh on connect is back.
  const int loaded = script->loads;
  std::this_thread::sleep_for(milliseconds(3));
  REQUIRE(dc.connect());
  std::this_thread::sleep_for(milliseconds(3));
  REQUIRE(dc.connect());
  CHECK(script->loads > loaded);
}

TEST_CASE("a failed refresh keeps the set in use and is counted") {
  scripted_backend db;
  db.accept_only({"a"});
  std::shared_ptr<scripted_provider::script> script;
  auto dc = refreshing_over(db, script, milliseconds(0));
  refresh_schedule schedule(dc, milliseconds(5));
  script->fail_with(error(errc::provider_unavailable, "store down"));
  auto r = schedule.refresh_now();
  REQUIRE(!r);
  CHECK(r.error().is(errc::provider_unavailable));
  const status s = dc.snapshot();
  CHECK(s.version == "1");
  CHECK(s.reload_failures == 1);
  CHECK(dc.connect());
}

TEST_CASE("background_refresher: refreshes on its own thread and stops when destroyed") {
  scripted_backend db;
  db.accept_only({"a", "b"});
  std::shared_ptr<scripted_provider::script> script;
  auto dc = refreshing_over(db, script, milliseconds(0));
  script->publish(make_set("b", std::nullopt, "2"));
  {
    background_refresher refresher(dc, milliseconds(2));
    // No connect runs: only the refresher can load.
    while (dc.snapshot().version != "2") std::this_thread::sleep_for(milliseconds(1));
  }
  const int after = script->loads;
  std::this_thread::sleep_for(milliseconds(20));  // ten periods
  CHECK(script->loads == after);
}

TEST_CASE("background_refresher: a long period does not delay its destruction") {
  auto script = std::make_shared<scripted_provider::script>();
  script->set = make_set("a", std::nullopt, "1");
  scripted_backend db;
  auto dc = make_dual_credential(scripted_connector{&db}, scripted_provider(script)).value();
  const int loaded = script->loads;
  // Were the stop request not to wake the thread, this would wait an hour (the test's
  // timeout fails it first).
  { background_refresher refresher(dc, std::chrono::hours(1)); }
  CHECK(script->loads == loaded);
}

TEST_CASE("no connect waits for a provider load while a refresher is attached") {
  auto g = std::make_shared<gate>();
  auto dc =
      make_dual_credential(accepts_a{}, gated_provider{g}, with_refresh(milliseconds(1))).value();
  g->hold();  // from here every load waits inside load() until released
  refresh_schedule schedule(dc, std::chrono::hours(1));

  // Connects from two threads, each well past refresh_interval. A connect that loaded
  // would wait at the gate until the release at the end, and `finished` would time out.
  std::atomic<int> connected{0};
  const auto connects_finish = [&] {
    auto run = [&] {
      for (int i = 0; i < 20; ++i) {
        if (dc.connect()) connected.fetch_add(1);
        std::this_thread::sleep_for(milliseconds(2));
      }
    };
    auto a = std::async(std::launch::async, run);
    auto b = std::async(std::launch::async, run);
    const bool finished = a.wait_for(std::chrono::seconds(10)) == std::future_status::ready &&
                          b.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
    if (!finished) g->release();  // let them end, so the test reports instead of hanging
    return finished;
  };

  // Nothing loading: the interval elapses on every connect, and none loads.
  CHECK(connects_finish());
  // The refresher's own load held at the gate: connects go on with the set they have.
  auto refreshing = std::async(std::launch::async, [&] { return schedule.refresh_now(); });
  g->wait_until_inside();
  CHECK(connects_finish());
  int loads_while_held = 0;
  {
    std::lock_guard lock(g->mutex);
    loads_while_held = g->loads;
  }
  g->release();
  CHECK(refreshing.get());
  CHECK(connected.load() == 80);
  // make_dual_credential's load and the refresher's: no connect started one.
  CHECK(loads_while_held == 2);
}

TEST_CASE("without a refresher, a connect due for refresh does wait for the load") {
  // The contrast that shows the test above can fail: the same gate holds a connect.
  auto g = std::make_shared<gate>();
  auto dc =
      make_dual_credential(accepts_a{}, gated_provider{g}, with_refresh(milliseconds(1))).value();
  g->hold();
  std::this_thread::sleep_for(milliseconds(3));
  auto c = std::async(std::launch::async, [&] { return static_cast<bool>(dc.connect()); });
  g->wait_until_inside();  // the connect itself is loading
  CHECK(c.wait_for(milliseconds(20)) == std::future_status::timeout);
  g->release();
  CHECK(c.get());
}

TEST_CASE("a refused storm with a refresher attached still loads once") {
  constexpr int threads = 64;
  auto script = std::make_shared<scripted_provider::script>();
  script->set = make_set("old", std::nullopt, "1");
  auto dc = make_dual_credential(storm_connector{std::make_shared<std::latch>(threads)},
                                 scripted_provider(script), with_refresh(milliseconds(0)))
                .value();
  refresh_schedule schedule(dc, std::chrono::hours(1));  // attached, never due
  script->publish(make_set("new", std::nullopt, "2"));
  const int loaded = script->loads;
  std::atomic<int> ok{0};
  {
    std::vector<std::jthread> pool;
    for (int i = 0; i < threads; ++i)
      pool.emplace_back([&] {
        if (dc.connect()) ok.fetch_add(1);
      });
  }
  CHECK(ok.load() == threads);
  CHECK(script->loads == loaded + 1);
}

TEST_SUITE_END();
