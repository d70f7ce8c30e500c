#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "../secret.hpp"
#include "asymmetric_fence.hpp"
#include "sharded_counters.hpp"

namespace dualcred::detail {

// A loaded set as the connecting threads see it. `generation` grows whenever the
// credentials themselves change, so a refused connect knows whether a retry can help.
struct published_set {
  credential_set set;
  std::uint64_t generation = 0;

  [[nodiscard]] const credential* get(slot which) const noexcept {
    if (which == slot::current) return &set.current;
    return set.next ? &*set.next : nullptr;
  }
};

// Publishes immutable credential sets to many readers with no lock and no shared write.
//
// Readers announce themselves on their own shard (tagged with the epoch's parity) before
// loading the pointer; a replaced set is retired and freed, its secrets zeroed, only once
// every reader that could hold it has left. This is epoch-based reclamation in its smallest
// form: the writer (always one, under the caller's mutex) advances the epoch only when no
// reader of the previous epoch remains, and frees what was retired two epochs ago.
// A reader that holds a set for long (a slow connect) only delays freeing; it never blocks.
//
// The reader must make its mark visible before it loads the pointer (store-load order).
// Where Linux's membarrier works, the writer buys that order for every reader with one
// system call before it scans the marks, and a reader's mark is a plain store on its own
// cache line: a connect then runs no locked instruction at all. Elsewhere the mark is a
// sequentially consistent read-modify-write.
class published_sets {
 public:
  // A read section held: the reader's mark and the set it pinned. Plain data, so a caller
  // can hand it to an out-of-line function in registers instead of by address.
  struct section {
    shard_ref shard;
    std::atomic<std::uint64_t>* mark;
    std::uint64_t mark_before;  // the mark's value before this section raised it
    const published_set* set;
  };

  class read_guard {
   public:
    explicit read_guard(section s) noexcept : s_(s) {}
    read_guard(const read_guard&) = delete;
    read_guard& operator=(const read_guard&) = delete;
    ~read_guard() { release(); }
    [[nodiscard]] const published_set* get() const noexcept { return s_.set; }
    // Leaves the read section early; get() is null afterwards.
    void release() noexcept {
      if (s_.mark == nullptr) return;
      s_.shard.leave(*s_.mark, s_.mark_before);
      s_.mark = nullptr;
      s_.set = nullptr;
    }
    // Ends the section held (if any) and holds `s` instead.
    void assign(section s) noexcept {
      release();
      s_ = s;
    }
    // Gives the section to a new guard (made from the result); this one then holds nothing.
    [[nodiscard]] section hand_over() noexcept {
      const section out = s_;
      s_.mark = nullptr;
      s_.set = nullptr;
      return out;
    }

   private:
    section s_;
  };

  explicit published_sets(shard_array& shards) noexcept
      : shards_(shards), light_readers_(asymmetric_fence::available()) {}
  published_sets(const published_sets&) = delete;
  published_sets& operator=(const published_sets&) = delete;
  ~published_sets() { delete current_.load(std::memory_order_relaxed); }

  // The current set (may be null before the first load), pinned until the guard dies.
  [[nodiscard]] read_guard read(const shard_ref& shard) noexcept {
    const std::uint64_t e = epoch_.load(std::memory_order_seq_cst);
    auto* mark = &shard.get().readers[e & 1];
    std::uint64_t before = 0;
    if (light_readers_) {
      before = shard.add(*mark);
      asymmetric_fence::light();  // the writer's heavy fence orders the mark before the load
    } else {
      before = mark->fetch_add(1, std::memory_order_seq_cst);
    }
    return read_guard(section{shard, mark, before, current_.load(std::memory_order_seq_cst)});
  }

  // Whether read_owned() may be used: light readers work in this process.
  [[nodiscard]] bool light_readers() const noexcept { return light_readers_; }

  // read() for a thread on a shard of its own, with light readers: the same steps with
  // nothing left to decide. The caller ends it with leave_owned(), or hands it to a
  // read_guard.
  [[nodiscard]] section read_owned(const shard_ref& shard) noexcept {
    const std::uint64_t e = epoch_.load(std::memory_order_seq_cst);
    auto* mark = &shard.get().readers[e & 1];
    const std::uint64_t before = mark->load(std::memory_order_relaxed);
    mark->store(before + 1, std::memory_order_relaxed);
    asymmetric_fence::light();  // the writer's heavy fence orders the mark before the load
    return section{shard, mark, before, current_.load(std::memory_order_seq_cst)};
  }
  static void leave_owned(const section& s) noexcept {
    s.mark->store(s.mark_before, std::memory_order_release);
  }

  // Writer side: call with the writer's mutex held.
  [[nodiscard]] const published_set* current_for_writer() const noexcept {
    return current_.load(std::memory_order_relaxed);
  }

  // Writer side: makes `next` current and retires the previous set.
  void publish(std::unique_ptr<const published_set> next) {
    retired_.reserve(retired_.size() + 1);  // so the push below cannot throw after the swap
    const published_set* old = current_.exchange(next.release(), std::memory_order_seq_cst);
    if (old != nullptr)
      retired_.push_back(
          {std::unique_ptr<const published_set>(old), epoch_.load(std::memory_order_relaxed)});
    reclaim();
  }

  // Writer side: frees what no reader can hold any more. Cheap; call it at every reload.
  void reclaim() {
    if (retired_.empty()) return;
    for (int step = 0; step < 2; ++step) {
      // Light readers' marks are ordered before their loads only by this fence; without
      // it, nothing may be freed this time.
      if (light_readers_ && !asymmetric_fence::heavy()) return;
      const std::uint64_t e = epoch_.load(std::memory_order_relaxed);
      std::uint64_t previous_readers = 0;
      for (auto& s : shards_)
        previous_readers += s.readers[(e + 1) & 1].load(std::memory_order_seq_cst);
      if (previous_readers != 0) break;
      epoch_.store(e + 1, std::memory_order_seq_cst);
    }
    const std::uint64_t e = epoch_.load(std::memory_order_relaxed);
    std::erase_if(retired_, [e](const retired& r) { return r.epoch + 2 <= e; });
  }

  [[nodiscard]] std::size_t retired_count() const noexcept { return retired_.size(); }

  // Writer side: the oldest set a reader may still hold (retired sets go in publish order),
  // else the current one.
  [[nodiscard]] const published_set* oldest_for_writer() const noexcept {
    return retired_.empty() ? current_for_writer() : retired_.front().set.get();
  }

 private:
  struct retired {
    std::unique_ptr<const published_set> set;
    std::uint64_t epoch;
  };

  shard_array& shards_;
  std::atomic<const published_set*> current_{nullptr};
  std::atomic<std::uint64_t> epoch_{0};
  std::vector<retired> retired_;  // writer only
  const bool light_readers_;
};

}  // namespace dualcred::detail
