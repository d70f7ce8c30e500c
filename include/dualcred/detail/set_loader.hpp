#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "../error.hpp"
#include "../options.hpp"
#include "../policy.hpp"
#include "../secret.hpp"
#include "error_log.hpp"
#include "published_sets.hpp"
#include "sharded_counters.hpp"

namespace dualcred::detail {

// Reads the provider and publishes what it loaded, for one dual_credential: the explicit
// reload(), the single-flight reload after refusals and the periodic refresh. Connects read
// the published set through `read()`, which takes no lock.
//
// LOCK ORDER. Locks are taken only in this order (outer first), never the other way:
//
//   refreshing_      a flag used as a try-lock: one periodic refresh at a time. Never waited
//                    for; a connect that finds it taken goes on with the cached set.
//     load_mutex_    the load bookkeeping (loading_, loaded_once_, last_load_at_,
//                    last_load_error_). Released while the provider's load() runs; the
//                    `loading_` flag claims the provider meanwhile, so loads never overlap.
//       sets_writer_ publish() and reclaim() of the published sets. A leaf.
//       error_log    its own mutex (see error_log.hpp). A leaf.
//
// - Provider::load() runs with no mutex held (a periodic refresh keeps its flag meanwhile).
// - Policy::on_event runs with load_mutex_ held (so loads' events arrive in order) and never
//   while sets_writer_ or the error log is held: an observer may take a snapshot(), which
//   needs only those two (`published()` and error_log::read), but must not call reload(),
//   which would wait for the load that is calling it.
// - A connect takes none of these on its happy path; a refused one waits on load_mutex_.
//   The connect path's own events (refused, fell_back, all_refused) run with no lock held.
template <class Provider, class Policy>
class set_loader {
 public:
  // What status() reports of the published sets; copied out from under sets_writer_.
  struct published_view {
    std::string version;         // empty before the first load
    std::string oldest_version;  // of the oldest set a connect may still hold
    std::uint64_t generation = 0;
  };

  set_loader(Provider provider, Policy& policy, error_log& errors, shard_array& shards,
             const options& o)
      : sets_(shards),
        provider_(std::move(provider)),
        policy_(policy),
        errors_(errors),
        min_reload_interval_(o.min_reload_interval),
        refresh_interval_(o.refresh_interval) {}
  set_loader(const set_loader&) = delete;
  set_loader& operator=(const set_loader&) = delete;

  [[nodiscard]] Provider& provider() noexcept { return provider_; }

  // The current set (null before the first load), pinned until the guard dies. No lock.
  [[nodiscard]] published_sets::read_guard read(const shard_ref& shard) noexcept {
    return sets_.read(shard);
  }

  // read() for a thread on a shard of its own; only while light_readers() says so.
  [[nodiscard]] published_sets::section read_owned(const shard_ref& shard) noexcept {
    return sets_.read_owned(shard);
  }
  [[nodiscard]] bool light_readers() const noexcept { return sets_.light_readers(); }

