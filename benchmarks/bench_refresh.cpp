// Connect latency while the provider is refreshed every 100 ms by a store that takes 50 ms
// per load (Vault across regions), two threads connecting through a connector that takes
// about 100 us:
//
//   off          no periodic refresh (the baseline)
//   on_connect   options::refresh_interval: the connect that finds a refresh due loads
//   background   a background_refresher (refresh_interval also set: the refresher turns it
//                off)
//
// Percentiles of each connect's wall time, modes interleaved over rounds; ratios against
// `off` of the same run. Then storms of 64 refused connects with a refresher attached, each
// of which must load the provider once.
//
//   bench_refresh [seconds per mode and round, default 3] [rounds, default 2]

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <dualcred/dual_credential.hpp>
#include <dualcred/provider/static.hpp>
#include <dualcred/refresher.hpp>

#include "support/sets.hpp"

namespace {

using dualcred::credential;
using dualcred::credential_set;
using dualcred::result;
using dualcred::bench::set_of;
using clock_type = std::chrono::steady_clock;
using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr milliseconds load_time{50};
constexpr milliseconds refresh_every{100};
constexpr microseconds connect_time{100};
constexpr int connecting_threads = 2;

// A store that takes `load_time` per load (a sleep: the caller waits, the CPU does not).
struct slow_provider {
  std::shared_ptr<std::atomic<int>> loads = std::make_shared<std::atomic<int>>(0);
  result<credential_set> load() const {
    std::this_thread::sleep_for(load_time);
    loads->fetch_add(1);
    return set_of("app", "pw", "pw2");
  }
};

// About 100 us of a login, spent waiting as a network login does (a sleep: on a shared
// machine a spinning connector would measure the scheduler's time slices instead).
struct slow_connector {
  result<int> operator()(const credential& c) const {
    std::this_thread::sleep_for(connect_time);
    return static_cast<int>(c.user.size());
  }
};

enum class mode { off, on_connect, background };
const char* name(mode m) {
  switch (m) {
    case mode::off:
      return "off";
    case mode::on_connect:
      return "on_connect";
    case mode::background:
      return "background";
  }
  return "?";
}

// Every connect's latency in ns, from all threads, for one mode over `seconds`.
std::vector<std::int64_t> run(mode m, double seconds, int& loads) {
  dualcred::options o;
  if (m != mode::off) o.refresh_interval = refresh_every;
  slow_provider provider;
  auto made = dualcred::make_dual_credential(slow_connector{}, provider, o);
  if (!made) {
    std::fprintf(stderr, "setup failed: %s\n", made.error().detail.c_str());
    std::exit(1);
  }
  auto dc = std::move(made).value();
  const int loads_before = provider.loads->load();
  std::optional<dualcred::background_refresher<decltype(dc)>> refresher;
  if (m == mode::background) refresher.emplace(dc, refresh_every);

  std::vector<std::vector<std::int64_t>> per_thread(connecting_threads);
  const auto end = clock_type::now() + std::chrono::duration<double>(seconds);
  {
    std::vector<std::jthread> pool;
    for (int t = 0; t < connecting_threads; ++t)
      pool.emplace_back([&, t] {
        auto& out = per_thread[t];
        out.reserve(static_cast<std::size_t>(seconds * 12000));
        while (clock_type::now() < end) {
          const auto start = clock_type::now();
          auto r = dc.connect();
          const auto took = clock_type::now() - start;
          if (!r) {
            std::fprintf(stderr, "a connect failed: %s\n", r.error().detail.c_str());
            std::exit(1);
          }
          out.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(took).count());
        }
      });
  }
  refresher.reset();
  loads = provider.loads->load() - loads_before;
  std::vector<std::int64_t> all;
  for (auto& v : per_thread) all.insert(all.end(), v.begin(), v.end());
  return all;
}

double percentile(std::vector<std::int64_t>& v, double p) {
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1000.0;  // us
}

struct row {
  double p50, p99, p999, p9999, max;
  std::size_t connects, over_10ms;
  int loads;
};

