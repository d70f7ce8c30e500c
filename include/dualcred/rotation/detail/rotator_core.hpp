#pragma once

// What every step of `rotator` shares: reading and writing the store with check-and-set,
// fresh passwords, the phase table's verdict, and failures that say where.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "../../error.hpp"
#include "../../secret.hpp"
#include "../failure.hpp"
#include "../fleet.hpp"
#include "../lock.hpp"
#include "../password.hpp"
#include "../state.hpp"
#include "../steps.hpp"
#include "../store.hpp"

namespace dualcred::rotation::detail {

/// The rotator's state and the helpers its steps share. `Options` is `rotator_options`.
template <class Store, class Admin, class Options>
struct rotator_core {
  struct snapshot {
    stored raw;
    rotation_state st;
  };
  using failed_type = boost::outcome_v2::failure_type<failure>;

  Store store_;
  Admin admin_;
  rotation_keys keys_;
  Options opts_;
  rotation_lock lock_;  // after store_: given back before the store goes

  rotator_core(Store store, Admin admin, rotation_keys keys, Options opts)
      : store_(std::move(store)),
        admin_(std::move(admin)),
        keys_(std::move(keys)),
        opts_(std::move(opts)) {}

  [[nodiscard]] timestamp now() const {
    return std::chrono::floor<std::chrono::seconds>(opts_.clock ? opts_.clock()
                                                                : std::chrono::system_clock::now());
  }

  [[nodiscard]] password_policy policy_for(const rotation_state& st) const {
    if (opts_.policy) return *opts_.policy;
    if (st.policy) return *st.policy;
    return password_policy::defaults(opts_.password_length);
  }

  // The failure of step `s` at `site`, its condition read from the cause unless given. Outside
  // a step (`s` none) the detail starts with `outside`: "init", or "state" for a state read.
  failed_type failed(std::optional<step> s, failure_site site, const error& e,
                     std::optional<condition> what = std::nullopt,
                     std::string_view outside = "init") {
    const std::string_view label = s ? to_string(*s) : outside;
    std::string node;
    if (site == failure_site::store)
      node = store_.describe();
    else if (site == failure_site::backend || site == failure_site::verify ||
             site == failure_site::drain)
      node = admin_.describe();
    return boost::outcome_v2::failure(failure(error(e.code, fmt::format("{}: {}", label, e.detail)),
                                              s, site, what.value_or(classify(site, e)),
                                              std::move(node)));
  }

  failed_type out_of_order(std::optional<step> s, errc code, std::string why) {
    return failed(s, failure_site::order, error(code, std::move(why)));
  }
  failed_type out_of_order(step s, std::string why) {
    return out_of_order(s, errc::invalid_argument, std::move(why));
  }

  // Gives the rotation lock back when the step that took it ends.
  class lock_hold {
   public:
    explicit lock_hold(rotation_lock* l = nullptr) noexcept : lock_(l) {}
    lock_hold(lock_hold&& o) noexcept : lock_(std::exchange(o.lock_, nullptr)) {}
    lock_hold& operator=(lock_hold&&) = delete;
    ~lock_hold() {
      if (lock_ != nullptr) lock_->release();
    }

   private:
    rotation_lock* lock_;
  };

  // The store's rotation lock for the rest of the calling step, from its first read to its
  // last write; nothing when an outer step (run_all, due) holds it, or the store has none.
  step_result<lock_hold> hold_lock(std::optional<step> s) {
    if constexpr (lockable_store<Store>) {
      if (lock_.held()) return lock_hold();
      auto taken = store_.lock_rotation(opts_.lock);
      if (!taken) return failed(s, failure_site::store, taken.error());
      lock_ = std::move(taken).value();
      return lock_hold(&lock_);
    } else {
      return lock_hold();
    }
  }

  // Right before a backend change: the lock is still this rotator's (a lease is renewed), so
  // a rotator whose lock lapsed and was taken stops instead of racing the new holder.
  step_result<void> renew_lock(std::optional<step> s) {
    auto r = lock_.renew();
    if (!r) return failed(s, failure_site::store, r.error());
    return boost::outcome_v2::success();
  }

  template <class T>
  step_result<T> admin_step(std::optional<step> s, result<T> r) {
    if (!r) return failed(s, failure_site::backend, r.error());
    return std::move(r).value();
  }
  step_result<void> admin_step(std::optional<step> s, result<void> r) {
    if (!r) return failed(s, failure_site::backend, r.error());
    return boost::outcome_v2::success();
  }

  step_result<secret> generated(std::optional<step> s, const rotation_state& st) {
    auto pw = generate_password(policy_for(st));
    if (!pw) return failed(s, failure_site::store, pw.error());
    return std::move(pw).value();
  }

