#pragma once

// The timed loop every benchmark shares, reporting heap allocations per operation beside
// the time. Link support/alloc_count.cpp into a benchmark that uses it.

#include <cstdint>
#include <type_traits>

#include <benchmark/benchmark.h>

#include "alloc_count.hpp"

namespace dualcred::bench {

/// Runs `op` in the timed loop. Reports `allocs_per_op` (this thread's allocations per call,
/// averaged over threads) and items processed. An `op` that returns `bool` or a
/// `dualcred::result` ends the run with an error the first time it fails, so a benchmark
/// never times failures.
template <class Op>
void timed(benchmark::State& state, Op op) {
  const std::uint64_t before = allocations_on_this_thread();
  for (auto _ : state) {
    using returned = decltype(op());
    if constexpr (std::is_void_v<returned>) {
      op();
    } else if constexpr (std::is_same_v<returned, bool>) {
      if (!op()) {
        state.SkipWithError("an operation failed");
        break;
      }
    } else {
      auto r = op();
      if (!r) {
        state.SkipWithError(r.error().detail.c_str());
        break;
      }
      benchmark::DoNotOptimize(r);
    }
  }
  const std::uint64_t allocs = allocations_on_this_thread() - before;
  const auto iterations = static_cast<double>(state.iterations() > 0 ? state.iterations() : 1);
  state.counters["allocs_per_op"] =
      benchmark::Counter(static_cast<double>(allocs) / iterations, benchmark::Counter::kAvgThreads);
  state.SetItemsProcessed(state.iterations());
}

}  // namespace dualcred::bench