row summarize(std::vector<std::int64_t> v, int loads) {
  row r{};
  r.connects = v.size();
  r.over_10ms = static_cast<std::size_t>(
      std::count_if(v.begin(), v.end(), [](std::int64_t ns) { return ns > 10'000'000; }));
  r.p50 = percentile(v, 0.50);
  r.p99 = percentile(v, 0.99);
  r.p999 = percentile(v, 0.999);
  r.p9999 = percentile(v, 0.9999);
  r.max = static_cast<double>(*std::max_element(v.begin(), v.end())) / 1000.0;
  r.loads = loads;
  return r;
}

// 64 threads refused at once with a refresher attached: the shared reload is one load.
struct storm_connector {
  std::shared_ptr<std::latch> all_tried;
  result<int> operator()(const credential& c) const {
    if (c.password.reveal() == "new") return 1;
    all_tried->arrive_and_wait();
    return dualcred::fail(dualcred::errc::auth_rejected, "password authentication failed");
  }
};
struct switching_provider {
  std::shared_ptr<std::atomic<int>> loads = std::make_shared<std::atomic<int>>(0);
  result<credential_set> load() const {
    // The first load finds the old password, every later one the new.
    return loads->fetch_add(1) == 0 ? set_of("app", "old") : set_of("app", "new");
  }
};

int storm_loads() {
  constexpr int threads = 64;
  dualcred::options o;
  o.min_reload_interval = milliseconds(0);
  switching_provider provider;
  auto dc = dualcred::make_dual_credential(storm_connector{std::make_shared<std::latch>(threads)},
                                           provider, o)
                .value();
  dualcred::background_refresher refresher(dc, std::chrono::hours(1));
  const int before = provider.loads->load();
  std::atomic<int> failed{0};
  {
    std::vector<std::jthread> pool;
    for (int i = 0; i < threads; ++i)
      pool.emplace_back([&] {
        if (!dc.connect()) failed.fetch_add(1);
      });
  }
  if (failed.load() != 0) std::fprintf(stderr, "%d storm connects failed\n", failed.load());
  return provider.loads->load() - before;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 2;
  const mode modes[] = {mode::off, mode::on_connect, mode::background};
  std::vector<std::int64_t> samples[3];
  int loads[3] = {0, 0, 0};
  for (int round = 0; round < rounds; ++round) {
    for (int i = 0; i < 3; ++i) {
      // Alternate the order, so a drift in the machine's speed favours no mode.
      const int k = round % 2 == 0 ? i : 2 - i;
      int n = 0;
      auto v = run(modes[k], seconds, n);
      samples[k].insert(samples[k].end(), v.begin(), v.end());
      loads[k] += n;
    }
  }
  std::printf(
      "provider load %lld ms, refresh every %lld ms, connector %lld us, %d threads, "
      "%.1f s x %d rounds per mode\n\n",
      static_cast<long long>(load_time.count()), static_cast<long long>(refresh_every.count()),
      static_cast<long long>(connect_time.count()), connecting_threads, seconds, rounds);
  std::printf(
      "| refresh | connects | loads | p50 us | p99 us | p99.9 us | p99.99 us | max us | "
      "connects over 10 ms | p50 / off | p99 / off | p99.9 / off |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  row rows[3];
  for (int k = 0; k < 3; ++k) rows[k] = summarize(samples[k], loads[k]);
  for (int k = 0; k < 3; ++k) {
    const row& r = rows[k];
    std::printf(
        "| %s | %zu | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %zu | %.2fx | %.2fx | %.2fx |\n",
        name(modes[k]), r.connects, r.loads, r.p50, r.p99, r.p999, r.p9999, r.max, r.over_10ms,
        r.p50 / rows[0].p50, r.p99 / rows[0].p99, r.p999 / rows[0].p999);
  }
  std::printf("\nstorms of 64 refused connects, a background_refresher attached: loads per storm:");
  for (int i = 0; i < 5; ++i) std::printf(" %d", storm_loads());
  std::printf("\n");
  return 0;
}
