// What the fallback costs when the backend costs nothing: each case beside its baseline.
//
//   happy/*    a no-op connector called directly vs through dual_credential::connect()
//   window/*   CURRENT refused, NEXT accepted: sticky, not sticky, the happy path, and the
//              connector called directly with NEXT
//   threads/*  the happy path from 1, 2 and 4 threads at once (items/s, real time)
//   storm      64 threads refused at once: provider loads per storm
//   secret/*   a secret's storage made and freed, or copied, on the heap (the default) and in
//              pages of its own marked MADV_DONTDUMP (DUALCRED_SECRET_DONTDUMP=1)
//
// Every case reports `allocs_per_op`: heap allocations per connect made inside the timed
// loop, counted by a replacement operator new (support/alloc_count.cpp).

#include <atomic>
#include <barrier>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <dualcred/dualcred.hpp>
#include <dualcred/provider/static.hpp>

#include "support/sets.hpp"
#include "support/timed.hpp"

namespace {

using dualcred::credential;
using dualcred::credential_set;
using dualcred::result;
using dualcred::bench::set_of;
using dualcred::bench::timed;

credential login(std::string_view password) {
  return {"app", dualcred::secret(password)};
}

// The cheapest connector there is: it reads the credential and "connects".
struct noop_connector {
  result<int> operator()(const credential& c) const noexcept {
    return static_cast<int>(c.user.size());
  }
};

// Accepts one password, refuses any other the way a database does.
struct picky_connector {
  std::string_view accepted;
  result<int> operator()(const credential& c) const {
    if (c.password.reveal() != accepted)
      return dualcred::fail(dualcred::errc::auth_rejected,
                            "password authentication failed for user \"app\"");
    return static_cast<int>(c.user.size());
  }
};

template <class C>
auto make(C connector, credential_set set, dualcred::options o = {}) {
  auto dc = dualcred::make_dual_credential(std::move(connector),
                                           dualcred::static_provider(std::move(set)), o);
  if (!dc) throw std::runtime_error(dc.error().detail);
  return std::move(dc).value();
}

// 1. Happy path ------------------------------------------------------------------------

void happy_direct(benchmark::State& state) {
  const noop_connector connect;
  const credential cred = login("pw");
  timed(state, [&] {
    auto r = connect(cred);
    benchmark::DoNotOptimize(r);
  });
}

void happy_connect(benchmark::State& state) {
  auto dc = make(noop_connector{}, set_of("app", "pw", "pw2"));
  timed(state, [&] {
    auto r = dc.connect();
    benchmark::DoNotOptimize(r);
  });
}

// 2. Rotation window -------------------------------------------------------------------

void window_happy(benchmark::State& state) {
  auto dc = make(picky_connector{"new"}, set_of("app", "new", "newer"));
  timed(state, [&] {
    auto r = dc.connect();
    benchmark::DoNotOptimize(r);
  });
}

// The window's connector called directly with the credential that works (NEXT): what the
// sticky window would cost with no wrapper, so the wrapper's share can be told apart.
void window_direct(benchmark::State& state) {
  const picky_connector connect{"new"};
  const credential cred = login("new");
  timed(state, [&] {
    auto r = connect(cred);
    benchmark::DoNotOptimize(r);
  });
}

void window(benchmark::State& state, bool sticky) {
  dualcred::options o;
  o.sticky = sticky;
  auto dc = make(picky_connector{"new"}, set_of("app", "old", "new"), o);
  if (!dc.connect()) state.SkipWithError("the window's first connect failed");
  timed(state, [&] {
    auto r = dc.connect();
    benchmark::DoNotOptimize(r);
  });
  if (dc.snapshot().all_rejected != 0) state.SkipWithError("a connect failed in the window");
}
void window_sticky(benchmark::State& state) {
  window(state, true);
}
void window_not_sticky(benchmark::State& state) {
  window(state, false);
}

// 3. Threads ---------------------------------------------------------------------------

void threads_direct(benchmark::State& state) {
  const noop_connector connect;
  const credential cred = login("pw");
  timed(state, [&] {
    auto r = connect(cred);
    benchmark::DoNotOptimize(r);
  });
}

void threads_connect(benchmark::State& state) {
  // One instance shared by every thread of every run, as a service would share it.
  static auto dc = make(noop_connector{}, set_of("app", "pw", "pw2"));
  timed(state, [&] {
    auto r = dc.connect();
    benchmark::DoNotOptimize(r);
  });
}

// 4. Reload storm ----------------------------------------------------------------------

constexpr int storm_threads = 64;

// Every caller of the storm is refused, and none is refused before all of them have been:
// each waits inside its refused attempt until all 64 are there, so all read the reload
// sequence before any reload starts. Single flight then means one load.
struct storm_context {
  std::atomic<int> refused{0};
  std::atomic<std::uint64_t> loads{0};
  dualcred::static_provider provider{set_of("app", "old")};
};

struct storm_connector {
  storm_context* ctx;
  result<int> operator()(const credential& c) const {
    if (c.password.reveal() == "new") return 1;
    int n = ctx->refused.fetch_add(1) + 1;
    if (n == storm_threads) ctx->refused.notify_all();
    while (n < storm_threads) {
      ctx->refused.wait(n);
      n = ctx->refused.load();
    }
    return dualcred::fail(dualcred::errc::auth_rejected, "password authentication failed");
  }
};

struct counting_provider {
  storm_context* ctx;
  result<credential_set> load() {
    ctx->loads.fetch_add(1);
    return ctx->provider.load();
  }
};

void storm(benchmark::State& state) {
  storm_context ctx;
  dualcred::options o;
  o.min_reload_interval = std::chrono::milliseconds(0);
  dualcred::dual_credential dc(storm_connector{&ctx}, counting_provider{&ctx}, o);

  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::barrier start(storm_threads + 1);
  std::barrier done(storm_threads + 1);
  std::vector<std::jthread> pool;
  for (int i = 0; i < storm_threads; ++i)
    pool.emplace_back([&] {
      for (;;) {
        start.arrive_and_wait();
        if (stop.load()) return;
        if (!dc.connect()) failures.fetch_add(1);
        done.arrive_and_wait();
      }
    });

  std::uint64_t storm_loads = 0;
  std::uint64_t max_loads = 0;
  for (auto _ : state) {
    state.PauseTiming();
    ctx.provider.set(set_of("app", "old"));
    if (!dc.reload()) state.SkipWithError("setup reload failed");
    ctx.provider.set(set_of("app", "new"));  // what the storm's reload will find
    ctx.refused.store(0);
    const std::uint64_t before = ctx.loads.load();
    state.ResumeTiming();

    start.arrive_and_wait();
    done.arrive_and_wait();

    const std::uint64_t loads = ctx.loads.load() - before;
    storm_loads += loads;
    max_loads = std::max(max_loads, loads);
  }
  stop.store(true);
  start.arrive_and_wait();
  pool.clear();

  const auto storms = static_cast<double>(state.iterations());
  state.counters["loads_per_storm"] = static_cast<double>(storm_loads) / storms;
  state.counters["max_loads_per_storm"] = static_cast<double>(max_loads);
  state.counters["failed_connects"] = failures.load();
}

// 5. Secret storage --------------------------------------------------------------------

// Absent from older trees, which benchmarks/compare builds these same cases against.
#if __has_include(<dualcred/detail/secret_storage.hpp>)
// Both kinds in one run through the storage template that `secret` holds, so the ratio
// compares like with like; a `secret` copy is exactly one storage construction.

template <bool DontDump>
void secret_construct(benchmark::State& state) {
  const std::string_view password = "correct-horse-battery-staple";  // 28 bytes
  timed(state, [&] {
    const dualcred::detail::secret_storage<DontDump> s(password);
    benchmark::DoNotOptimize(s.data());
  });
}

template <bool DontDump>
void secret_copy(benchmark::State& state) {
  const dualcred::detail::secret_storage<DontDump> source("correct-horse-battery-staple");
  timed(state, [&] {
    dualcred::detail::secret_storage<DontDump> copy(std::string_view(source.data(), source.size()));
    benchmark::DoNotOptimize(copy.data());
  });
}

#endif

}  // namespace

