#pragma once

// The periodic refresh off the connect path. With `options::refresh_interval` alone, the
// first connect after the interval loads the provider itself, and waits for it (a network
// round trip with Vault). Either form here takes that load off every connect: while one is
// attached, connect() never loads on interval, only after every credential was refused.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>

#include "dual_credential.hpp"
#include "error.hpp"

namespace dualcred {

/// The refresh on the caller's own timer or executor: `poll()` loads the provider when a
/// refresh is due and returns when the next one is, for the caller to re-arm its timer.
///
/// \requires `DualCredential` is a `dual_credential<...>`. It (or the one it is moved to)
/// outlives the schedule: the schedule holds its shared state, not the object.
///
/// Attached from construction to destruction. A failed load keeps the set in use and counts
/// in `status::reload_failures`, as any reload does. `poll()` may be called from any thread.
///
/// **Example** (Asio)
///
///     dualcred::refresh_schedule schedule(creds, std::chrono::seconds(30));
///     std::function<void()> arm = [&] {
///       timer.expires_at(schedule.poll());
///       timer.async_wait([&](auto ec) { if (!ec) arm(); });
///     };
///     arm();
template <class DualCredential>
class refresh_schedule {
 public:
  using clock = std::chrono::steady_clock;

  /// \requires `every` is positive. The first refresh is due `every` from now.
  refresh_schedule(DualCredential& dc, std::chrono::milliseconds every)
      : st_(dc.s_.get()), every_(every), next_(clock::now() + every) {
    attach(*st_, true);
  }
  /// Every `dc.config().refresh_interval`.
  explicit refresh_schedule(DualCredential& dc)
      : refresh_schedule(dc, dc.config().refresh_interval) {}

  refresh_schedule(const refresh_schedule&) = delete;
  refresh_schedule& operator=(const refresh_schedule&) = delete;
  ~refresh_schedule() { attach(*st_, false); }

  /// Loads the provider if a refresh is due (waiting out a load already under way), and
  /// returns when the next refresh is due.
  clock::time_point poll() {
    const clock::time_point now = clock::now();
    {
      std::lock_guard lock(mutex_);
      if (now < next_) return next_;
      // Measured from the start, as the refresh on connect does: a slow load does not
      // stretch the period.
      next_ = now + every_;
    }
    (void)refresh_now();
    std::lock_guard lock(mutex_);
    return next_;
  }

  /// Loads the provider now, whether due or not. On failure the set in use stays.
  result<void> refresh_now() { return st_->loader.reload(); }

  [[nodiscard]] std::chrono::milliseconds interval() const noexcept { return every_; }

 private:
  // The periodic refresh is the caller's while `attached` (this schedule's lifetime).
  static void attach(typename DualCredential::state& st, bool attached) {
    std::lock_guard lock(st.refreshers_mutex);
    st.refreshers += attached ? 1 : -1;
    const bool refresh = st.refreshers == 0 && st.opts.refresh_interval.count() > 0;
    st.refresh_on_connect.store(refresh, std::memory_order_relaxed);
    st.fast_connect.store(!refresh && st.loader.light_readers(), std::memory_order_relaxed);
  }

  typename DualCredential::state* st_;  // lives behind the dual_credential's pointer
  const std::chrono::milliseconds every_;
  std::mutex mutex_;  // guards next_
  clock::time_point next_;
};

/// A thread of its own that refreshes every `every`, started by the constructor, stopped and
/// joined by the destructor (which waits for a load under way to finish).
///
/// \requires as `refresh_schedule`.
///
/// **Example**
///
///     auto creds = dualcred::make_dual_credential(connect, vault).value();
///     dualcred::background_refresher refresher(creds, std::chrono::seconds(30));
///     // connects never wait for Vault now, except after every credential was refused
template <class DualCredential>
class background_refresher {
 public:
  background_refresher(DualCredential& dc, std::chrono::milliseconds every)
      : schedule_(dc, every), thread_([this](const std::stop_token& stop) { run(stop); }) {}
  explicit background_refresher(DualCredential& dc)
      : background_refresher(dc, dc.config().refresh_interval) {}

  background_refresher(const background_refresher&) = delete;
  background_refresher& operator=(const background_refresher&) = delete;
  // thread_ is the last member, so it stops and joins before the schedule detaches.
  ~background_refresher() = default;

  [[nodiscard]] std::chrono::milliseconds interval() const noexcept { return schedule_.interval(); }

 private:
  void run(const std::stop_token& stop) {
    std::mutex mutex;  // only for the wait: nothing else is shared with the thread
    std::condition_variable_any wake;
    auto next = refresh_schedule<DualCredential>::clock::now() + schedule_.interval();
    for (;;) {
      {
        std::unique_lock lock(mutex);
        // Wakes early only when the destructor asks it to stop.
        (void)wake.wait_until(lock, stop, next, [] { return false; });
        if (stop.stop_requested()) return;
      }
      next = schedule_.poll();
    }
  }

  refresh_schedule<DualCredential> schedule_;
  std::jthread thread_;
};

}  // namespace dualcred
