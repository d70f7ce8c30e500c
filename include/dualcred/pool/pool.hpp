#pragma once

#include <cassert>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "../credential_tag.hpp"
#include "../error.hpp"
#include "counts.hpp"

namespace dualcred::pool {

/// How a `connection_pool` bounds and ages its connections.
struct options {
  std::size_t max_size = 16;  ///< open connections at most: lent, idle, or being opened
  std::chrono::milliseconds borrow_timeout{5000};  ///< how long `borrow()` waits for one
  std::chrono::milliseconds max_lifetime{0};       ///< closed when older; 0: no limit
  std::chrono::milliseconds max_idle{0};           ///< closed when idle longer; 0: no limit
  bool validate_on_borrow = false;                 ///< run the validator before lending
};

/// The validator of a pool that has none: every connection is good.
struct no_validation {
  template <class Connection>
  bool operator()(Connection&) const noexcept {
    return true;
  }
};

/// A bounded, thread-safe pool of connections opened through a `dual_credential`, each
/// kept with the `credential_tag` of the login that opened it.
///
/// A connection whose credential has left the published set ("retired") is closed when it
/// comes back and when a borrow would pick it, never while it is lent; `sweep()` closes the
/// idle ones now, so a health or metrics handler that calls it (or a timer) drains the pool
/// of an old password without waiting for traffic. `stats()` counts connections by the slot
/// that holds their credential now, which is what a fleet check waits on before the old
/// password is decommissioned: no connection open (idle or lent) on a retired credential.
///
/// `Credentials` is a `dual_credential` (anything with `connect(credential_tag&)`,
/// `slot_of(const credential_tag&)`, `refresh_if_due()` and `connection_type`); it and the pool
/// must outlive every lease. `Validate` is called as `bool(connection_type&)` on a borrowed
/// connection, outside the pool's lock, when `options::validate_on_borrow` is set.
template <class Credentials, class Validate = no_validation>
class connection_pool {
 public:
  using connection_type = typename Credentials::connection_type;

  /// A borrowed connection; goes back to the pool when destroyed or released. A released or
  /// moved-from lease holds nothing: only destroy or assign it.
  class lease {
   public:
    lease(lease&& o) noexcept
        : pool_(std::exchange(o.pool_, nullptr)), index_(o.index_), broken_(o.broken_) {}
    lease& operator=(lease&& o) noexcept {
      if (this != &o) {
        release();
        pool_ = std::exchange(o.pool_, nullptr);
        index_ = o.index_;
        broken_ = o.broken_;
      }
      return *this;
    }
    ~lease() { release(); }

    connection_type& get() const noexcept { return *pool_->slots_[index_].conn; }
    connection_type& operator*() const noexcept { return get(); }
    connection_type* operator->() const noexcept { return &get(); }
    /// The login that opened this connection.
    [[nodiscard]] const credential_tag& tag() const noexcept { return pool_->slots_[index_].tag; }
    /// The connection failed in use: it is closed when returned instead of being kept.
    void discard() noexcept { broken_ = true; }
    /// Returns the connection now.
    void release() noexcept {
      if (pool_ != nullptr) std::exchange(pool_, nullptr)->give_back(index_, broken_);
    }

   private:
    friend class connection_pool;
    lease(connection_pool* p, std::size_t i) noexcept : pool_(p), index_(i) {}
    connection_pool* pool_;
    std::size_t index_;
    bool broken_ = false;
  };

  connection_pool(Credentials& creds, options o = {}, Validate v = {})
      : creds_(creds), opts_(o), validate_(std::move(v)), slots_(o.max_size) {
    idle_.reserve(o.max_size);  // so returning a connection never allocates
  }
  connection_pool(const connection_pool&) = delete;
  connection_pool& operator=(const connection_pool&) = delete;
  ~connection_pool() { assert(lent_ == 0 && "dualcred::pool: a lease outlived its pool"); }

  /// An idle connection that is still good, else a new one through the fallback while
  /// fewer than `max_size` are open, else waits up to `borrow_timeout` for one.
  /// Fails with the connect's error, or `errc::timeout`.
  [[nodiscard]] result<lease> borrow() {
    if (slots_.empty())
      return boost::outcome_v2::failure(
          error(errc::invalid_argument, "dualcred::pool: options::max_size is 0"));
    const auto deadline = clock::now() + opts_.borrow_timeout;
    for (;;) {
      refresh();
      std::optional<connection_type> doomed;
      std::size_t i = 0;
      pick p;
      {
        std::unique_lock lock(m_);
        p = take(lock, deadline, i, doomed);
      }
      doomed.reset();  // a close may wait on the network: never under the lock
      if (p == pick::closed_one) continue;
      if (p == pick::timeout)
        return boost::outcome_v2::failure(
            error(errc::timeout, fmt::format("no pooled connection free within {} ms (all {} lent)",
                                             opts_.borrow_timeout.count(), opts_.max_size)));
      if (p == pick::open) return open_into(i);
      if (opts_.validate_on_borrow && !validate_(*slots_[i].conn)) {
        give_back(i, true);
        continue;
      }
      return lease(this, i);
    }
  }