BENCHMARK(happy_direct)->Name("happy/direct");
BENCHMARK(happy_connect)->Name("happy/connect");
BENCHMARK(window_direct)->Name("window/direct");
BENCHMARK(window_happy)->Name("window/happy");
BENCHMARK(window_sticky)->Name("window/sticky");
BENCHMARK(window_not_sticky)->Name("window/not_sticky");
BENCHMARK(threads_direct)
    ->Name("threads/direct")
    ->Threads(1)
    ->Threads(2)
    ->Threads(4)
    ->UseRealTime();
BENCHMARK(threads_connect)
    ->Name("threads/connect")
    ->Threads(1)
    ->Threads(2)
    ->Threads(4)
    ->UseRealTime();
BENCHMARK(storm)->Name("storm/64_threads")->UseRealTime()->Unit(benchmark::kMicrosecond);
#if __has_include(<dualcred/detail/secret_storage.hpp>)
BENCHMARK(secret_construct<false>)->Name("secret/construct/heap");
BENCHMARK(secret_construct<true>)->Name("secret/construct/dont_dump");
BENCHMARK(secret_copy<false>)->Name("secret/copy/heap");
BENCHMARK(secret_copy<true>)->Name("secret/copy/dont_dump");
#endif

BENCHMARK_MAIN();
