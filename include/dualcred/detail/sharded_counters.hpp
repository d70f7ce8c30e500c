#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#ifndef DUALCRED_SHARDS
/// How many cache-line shards spread per-connect writes across threads (a power of two).
#define DUALCRED_SHARDS 16
#endif

namespace dualcred::detail {

inline constexpr std::size_t shard_count = DUALCRED_SHARDS;
static_assert((shard_count & (shard_count - 1)) == 0, "DUALCRED_SHARDS must be a power of two");

// Each thread takes a shard once, round robin, so threads rarely write the same cache line:
// a write to a line another core also writes costs ten times more than one to a line of
// its own (see STYLE.md's measurements).
inline std::size_t this_thread_shard() noexcept {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine & (shard_count - 1);
}

// Per-connect state of one thread group: the reader marks of the set publisher and the
// connect counters, all on the thread's own cache line.
struct alignas(64) shard {
  std::atomic<std::uint64_t> readers[2] = {0, 0};
  std::atomic<std::uint64_t> via_current{0};
  std::atomic<std::uint64_t> via_next{0};
  std::atomic<std::uint64_t> fallbacks{0};
  std::atomic<std::uint64_t> all_rejected{0};
};

using shard_array = std::array<shard, shard_count>;

// A relaxed add: counters are statistics, read with no ordering promise.
inline void bump(std::atomic<std::uint64_t>& c) noexcept { c.fetch_add(1, std::memory_order_relaxed); }

template <class Member>
std::uint64_t sum(const shard_array& shards, Member member) noexcept {
  std::uint64_t total = 0;
  for (const auto& s : shards) total += (s.*member).load(std::memory_order_relaxed);
  return total;
}

}  // namespace dualcred::detail
