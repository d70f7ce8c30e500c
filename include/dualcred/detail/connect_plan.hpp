#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "../error.hpp"
#include "../policy.hpp"
#include "../secret.hpp"
#include "published_sets.hpp"
#include "refusals.hpp"
#include "sharded_counters.hpp"
#include "tag_record.hpp"

namespace dualcred::detail {

// `preferred`'s value for `used` having worked with the set of this generation.
[[nodiscard]] constexpr std::uint64_t preference_tag(std::uint64_t generation, slot used) noexcept {
  return generation * 2 + (used == slot::next ? 1 : 0);
}

// NEXT only while it is the slot that last worked for this very set (generation 0: none).
[[nodiscard]] inline slot preferred_slot(const std::atomic<std::uint64_t>& preferred,
                                         std::uint64_t generation) noexcept {
  return preferred.load(std::memory_order_relaxed) == preference_tag(generation, slot::next)
             ? slot::next
             : slot::current;
}

// The slot a set is tried with first.
[[nodiscard]] inline slot first_slot(bool sticky, const std::atomic<std::uint64_t>& preferred,
                                     const published_set& p) noexcept {
  return (sticky && p.set.next) ? preferred_slot(preferred, p.generation) : slot::current;
}

// What a connect does next, as connect_plan decides it.
enum class next_step {
  attempt,  // log in with plan.credential_to_try(), then call attempted()
  reload,   // end the read section, run the shared reload (loads_started() was `started()`
            // at the connect's start), then call reloaded()
  read,     // read the published set (a new section) and call read()
  done,     // the outcome is in the result the caller passed last
};

// The rules of one connect, in one place for the blocking connect() and the async one: the
// preferred slot and its generation tag, fallback only on a refusal, the single-flight
// reload after every slot was refused, newer sets tried after a slow login, and what each
// step counts. The caller does the I/O each step names, in its own way (a blocking call or
// an asynchronous operation), and holds the read section that pins the set being tried.
//
// `State` is dual_credential's state: policy, opts, preferred, errors, shards.
template <class State, class Connection, class Record = no_record>
class connect_plan {
 public:
  using result_type = result<Connection>;

  connect_plan(State& st, const shard_ref& shard, std::uint64_t started,
               Record record = {}) noexcept
      : st_(st), shard_(shard), started_(started), record_(record) {}

  // Starts with the set just read (null: nothing loaded yet).
  next_step begin(const published_set* p) {
    if (p == nullptr) return next_step::reload;
    start_set(p, first_slot(st_.opts.sticky, st_.preferred, *p));
    return next_step::attempt;
  }

  // Takes over after connect()'s in-line first attempt with `first` on `p` (null: nothing
  // was loaded and `r` holds no outcome of interest).
  next_step after_first(const published_set* p, slot first, result_type& r) {
    if (p == nullptr) return next_step::reload;
    start_set(p, first);
    return attempted(r);
  }

  // The credential the next attempt uses; valid while the caller's read section lasts.
  [[nodiscard]] const dualcred::credential& credential_to_try() const noexcept {
    return *set_->get(which_);
  }
  [[nodiscard]] const shard_ref& shard() const noexcept { return shard_; }
  [[nodiscard]] std::uint64_t started() const noexcept { return started_; }

  // Whether a two-phase connector keeps its connection open after this failure: only across
  // a refusal, when another credential may follow on it.
  [[nodiscard]] bool keeps_open_after(const error& e) { return st_.policy.should_fall_back(e); }

  // The attempt with credential_to_try() ended with `r`: counts a success, or falls back to the
  // other slot on a refusal. At `done`, `r` is the outcome.
  next_step attempted(result_type& r) {
    if (r) {
      shard_.add(which_ == slot::current ? shard_.get().via_current : shard_.get().via_next);
      if (which_ != first_) fell_back();
      record_(*set_, which_);
      return next_step::done;
    }
    if (!st_.policy.should_fall_back(r.error())) {
      st_.errors.note(r.error().code);
      return next_step::done;
    }
    st_.policy.on_event(
        {event_kind::refused, which_, r.error().code, r.error().detail, set_->set.version});
    st_.errors.note(r.error().code);
    why_.add(which_, std::move(r).error());
    if (which_ == first_ && set_->get(other(first_)) != nullptr) {
      which_ = other(first_);
      return next_step::attempt;
    }
    set_ = nullptr;  // every slot refused: the caller's section may end
    return reloaded_ ? next_step::read : next_step::reload;
  }

  // The shared reload ended (`load_error`: its failure, if any).
  next_step reloaded(std::optional<error> load_error) {
    load_error_ = std::move(load_error);
    reloaded_ = true;
    return next_step::read;
  }

  // After the reload: the set published now. A slow login can outlast a whole rotation step,
  // so a set that was new when the retry began may be stale by its end; a set published
  // meanwhile (by the periodic refresh or another caller's reload) gets its own try, without
  // another provider load, up to `max_sets_retried`. At `done`, `r` is the outcome.
  next_step read(const published_set* p, result_type& r) {
    if (p == nullptr) {
      // Nothing was ever loaded: the provider's own error is the most useful answer.
      r = boost::outcome_v2::failure(
          load_error_.value_or(error(errc::provider_unavailable, "no credential set loaded")));
      return next_step::done;
    }
    if (p->generation == tried_ || retried_ == max_sets_retried) {
      r = boost::outcome_v2::failure(all_rejected());
      return next_step::done;
    }
    ++retried_;
    why_ = refusals{};
    start_set(p, first_slot(st_.opts.sticky, st_.preferred, *p));
    return next_step::attempt;
  }

  // Newer sets a refused connect tries before it gives up; bounds a connect against a store
  // that changes faster than the backend answers.
  static constexpr int max_sets_retried = 3;

 private:
  void start_set(const published_set* p, slot first) noexcept {
    set_ = p;
    tried_ = p->generation;
    first_ = which_ = first;
  }

  void fell_back() {
    shard_.add(shard_.get().fallbacks);
    // Only write the shared preference when it changes, so the window costs one write.
    const std::uint64_t tagged = preference_tag(set_->generation, which_);
    if (st_.opts.sticky && st_.preferred.load(std::memory_order_relaxed) != tagged)
      st_.preferred.store(tagged, std::memory_order_relaxed);
    st_.policy.on_event({event_kind::fell_back, which_, {}, {}, set_->set.version});
  }

  error all_rejected() {
    shard_.add(shard_.get().all_rejected);
    std::string detail = why_.describe(load_error_);
    st_.policy.on_event(
        {event_kind::all_refused, slot::current, make_error_code(errc::all_rejected), detail, {}});
    error e(errc::all_rejected, std::move(detail));
    const std::uint64_t connects =
        sum(st_.shards, &shard::via_current) + sum(st_.shards, &shard::via_next);
    st_.errors.note_all_rejected(e.code, connects);
    return e;
  }

  State& st_;
  const shard_ref shard_;
  const std::uint64_t started_;
  Record record_;
  const published_set* set_ = nullptr;  // the set being tried, pinned by the caller
  std::uint64_t tried_ = 0;             // its generation (0: none yet)
  int retried_ = 0;
  bool reloaded_ = false;
  slot first_ = slot::current;
  slot which_ = slot::current;
  refusals why_;
  std::optional<error> load_error_;
};

}  // namespace dualcred::detail
