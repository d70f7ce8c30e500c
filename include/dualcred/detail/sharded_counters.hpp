#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#ifndef DUALCRED_SHARDS
/// How many threads get a cache-line shard of their own in each dual_credential; threads
/// beyond that share one more shard, correctly but more slowly. A power of two.
#define DUALCRED_SHARDS 64
#endif

namespace dualcred::detail {

inline constexpr std::size_t exclusive_shards = DUALCRED_SHARDS;
static_assert((exclusive_shards & (exclusive_shards - 1)) == 0,
              "DUALCRED_SHARDS must be a power of two");

// Hands each live thread a distinct index below `exclusive_shards` while there are enough,
// and takes it back when the thread ends, so thread pools that churn keep their own shards.
class thread_index_registry {
 public:
  static constexpr std::size_t shared = exclusive_shards;  // the index of the shared shard

  static std::size_t acquire() {
    auto& r = instance();
    std::lock_guard lock(r.mutex_);
    if (!r.free_.empty()) {
      const std::size_t i = r.free_.back();
      r.free_.pop_back();
      return i;
    }
    return r.next_ < exclusive_shards ? r.next_++ : shared;
  }
  static void release(std::size_t i) {
    if (i == shared) return;
    auto& r = instance();
    std::lock_guard lock(r.mutex_);
    r.free_.push_back(i);
  }

 private:
  static thread_index_registry& instance() {
    static thread_index_registry r;
    return r;
  }
  std::mutex mutex_;
  std::vector<std::size_t> free_;
  std::size_t next_ = 0;
};

// This thread's index plus one; zero until the thread first connects. Constant-initialized,
// so reading it is one thread-local load with no initialization guard: the guard's byte and
// the lazily constructed holder were two more loads on every connect.
inline constinit thread_local std::size_t thread_index_plus_one = 0;

// The slow half of this_thread_index(): takes an index and arranges its return at thread exit.
[[gnu::noinline]] inline std::size_t acquire_thread_index() {
  struct holder {
    std::size_t index = thread_index_registry::acquire();
    ~holder() {
      thread_index_registry::release(index);
      // A connect from a later thread_local destructor takes the shared shard: an index
      // given back may already be another thread's.
      thread_index_plus_one = thread_index_registry::shared + 1;
    }
  };
  thread_local const holder h;
  thread_index_plus_one = h.index + 1;
  return h.index;
}

inline std::size_t this_thread_index() noexcept {
  const std::size_t i = thread_index_plus_one;
  if (i != 0) [[likely]]
    return i - 1;
  return acquire_thread_index();
}

// Per-connect state of one thread: the reader marks of the set publisher and the connect
// counters, on a cache line no other thread writes.
struct alignas(64) shard {
  std::atomic<std::uint64_t> readers[2] = {0, 0};
  std::atomic<std::uint64_t> via_current{0};
  std::atomic<std::uint64_t> via_next{0};
  std::atomic<std::uint64_t> fallbacks{0};
  std::atomic<std::uint64_t> all_rejected{0};
};

// `exclusive_shards` owned shards plus the shared one.
using shard_array = std::array<shard, exclusive_shards + 1>;

// A thread's handle on its shard. On an owned shard only this thread writes, so a counter
// step is a plain load and store: no locked instruction, which is what a connect would
// otherwise spend most of its overhead on. The shared shard needs real read-modify-writes.
class shard_ref {
 public:
  explicit shard_ref(shard_array& shards) noexcept
      : index_(this_thread_index()), shard_(&shards[index_]) {}
  shard_ref(shard_array& shards, std::size_t index) noexcept
      : index_(index), shard_(&shards[index]) {}

  [[nodiscard]] shard& get() const noexcept { return *shard_; }

  // Adds `n`; returns the value before.
  std::uint64_t add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) const noexcept {
    if (index_ != thread_index_registry::shared) {
      const std::uint64_t before = c.load(std::memory_order_relaxed);
      c.store(before + n, std::memory_order_relaxed);
      return before;
    }
    return c.fetch_add(n, std::memory_order_relaxed);
  }
  // Leaving a read section: release, so the section's reads happen before the writer sees
  // the mark drop and frees what they read. `before` is what the mark held when the section
  // began. On an owned shard it is what the mark must hold again (sections of one thread
  // nest, so they end in reverse order): storing it back, rather than loading and
  // decrementing, keeps the mark's next load from waiting on this one.
  void leave(std::atomic<std::uint64_t>& mark, std::uint64_t before) const noexcept {
    if (index_ != thread_index_registry::shared)
      mark.store(before, std::memory_order_release);
    else
      mark.fetch_sub(1, std::memory_order_release);
  }

 private:
  std::size_t index_;
  shard* shard_;
};

template <class Member>
std::uint64_t sum(const shard_array& shards, Member member) noexcept {
  std::uint64_t total = 0;
  for (const auto& s : shards) total += (s.*member).load(std::memory_order_relaxed);
  return total;
}

}  // namespace dualcred::detail
