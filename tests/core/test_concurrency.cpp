#include <atomic>
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/dual_credential.hpp>
#include <dualcred/provider/static.hpp>

#include "support/scripted.hpp"

TEST_SUITE_BEGIN("concurrency");

using namespace dualcred;
using dualcred::testing::fake_conn;
using dualcred::testing::make_set;
using dualcred::testing::scripted_provider;

namespace {

// Accepts two passwords, so any mix of the sets swapped below connects.
struct accepts_two {
  result<fake_conn> operator()(const credential& c) const {
    const auto pw = c.password.reveal();
    if (pw == "alpha" || pw == "beta") return fake_conn{c.user, 0};
    return fail(errc::auth_rejected, "refused");
  }
};

// A store whose next load reads the set, then stalls until released: a refresh under way
// while a promotion changes the store, as happens mid-rotation.
struct stalling_store {
  std::mutex mutex;
  std::condition_variable changed;
  credential_set set;
  bool stall_next = false;
  bool stalled = false;
  bool released = false;
  int loads = 0;

  void release() {
    std::lock_guard lock(mutex);
    released = true;
    changed.notify_all();
  }
};

struct stalling_provider {
  std::shared_ptr<stalling_store> store;
  result<credential_set> load() const {
    std::unique_lock lock(store->mutex);
    ++store->loads;
    credential_set copy{store->set.current, store->set.next, store->set.version};
    if (store->stall_next) {
      store->stall_next = false;
      store->stalled = true;
      store->changed.notify_all();
      store->changed.wait(lock, [&] { return store->released; });
    }
    return copy;
  }
};

}  // namespace

TEST_CASE("a load already under way when a connect starts is not shared: it may be stale") {
  auto store = std::make_shared<stalling_store>();
  store->set = make_set("pw-old", std::nullopt, "1");
  // Accepts only the new password; its first refusal lets the stalled load finish, so that
  // load ends after this connect began, carrying the set it read before the change.
  struct accepts_new_only {
    std::shared_ptr<stalling_store> store;
    result<fake_conn> operator()(const credential& c) const {
      if (c.password.reveal() == "pw-new") return fake_conn{c.user, 0};
      store->release();
      return fail(errc::auth_rejected, "refused");
    }
  };
  options o;
  o.min_reload_interval = std::chrono::milliseconds(0);
  auto made = make_dual_credential(accepts_new_only{store}, stalling_provider{store}, o);
  REQUIRE(made);
  auto& dc = made.value();

  {
    std::lock_guard lock(store->mutex);
    store->stall_next = true;
  }
  std::thread refresher([&] { CHECK(dc.reload()); });  // reads "pw-old", then stalls
  {
    std::unique_lock lock(store->mutex);
    store->changed.wait(lock, [&] { return store->stalled; });
    store->set = make_set("pw-new", std::nullopt, "2");  // the promotion lands meanwhile
  }
  auto c = dc.connect();
  refresher.join();
  CHECK_MESSAGE(c, (c ? "" : c.error().detail));
  CHECK(dc.snapshot().version == "2");
  std::lock_guard lock(store->mutex);
  CHECK(store->loads == 3);  // start-up, the stale refresh, and the connect's own load
}