  step_result<credential> fresh_next(std::optional<step> s, const std::string& current_user,
                                     const rotation_state& st) {
    DUALCRED_TRY(user, admin_step(s, admin_.next_user(current_user)));
    DUALCRED_TRY(pw, generated(s, st));
    return credential{std::move(user), std::move(pw)};
  }

  // The store's state for step `s`, refused when the phase lacks the keys it needs.
  step_result<snapshot> load(std::optional<step> s, std::string_view outside = "state") {
    auto raw = store_.read();
    if (!raw) return failed(s, failure_site::store, raw.error(), std::nullopt, outside);
    const std::string source = store_.describe();
    auto st = parse_state(raw.value().data, keys_, source);
    if (!st) return failed(s, failure_site::store, st.error(), std::nullopt, outside);
    st.value().revision = raw.value().revision;
    const rotation_state& v = st.value();
    const char* missing = nullptr;
    if (v.phase != phase::idle && !v.next) missing = keys_.names.next.c_str();
    if ((v.phase == phase::promoted || v.phase == phase::verified) && !v.previous)
      missing = keys_.previous.c_str();
    if (missing != nullptr)
      return failed(s, failure_site::store,
                    error(errc::malformed, fmt::format("{} says {} but {} is not set", source,
                                                       to_string(v.phase), missing)),
                    std::nullopt, outside);
    return snapshot{std::move(raw).value(), std::move(st).value()};
  }

  // Writes `snap.st` over the values read, guarded by the revision read.
  step_result<std::uint64_t> save(step s, snapshot& snap) {
    stamp(snap);
    secret_map data = snap.raw.data;
    store_state(data, keys_, snap.st);
    auto rev = store_.write(data, snap.raw.revision);
    if (!rev) return failed(s, failure_site::store, rev.error());
    snap.raw.data = std::move(data);
    snap.raw.revision = rev.value();
    snap.st.revision = rev.value();
    return rev.value();
  }

  // The phase's start when it changes, and the policy given, on every write.
  void stamp(snapshot& snap) {
    const auto old = parse_state(snap.raw.data, keys_, {});
    if (!old || old.value().phase != snap.st.phase || !snap.st.phase_since)
      snap.st.phase_since = now();
    if (opts_.policy) snap.st.policy = opts_.policy;
  }

  void progress(step s, std::string_view line) {
    if (opts_.on_progress) opts_.on_progress(fmt::format("{}: {}", to_string(s), line));
  }

  // What the phase table says of step `s` in the phase read: nothing when the step is to run,
  // else its report (already done) or its refusal (out of order).
  std::optional<step_result<step_report>> by_the_rules(step s, const rotation_state& st) {
    const step_rule& rule = rule_for(st.phase, s);
    switch (rule.what) {
      case verdict::run:
        return std::nullopt;
      case verdict::done:
        return unchanged(s, st, std::string(rule.why));
      case verdict::refuse:
        return out_of_order(s, std::string(rule.why));
    }
    return std::nullopt;
  }

  step_report unchanged(step s, const rotation_state& st, std::string what) {
    progress(s, fmt::format("already done: {}", what));
    return step_report{s, false, st.phase, st.revision, std::move(what)};
  }
  step_report changed(step s, const rotation_state& st, std::uint64_t rev, std::string what) {
    progress(s, what);
    return step_report{s, true, st.phase, rev, std::move(what)};
  }

  // Waits for the instances to hold `revision`, then for `settle`.
  step_result<void> wait_fleet(step s, std::uint64_t revision) {
    DUALCRED_TRY(wait_instances(s, revision));
    if (opts_.settle.count() > 0) {
      progress(s, fmt::format("settling for {} ms", opts_.settle.count()));
      std::this_thread::sleep_for(opts_.settle);
    }
    return boost::outcome_v2::success();
  }

  step_result<void> wait_instances(step s, std::uint64_t revision) {
    if (!opts_.instances) return boost::outcome_v2::success();
    progress(s, fmt::format("waiting for the instances to report version {} or later", revision));
    std::size_t last_ready = static_cast<std::size_t>(-1);
    const auto on_wait = [&](std::size_t ready, std::size_t total) {
      if (ready != last_ready)
        progress(s,
                 fmt::format("{} of {} instances at version {} or later", ready, total, revision));
      last_ready = ready;
    };
    auto r = opts_.instances(fleet_request{revision, on_wait});
    if (!r) return this->failed(s, failure_site::fleet, r.error());
    return boost::outcome_v2::success();
  }
};

}  // namespace dualcred::rotation::detail
