// One round of the fleet check over 10, 100 and 1000 simulated instances on loopback
// (testing/fleet_instances.py: one python3 process), answering at once or after 10 ms (a
// network round trip and the instance's own work),
// asked at once through curl's multi interface (fleet/concurrent) against the same
// instances asked one after another through curl_transport (fleet/sequential, the
// baseline). The instances are a Python stand-in: each answer costs the server more than a
// real service's would, which favours neither side.

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>
#include <dualcred/http/curl.hpp>
#include <dualcred/http/curl_multi.hpp>
#include <dualcred/rotation/fleet/http_check.hpp>

#include <dualcred_testing/fleet_servers.hpp>

namespace {

namespace fleet = dualcred::rotation::fleet;

// One fleet per size and delay, started on first use and kept for the run.
const dualcred::testing::fleet_instances& fleet_of(std::size_t n, int delay_ms) {
  static std::map<std::pair<std::size_t, int>, std::unique_ptr<dualcred::testing::fleet_instances>>
      fleets;
  auto& f = fleets[{n, delay_ms}];
  if (!f) {
    std::vector<dualcred::testing::instance_spec> specs;
    for (std::size_t i = 0; i < n; ++i)
      specs.push_back({"127.0." + std::to_string(1 + i / 200) + "." + std::to_string(2 + i % 200),
                       0, "5", delay_ms});
    f = std::make_unique<dualcred::testing::fleet_instances>(std::move(specs));
  }
  return *f;
}

void run_round(benchmark::State& state, bool concurrent) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto& instances = fleet_of(n, static_cast<int>(state.range(1)));
  fleet::http_check check;
  for (std::size_t i = 0; i < n; ++i) check.endpoints.push_back(instances.health_url(i));
  if (concurrent)
    check.fetch_all = dualcred::curl_multi_transport{};
  else
    check.fetch = fleet::http_fetch(dualcred::curl_transport{});
  for (auto _ : state) {
    auto r =
        fleet::http_rounds(check)(5, std::chrono::steady_clock::now() + std::chrono::seconds(60));
    std::size_t ready = 0;
    if (r)
      for (const auto& v : r.value().instances) ready += v.ready() ? 1 : 0;
    if (ready != n) state.SkipWithError("not every instance was ready");
    benchmark::DoNotOptimize(ready);
  }
  state.counters["instances"] = static_cast<double>(n);
  state.counters["delay_ms"] = static_cast<double>(state.range(1));
}

void concurrent_round(benchmark::State& state) {
  run_round(state, true);
}
void sequential_round(benchmark::State& state) {
  run_round(state, false);
}

}  // namespace

BENCHMARK(concurrent_round)
    ->Name("fleet/concurrent")
    ->ArgsProduct({{10, 100, 1000}, {0, 10}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(sequential_round)
    ->Name("fleet/sequential")
    ->ArgsProduct({{10, 100, 1000}, {0, 10}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