TEST_CASE("8 threads connect while the set is swapped and reloads race") {
  options o;
  o.min_reload_interval = std::chrono::milliseconds(0);
  auto made = make_dual_credential(accepts_two{}, static_provider(make_set("alpha", "beta")), o);
  REQUIRE(made);
  auto& dc = made.value();

  constexpr int threads = 8;
  constexpr int per_thread = 4000;
  constexpr int min_swaps = 50;
  std::atomic<int> failures{0};
  std::atomic<int> swaps{0};
  std::atomic<std::uint64_t> connects{0};
  std::atomic<bool> done{false};

  std::thread swapper([&] {
    bool flip = false;
    while (!done.load()) {
      dc.provider().set(flip ? make_set("alpha", "beta") : make_set("beta", "alpha"));
      flip = !flip;
      if (!dc.reload()) failures.fetch_add(1);
      swaps.fetch_add(1);
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> clients;
  for (int t = 0; t < threads; ++t)
    clients.emplace_back([&] {
      // Keep connecting until the swapper has really raced us, however the OS schedules it.
      for (int i = 0; i < per_thread || swaps.load() < min_swaps; ++i) {
        if (!dc.connect()) failures.fetch_add(1);
        connects.fetch_add(1);
      }
    });
  for (auto& c : clients) c.join();
  done = true;
  swapper.join();

  CHECK(failures == 0);
  const status s = dc.snapshot();
  CHECK(s.connects_via_current + s.connects_via_next == connects.load());
  CHECK(s.reloads > min_swaps);
}

TEST_CASE("a reload storm: 64 threads refused at once perform exactly one provider load") {
  auto script = std::make_shared<scripted_provider::script>();
  script->set = make_set("old-a", "old-b", "1");

  constexpr int threads = 64;
  // Each thread's first attempt waits until all 64 have made one, so every thread is
  // refused before any reload can start.
  std::barrier gate(threads);
  struct refuse_all {
    std::barrier<>* gate;
    result<fake_conn> operator()(const credential&) const {
      thread_local bool arrived = false;
      if (!arrived) {
        arrived = true;
        gate->arrive_and_wait();
      }
      return fail(errc::auth_rejected, "refused");
    }
  };
  options o;
  o.min_reload_interval = std::chrono::milliseconds(20);
  auto made = make_dual_credential(refuse_all{&gate}, scripted_provider(script), o);
  REQUIRE(made);
  auto& dc = made.value();
  const int loads_before = script->loads;

  std::atomic<int> all_rejected{0};
  std::vector<std::thread> storm;
  for (int t = 0; t < threads; ++t)
    storm.emplace_back([&] {
      auto c = dc.connect();
      if (!c && c.error().is(errc::all_rejected)) all_rejected.fetch_add(1);
    });
  for (auto& t : storm) t.join();

  CHECK(script->loads - loads_before == 1);
  CHECK(all_rejected == threads);
  CHECK(dc.snapshot().all_rejected == threads);
}

TEST_CASE("a storm whose reload brings a working set: everyone connects, one load") {
  auto script = std::make_shared<scripted_provider::script>();
  script->set = make_set("old", std::nullopt, "1");
  constexpr int threads = 16;
  std::barrier gate(threads);
  struct accept_new {
    std::barrier<>* gate;
    result<fake_conn> operator()(const credential& c) const {
      thread_local bool arrived = false;
      if (!arrived) {
        arrived = true;
        gate->arrive_and_wait();
      }
      if (c.password.reveal() == "new") return fake_conn{c.user, 1};
      return fail(errc::auth_rejected, "refused");
    }
  };
  options o;
  o.min_reload_interval = std::chrono::milliseconds(0);
  auto made = make_dual_credential(accept_new{&gate}, scripted_provider(script), o);
  REQUIRE(made);
  script->publish(make_set("new", std::nullopt, "2"));
  const int loads_before = script->loads;
  std::atomic<int> ok{0};
  std::vector<std::thread> storm;
  for (int t = 0; t < threads; ++t)
    storm.emplace_back([&] {
      if (made.value().connect()) ok.fetch_add(1);
    });
  for (auto& t : storm) t.join();
  CHECK(ok == threads);
  CHECK(script->loads - loads_before == 1);
}

TEST_CASE("more threads than owned shards: the counts stay exact") {
  auto made = make_dual_credential(accepts_two{}, static_provider(make_set("alpha", "beta")));
  REQUIRE(made);
  constexpr int threads = static_cast<int>(detail::exclusive_shards) + 16;
  constexpr int per_thread = 300;
  std::barrier start(threads);
  std::vector<std::thread> clients;
  for (int t = 0; t < threads; ++t)
    clients.emplace_back([&] {
      start.arrive_and_wait();  // all alive at once, so some must share the spare shard
      for (int i = 0; i < per_thread; ++i) (void)made.value().connect();
    });
  for (auto& c : clients) c.join();
  CHECK(made.value().snapshot().connects_via_current == threads * per_thread);
}

TEST_CASE("replaced sets are freed once no reader holds them, and not before") {
  detail::shard_array shards;
  detail::published_sets sets(shards);
  const detail::shard_ref me(shards);
  auto make = [](const char* pw) {
    auto p = std::make_unique<detail::published_set>();
    p->set = make_set(pw, std::nullopt);
    return p;
  };
  sets.publish(make("first"));
  {
    const auto guard = sets.read(me);
    const detail::published_set* held = guard.get();
    for (int i = 0; i < 50; ++i) sets.publish(make("later"));
    // The held set was retired but must still be intact (ASan would flag a free).
    CHECK(held->set.current.password.reveal() == "first");
    CHECK(sets.retired_count() >= 1);
  }
  sets.publish(make("last"));
  sets.reclaim();
  CHECK(sets.retired_count() == 0);
}

TEST_CASE("readers racing a writer that publishes and frees: no reader sees a freed set") {
  // Freed sets have their secrets zeroed, so a reader that could still read one would see
  // a password that is not "pw-<generation>" (and ASan would name the use after free).
  MESSAGE("readers' marks are " << (detail::asymmetric_fence::available()
                                        ? "plain stores (membarrier)"
                                        : "locked read-modify-writes"));
  detail::shard_array shards;
  detail::published_sets sets(shards);
  auto make = [](std::uint64_t g) {
    auto p = std::make_unique<detail::published_set>();
    p->set = make_set("pw-" + std::to_string(g), std::nullopt);
    p->generation = g;
    return p;
  };
  sets.publish(make(1));
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0}, torn{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t)
    readers.emplace_back([&] {
      const detail::shard_ref me(shards);
      while (!stop.load(std::memory_order_relaxed)) {
        const auto guard = sets.read(me);
        const detail::published_set* p = guard.get();
        if (p->set.current.password.reveal() != "pw-" + std::to_string(p->generation)) ++torn;
        ++reads;
      }
    });
  for (std::uint64_t g = 2; g < 5000; ++g) {
    sets.publish(make(g));
    if (g % 8 == 0) std::this_thread::yield();
  }
  while (reads.load() < 10000) std::this_thread::yield();
  stop = true;
  for (auto& r : readers) r.join();
  CHECK(torn.load() == 0);
  sets.reclaim();
  CHECK(sets.retired_count() == 0);  // every reader has left: everything retired is freed
}

TEST_SUITE_END();