  /// Closes the idle connections that are retired or past their lifetime or idle time now;
  /// returns how many.
  std::size_t sweep() {
    refresh();
    std::vector<connection_type> doomed;
    {
      std::lock_guard lock(m_);
      const auto now = clock_now();
      doomed.reserve(idle_.size());
      std::erase_if(idle_, [&](std::size_t i) {
        if (keep(slots_[i], now)) return false;
        doomed.push_back(std::move(*slots_[i].conn));
        close_slot(i);
        return true;
      });
      if (!doomed.empty()) freed_.notify_all();
    }
    return doomed.size();  // closed here, outside the lock
  }

  /// Open connections by the slot holding their credential now, and totals so far.
  [[nodiscard]] counts stats() {
    refresh();
    std::lock_guard lock(m_);
    counts out = totals_;
    for (const entry& e : slots_) {
      if (e.st == state::opening) ++out.opening;
      if (e.st != state::idle && e.st != state::lent) continue;
      const std::optional<slot> held = creds_.slot_of(e.tag);
      credential_counts& c = !held ? out.retired : *held == slot::current ? out.current : out.next;
      ++(e.st == state::idle ? c.idle : c.lent);
    }
    return out;
  }

  [[nodiscard]] const options& config() const noexcept { return opts_; }

 private:
  using clock = std::chrono::steady_clock;
  enum class state : unsigned char { empty, opening, idle, lent };
  enum class pick { reuse, open, closed_one, timeout };
  struct entry {
    std::optional<connection_type> conn;
    credential_tag tag;
    clock::time_point opened{}, last_used{};
    state st = state::empty;
  };

  // Re-reads the provider when due, outside the lock: the pool connects seldom, so without
  // this its credentials would only age when a connect happened to run.
  void refresh() { creds_.refresh_if_due(); }

  // The time only when an age is limited: a clock read is a good part of a borrow's cost.
  clock::time_point clock_now() const noexcept {
    return opts_.max_lifetime.count() > 0 || opts_.max_idle.count() > 0 ? clock::now()
                                                                        : clock::time_point{};
  }

  // Retired, too old or idle too long: closed rather than lent or kept.
  bool keep(const entry& e, clock::time_point now) {
    if (opts_.max_lifetime.count() > 0 && now - e.opened >= opts_.max_lifetime) {
      ++totals_.closed_expired;
      return false;
    }
    if (opts_.max_idle.count() > 0 && now - e.last_used >= opts_.max_idle) {
      ++totals_.closed_expired;
      return false;
    }
    if (!creds_.slot_of(e.tag)) {
      ++totals_.closed_retired;
      return false;
    }
    return true;
  }

  void close_slot(std::size_t i) noexcept {
    slots_[i].conn.reset();
    slots_[i].st = state::empty;
  }

  // With the lock: an idle connection to lend (or one closed on the way), a free slot to
  // open into, or the deadline.
  pick take(std::unique_lock<std::mutex>& lock, clock::time_point deadline, std::size_t& i,
            std::optional<connection_type>& doomed) {
    for (;;) {
      if (!idle_.empty()) {
        i = idle_.back();  // the most recently returned: warm, and the rest can age out
        idle_.pop_back();
        if (!keep(slots_[i], clock_now())) {
          doomed.emplace(std::move(*slots_[i].conn));
          close_slot(i);
          return pick::closed_one;
        }
        slots_[i].st = state::lent;
        ++lent_;
        return pick::reuse;
      }
      for (i = 0; i < slots_.size(); ++i)
        if (slots_[i].st == state::empty) {
          slots_[i].st = state::opening;
          return pick::open;
        }
      if (freed_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
          !has_empty()) {
        ++totals_.borrow_timeouts;
        return pick::timeout;
      }
    }
  }

  bool has_empty() const noexcept {
    for (const entry& e : slots_)
      if (e.st == state::empty) return true;
    return false;
  }

  // Outside the lock: the slot is ours (opening) until it is filled or freed.
  result<lease> open_into(std::size_t i) {
    credential_tag tag;
    auto conn = creds_.connect(tag);
    std::lock_guard lock(m_);
    entry& e = slots_[i];
    if (!conn) {
      e.st = state::empty;
      ++totals_.connect_failures;
      freed_.notify_one();
      return std::move(conn).as_failure();
    }
    e.conn.emplace(std::move(conn).value());
    e.tag = tag;
    e.opened = e.last_used = clock::now();
    e.st = state::lent;
    ++lent_;
    ++totals_.opened;
    return lease(this, i);
  }

  void give_back(std::size_t i, bool broken) noexcept {
    std::optional<connection_type> doomed;
    {
      std::lock_guard lock(m_);
      entry& e = slots_[i];
      --lent_;
      const auto now = clock_now();
      if (broken) ++totals_.closed_invalid;
      if (!broken && keep(e, now)) {
        e.st = state::idle;
        e.last_used = now;
        idle_.push_back(i);  // cannot allocate: reserved for every slot
      } else {
        doomed.emplace(std::move(*e.conn));
        close_slot(i);
      }
      freed_.notify_one();
    }
  }

  Credentials& creds_;
  const options opts_;
  Validate validate_;
  std::mutex m_;
  std::condition_variable freed_;
  std::vector<entry> slots_;       // fixed size: a lease's index stays valid
  std::vector<std::size_t> idle_;  // indexes of idle slots, most recently returned last
  std::size_t lent_ = 0;
  counts totals_;  // the counters only; stats() adds the per-credential counts
};

}  // namespace dualcred::pool