  // Loads begun so far: a connect notes it before its first try, for shared_reload().
  [[nodiscard]] std::uint64_t loads_started() const noexcept {
    return loads_started_.load(std::memory_order_acquire);
  }
  [[nodiscard]] std::uint64_t reloads() const noexcept {
    return reloads_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t reload_failures() const noexcept {
    return reload_failures_.load(std::memory_order_relaxed);
  }

  // Reads the provider now, after any load under way.
  result<void> reload() {
    std::unique_lock lock(load_mutex_);
    idle_.wait(lock, [&] { return !loading_; });
    return load_locked(lock);
  }

  // The single-flight reload after refusals. A caller shares the outcome of any load that
  // started after its connect began (`started` loads had begun by then). A load already under
  // way at that point may have read the store before the change that made the backend refuse
  // (a promotion the periodic refresh half-saw), so the caller waits it out and loads again,
  // at least `min_reload_interval` after the last load. Returns the load's error, if any.
  std::optional<error> shared_reload(std::uint64_t started) {
    std::unique_lock lock(load_mutex_);
    const auto shareable = [&] {
      return loads_finished_.load(std::memory_order_relaxed) > started;
    };
    idle_.wait(lock, [&] { return !loading_ || shareable(); });
    if (shareable()) return last_load_error_;
    if (loaded_once_) {
      loading_ = true;  // claim the next load now, so later callers queue behind it
      const auto ready_at = last_load_at_ + min_reload_interval_;
      lock.unlock();
      std::this_thread::sleep_until(ready_at);
      lock.lock();
      loading_ = false;
    }
    auto r = load_locked(lock);
    if (r) return std::nullopt;
    return std::move(r).error();
  }

  // Whether refresh_if_due() would load now (unless another thread is refreshing): lets an
  // async connect move the refresh off its loop only when there is one to run.
  [[nodiscard]] bool refresh_due() const noexcept {
    return now_ns() >= next_refresh_ns_.load(std::memory_order_relaxed);
  }

  // The periodic refresh: one thread loads, every other goes on with the cached set.
  void refresh_if_due() {
    const std::int64_t now = now_ns();
    if (now < next_refresh_ns_.load(std::memory_order_relaxed)) return;
    if (refreshing_.exchange(true, std::memory_order_acquire)) return;
    {
      std::unique_lock lock(load_mutex_);
      if (!loading_) (void)load_locked(lock);
    }
    next_refresh_ns_.store(
        now + std::chrono::duration_cast<std::chrono::nanoseconds>(refresh_interval_).count(),
        std::memory_order_relaxed);
    refreshing_.store(false, std::memory_order_release);
  }

  // Frees what finished connects left behind (as the writer), so the oldest set reported is
  // one a connect may really still hold. Takes only sets_writer_: callable from an observer.
  [[nodiscard]] published_view published() {
    published_view out;
    std::lock_guard lock(sets_writer_);
    sets_.reclaim();
    if (const auto* p = sets_.current_for_writer()) {
      out.version = p->set.version;
      out.generation = p->generation;
    }
    if (const auto* p = sets_.oldest_for_writer()) out.oldest_version = p->set.version;
    return out;
  }

 private:
  static std::int64_t now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  // Loads with load_mutex_ held on entry and exit, releasing it while the provider works.
  result<void> load_locked(std::unique_lock<std::mutex>& lock) {
    loading_ = true;
    loads_started_.fetch_add(1, std::memory_order_relaxed);
    lock.unlock();
    auto loaded = provider_.load();
    lock.lock();
    loading_ = false;
    loaded_once_ = true;
    last_load_at_ = std::chrono::steady_clock::now();
    result<void> out = boost::outcome_v2::success();
    if (loaded) {
      last_load_error_.reset();
      reloads_.fetch_add(1, std::memory_order_relaxed);
      publish_if_changed(std::move(loaded).value());
    } else {
      last_load_error_ = loaded.error();
      reload_failures_.fetch_add(1, std::memory_order_relaxed);
      errors_.note(loaded.error().code);
      policy_.on_event({event_kind::reload_failed,
                        slot::current,
                        loaded.error().code,
                        loaded.error().detail,
                        {}});
      out = std::move(loaded).as_failure();
    }
    loads_finished_.fetch_add(1, std::memory_order_release);
    idle_.notify_all();
    return out;
  }

  // With load_mutex_ held, so the current set cannot change under it.
  void publish_if_changed(credential_set loaded) {
    const published_set* cur = sets_.current_for_writer();
    const bool same_version = cur && !loaded.version.empty() && loaded.version == cur->set.version;
    const bool same_creds = cur && (same_version || cur->set.same_credentials(loaded));
    std::string_view version;
    if (cur && same_creds && loaded.version == cur->set.version) {
      std::lock_guard sets_lock(sets_writer_);
      sets_.reclaim();
      version = cur->set.version;
    } else {
      auto next = std::make_unique<published_set>();
      next->generation = cur ? cur->generation + (same_creds ? 0 : 1) : 1;
      next->set = std::move(loaded);
      version = next->set.version;  // lives as long as the set: until a later load replaces it
      std::lock_guard sets_lock(sets_writer_);
      sets_.publish(std::move(next));
    }
    policy_.on_event({event_kind::reloaded, slot::current, {}, {}, version});
  }

  // Read by every connect: kept together, first.
  published_sets sets_;
  std::atomic<std::uint64_t> loads_started_{0};
  // Loads run one at a time, so load k finished <=> loads_finished_ >= k. Good or bad.
  std::atomic<std::uint64_t> loads_finished_{0};
  std::atomic<std::uint64_t> reloads_{0};
  std::atomic<std::uint64_t> reload_failures_{0};
  std::atomic<std::int64_t> next_refresh_ns_{0};
  std::atomic<bool> refreshing_{false};

  Provider provider_;
  Policy& policy_;
  error_log& errors_;
  const std::chrono::milliseconds min_reload_interval_;
  const std::chrono::milliseconds refresh_interval_;

  std::mutex sets_writer_;
  std::mutex load_mutex_;
  std::condition_variable idle_;
  bool loading_ = false;
  bool loaded_once_ = false;
  std::chrono::steady_clock::time_point last_load_at_{};
  std::optional<error> last_load_error_;
};

}  // namespace dualcred::detail
