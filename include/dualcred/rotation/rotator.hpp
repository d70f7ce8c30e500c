#pragma once

// The rotation runbook as code: `rotator` runs its steps over a store and a password admin.
// The steps' order is in steps.hpp, failures in failure.hpp, init in init.hpp; what every
// step shares (store reads and writes, fresh passwords) in detail/rotator_core.hpp.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "../error.hpp"
#include "../secret.hpp"
#include "admin.hpp"
#include "detail/drain_step.hpp"
#include "detail/rotator_core.hpp"
#include "drain.hpp"
#include "due.hpp"
#include "failure.hpp"
#include "fleet.hpp"
#include "init.hpp"
#include "password.hpp"
#include "state.hpp"
#include "steps.hpp"
#include "store.hpp"

namespace dualcred::rotation {

struct rotator_options {
  /// Length of generated passwords (see `generate_password`), when neither `policy` nor the
  /// store names a policy.
  std::size_t password_length = 32;
  /// The password policy of generated passwords. When set, it is also written to the store
  /// (`rotation_keys::policy`) with every change, so later rotators use it; when unset, the
  /// store's policy applies, else letters and digits of `password_length`.
  std::optional<password_policy> policy;
  /// The time, for `DB_ROTATED_AT`, `DB_PHASE_SINCE` and `due`; tests set their own.
  std::function<std::chrono::system_clock::time_point()> clock;
  /// When set, apply waits until every instance reports the store revision that holds NEXT
  /// before the backend switches to it, and decommission (and the end of a rollback) until
  /// every instance reports the revision that holds the new CURRENT before the old password
  /// is removed. An instance reports a revision only once no connect in flight still holds
  /// an older set (`status::oldest_version_in_use`), so a slow login cannot be left trying
  /// passwords the backend just dropped. Without a fleet, instances must re-read the store
  /// (a refresh interval) between the steps; a single role's clients otherwise fall back on
  /// a reload. Any `fleet_check` will do; `fleet::http_check` polls status JSON over HTTP.
  fleet_check instances;
  /// How long apply, decommission and rollback pause (after the fleet check) before they
  /// change the backend. Without a fleet, set it to about the clients' connect time plus
  /// their refresh interval, so connects already in flight finish first. Zero: no pause.
  std::chrono::milliseconds settle{0};
  /// Told one line per step (and while waiting for the fleet). Never holds a secret.
  std::function<void(std::string_view line)> on_progress;
  /// How each step takes the store's rotation lock (`lockable_store`), held from its first
  /// read to its last write: a second rotator waits `lock.wait`, then fails `lock_held`.
  lock_options lock;
  /// What decommission does with sessions still logged in with PREVIOUS, where the admin can
  /// count them (`draining_admin`): report them (the default), wait for them to end
  /// (`condition::sessions_remain` past `timeout`), or end them.
  drain_policy drain;
};

/// The rotation runbook as code, over a `writable_store` and a `password_admin`.
///
/// Each step reads the store, decides from the phase what is left to do, does it, and
/// records it with a check-and-set write, so:
/// - the order cannot go wrong: which step may run in which phase is one table
///   (`rule_for`); promote refuses a NEXT the backend does not accept yet, decommission
///   refuses before verify, apply refuses while the old password is still in use;
/// - every step is idempotent, and a rotation stopped between any two steps is finished by
///   running `run_all()` (or the next step) again;
/// - two rotators racing cannot both promote: the loser gets `condition::store_conflict`;
/// - a failure says where: each step returns a `failure` naming the step, the part of it
///   that failed (`failure_site`), the `condition` and the store or backend.
///
/// The steps, for one backend's keys (`rotation_keys`):
/// 1. `prepare`: a fresh NEXT from the OS CSPRNG, unless the store has one.
/// 2. `apply`: wait for the fleet (if configured) to hold NEXT, then the backend accepts
///    NEXT; phase `applied`. A NEXT whose password is CURRENT's or PREVIOUS's is refused
///    (`condition::out_of_order`, naming the keys): it is no rotation, and decommission would
///    revoke the password CURRENT logs in with.
/// 3. `promote`: CURRENT := NEXT, PREVIOUS := the old CURRENT, NEXT := a fresh one (not yet
///    on the backend); phase `promoted`. Clients keep working throughout: the backend
///    accepts both the old and the new CURRENT, or (single role) clients fall back to NEXT.
/// 4. `verify`: a login with the new CURRENT through the real connector; phase `verified`.
/// 5. `decommission`: wait for the fleet (if configured), then the backend forgets
///    PREVIOUS, then the sessions still logged in with it are drained (`drain`); phase `idle`.
///    PREVIOUS stays in the store for a later rollback. Neither decommission nor rollback revokes a
///    login that CURRENT or NEXT still holds.
///
/// `rollback` puts PREVIOUS back as CURRENT (keeping the rolled-back one as NEXT while the
/// backend is made to accept PREVIOUS, so clients never lose a working login), then, after
/// the fleet wait, revokes the rolled-back credential and drops NEXT and PREVIOUS.
///
/// Not thread-safe: one rotator per thread (several rotators may race on one store).
template <class Store, class Admin>
class rotator : private detail::rotator_core<Store, Admin, rotator_options> {
  static_assert(writable_store<Store>,
                "dualcred: the Store must have read() -> result<stored>, write(const secret_map&, "
                "uint64_t) -> result<uint64_t> and describe()");
  static_assert(password_admin<Admin>,
                "dualcred: the Admin must have next_user, accept, revoke, verify and describe");
  using core = detail::rotator_core<Store, Admin, rotator_options>;
  using core::admin_;
  using core::changed;
  using core::keys_;
  using core::load;
  using core::opts_;
  using core::out_of_order;
  using core::save;
  using core::store_;
  using core::unchanged;

 public:
  rotator(Store store, Admin admin, rotation_keys keys, rotator_options opts = {})
      : core(std::move(store), std::move(admin), std::move(keys), std::move(opts)) {}

  /// The state as the store holds it now.
  [[nodiscard]] step_result<rotation_state> state() {
    DUALCRED_TRY(snap, load(std::nullopt));
    return std::move(snap.st);
  }

  /// 1. A fresh NEXT in the store, unless one is there.
  [[nodiscard]] step_result<step_report> prepare() {
    constexpr step s = step::prepare;
    DUALCRED_TRY(held, this->hold_lock(s));
    (void)held;
    DUALCRED_TRY(snap, load(s));
    rotation_state& st = snap.st;
    if (auto ruled = by_the_rules(s, st)) return std::move(*ruled);
    if (st.next)
      return unchanged(
          s, st, fmt::format("NEXT for '{}' is already in {}", st.next->user, store_.describe()));
    DUALCRED_TRY(next, fresh_next(s, st.current.user, st));
    st.next = std::move(next);
    DUALCRED_TRY(rev, save(s, snap));
    return changed(
        s, st, rev,
        fmt::format("wrote a fresh NEXT for '{}' to {}", st.next->user, store_.describe()));
  }

  /// 2. The backend accepts NEXT.
  [[nodiscard]] step_result<step_report> apply() {
    constexpr step s = step::apply;
    DUALCRED_TRY(held, this->hold_lock(s));
    (void)held;
    DUALCRED_TRY(snap, load(s));
    rotation_state& st = snap.st;
    if (auto ruled = by_the_rules(s, st)) return std::move(*ruled);
    if (!st.next)
      return out_of_order(s, errc::not_found,
                          fmt::format("no NEXT in {}: run prepare first", store_.describe()));
    // An old password as NEXT is no rotation, and where a user holds several passwords,
    // decommission would then revoke the one CURRENT logs in with.
    const secret& fresh = st.next->password;
    const std::string* same_as = st.current.password == fresh ? &keys_.names.current
                                 : st.previous && st.previous->password == fresh ? &keys_.previous
                                                                                 : nullptr;
    if (same_as != nullptr)
      return out_of_order(s, fmt::format("{} equals {}: a rotation needs a new password (remove "
                                         "{} and run prepare)",
                                         keys_.names.next, *same_as, keys_.names.next));
    DUALCRED_TRY(expected_user, admin_step(s, admin_.next_user(st.current.user)));
    if (st.next->user != expected_user)
      return out_of_order(s, errc::invalid_argument,
                          fmt::format("NEXT names '{}' but {} expects '{}'", st.next->user,
                                      admin_.describe(), expected_user));
    // Every instance must hold NEXT before the backend may switch to it (a single role
    // refuses CURRENT from here on).
    if (st.phase != phase::applied) {
      DUALCRED_TRY(wait_fleet(s, snap.raw.revision));
    }
    DUALCRED_TRY(this->renew_lock(s));
    DUALCRED_TRY(admin_step(s, admin_.accept(*st.next)));
    const std::string what =
        fmt::format("{} accepts NEXT for '{}'", admin_.describe(), st.next->user);
    if (st.phase == phase::applied && st.applied_at) return unchanged(s, st, what);
    // Taken after the change and rounded up: every session that logged in with the old
    // password began before it (the drain at decommission counts them for a single role).
    st.applied_at = this->now() + std::chrono::seconds(1);
    const bool first = st.phase != phase::applied;
    st.phase = phase::applied;
    DUALCRED_TRY(rev, save(s, snap));
    return first ? changed(s, st, rev, what) : unchanged(s, st, what);
  }

  /// 3. CURRENT := NEXT, PREVIOUS := old CURRENT, and a fresh NEXT.
  [[nodiscard]] step_result<step_report> promote() {
    constexpr step s = step::promote;
    DUALCRED_TRY(held, this->hold_lock(s));
    (void)held;
    DUALCRED_TRY(snap, load(s));
    rotation_state& st = snap.st;
    if (auto ruled = by_the_rules(s, st)) return std::move(*ruled);
    credential promoted = std::move(*st.next);
    DUALCRED_TRY(next, fresh_next(s, promoted.user, st));
    st.previous = std::move(st.current);
    st.current = std::move(promoted);
    st.next = std::move(next);
    st.phase = phase::promoted;
    st.rotated_at = now();
    DUALCRED_TRY(rev, save(s, snap));
    return changed(s, st, rev,
                   fmt::format("CURRENT is now the old NEXT ('{}'), PREVIOUS ('{}') kept for "
                               "rollback, fresh NEXT for '{}'",
                               st.current.user, st.previous->user, st.next->user));
  }

  /// 4. A login with the new CURRENT (with NEXT while it is only applied).
  [[nodiscard]] step_result<step_report> verify() {
    constexpr step s = step::verify;
    DUALCRED_TRY(held, this->hold_lock(s));
    (void)held;
    DUALCRED_TRY(snap, load(s));
    rotation_state& st = snap.st;
    if (auto ruled = by_the_rules(s, st)) return std::move(*ruled);
    const bool check_next = st.phase == phase::applied;
    const credential& who = check_next ? *st.next : st.current;
    if (auto ok = admin_.verify(who); !ok) return this->failed(s, failure_site::verify, ok.error());
    const std::string what = fmt::format("{} ('{}') logs in to {}", check_next ? "NEXT" : "CURRENT",
                                         who.user, admin_.describe());
    if (st.phase != phase::promoted) return unchanged(s, st, what);
    st.phase = phase::verified;
    DUALCRED_TRY(rev, save(s, snap));
    return changed(s, st, rev, what);
  }

  /// 5. After the fleet has the new CURRENT, the backend forgets PREVIOUS.
  [[nodiscard]] step_result<step_report> decommission() {
    constexpr step s = step::decommission;
    DUALCRED_TRY(held, this->hold_lock(s));
    (void)held;
    DUALCRED_TRY(snap, load(s));
    rotation_state& st = snap.st;
    if (auto ruled = by_the_rules(s, st)) return std::move(*ruled);
    DUALCRED_TRY(wait_fleet(s, snap.raw.revision));
    const std::string* held_by = *st.previous == st.current            ? &keys_.names.current
                                 : st.next && *st.previous == *st.next ? &keys_.names.next
                                                                       : nullptr;
    std::string drained;
    if (held_by == nullptr) {
      DUALCRED_TRY(this->renew_lock(s));
      DUALCRED_TRY(admin_step(s, admin_.revoke(*st.previous)));
      if constexpr (draining_admin<Admin>) {
        DUALCRED_TRY(clause, detail::drain_sessions(static_cast<core&>(*this), s, snap));
        drained = "; " + clause;
      }
    }
    st.phase = phase::idle;
    st.applied_at.reset();
    DUALCRED_TRY(rev, save(s, snap));
    if (held_by != nullptr)
      return changed(s, st, rev,
                     fmt::format("PREVIOUS ('{}') is not revoked: {} holds the same login",
                                 st.previous->user, *held_by));
    return changed(s, st, rev,
                   fmt::format("{} no longer accepts PREVIOUS ('{}'); kept in {} for rollback{}",
                               admin_.describe(), st.previous->user, store_.describe(), drained));
  }

  /// CURRENT back to PREVIOUS, the backend made to accept it, the rolled-back one revoked.
  [[nodiscard]] step_result<step_report> rollback() {
    constexpr step s = step::rollback;
    DUALCRED_TRY(held, this->hold_lock(s));
    (void)held;
    DUALCRED_TRY(snap, load(s));
    rotation_state& st = snap.st;
    if (auto ruled = by_the_rules(s, st)) return std::move(*ruled);
    if (st.phase != phase::rolling_back) {
      if (!st.previous)
        return out_of_order(
            s, errc::not_found,
            fmt::format("no PREVIOUS in {}: nothing to roll back to", store_.describe()));
      // Clients keep the rolled-back credential as NEXT while the backend may still refuse
      // the restored CURRENT (a single role holds one password).
      credential back = std::move(*st.previous);
      st.previous.reset();
      st.next = std::move(st.current);
      st.current = std::move(back);
      st.phase = phase::rolling_back;
      DUALCRED_TRY(save(s, snap));
    }
    // Instances hold the restored CURRENT before a single role stops taking the other one,
    // and are done with the rolled-back one before it is revoked.
    DUALCRED_TRY(wait_fleet(s, snap.raw.revision));
    DUALCRED_TRY(this->renew_lock(s));
    DUALCRED_TRY(admin_step(s, admin_.accept(st.current)));
    if (opts_.settle.count() > 0) std::this_thread::sleep_for(opts_.settle);
    // Never the login the restored CURRENT holds (a store that rolled back to itself).
    if (st.next && *st.next != st.current) {
      DUALCRED_TRY(this->renew_lock(s));
      DUALCRED_TRY(admin_step(s, admin_.revoke(*st.next)));
    }
    st.next.reset();
    st.previous.reset();
    st.applied_at.reset();
    st.phase = phase::idle;
    DUALCRED_TRY(rev, save(s, snap));
    return changed(s, st, rev,
                   fmt::format("CURRENT is PREVIOUS ('{}') again and {} accepts it; the "
                               "rolled-back credential is revoked",
                               st.current.user, admin_.describe()));
  }

  /// One step by name.
  [[nodiscard]] step_result<step_report> run(step s) {
    switch (s) {
      case step::prepare:
        return prepare();
      case step::apply:
        return apply();
      case step::promote:
        return promote();
      case step::verify:
        return verify();
      case step::decommission:
        return decommission();
      case step::rollback:
        return rollback();
    }
    return this->out_of_order(s, "unknown step");
  }

  /// The whole runbook from wherever the store stands: a fresh rotation from `idle`, the
  /// rest of an interrupted one otherwise. A rollback in progress is `invalid_argument`
  /// (finish it with `rollback()`).
  [[nodiscard]] step_result<std::vector<step_report>> run_all() {
    DUALCRED_TRY(held, this->hold_lock(step::prepare));
    (void)held;
    DUALCRED_TRY(snap, load(step::prepare));
    const std::optional<step> from = resume_step(snap.st.phase);
    if (!from)
      return out_of_order(step::prepare, std::string(rule_for(snap.st.phase, step::prepare).why));
    std::vector<step_report> reports;
    for (const step s : runbook) {
      if (s < *from) continue;
      DUALCRED_TRY(report, run(s));
      reports.push_back(std::move(report));
    }
    return reports;
  }

  /// Creates this prefix's keys in the store (see `init_request`): create-only on an empty
  /// or missing store (revision 0), else a check-and-set write that adds the keys and keeps
  /// every other key. Idempotent: keys already there and consistent (CURRENT logs in while
  /// idle; the user and a CURRENT given match) are left as they are, `changed == false`.
  /// Keys that conflict (some present, some missing; a CURRENT the backend refuses; a user
  /// or CURRENT other than the one given) are `condition::keys_conflict`, naming the keys,
  /// and nothing is written. With `generate`, the backend gets CURRENT before the store is
  /// written: a failed write leaves a password no store holds, and the error says so.
  [[nodiscard]] step_result<init_report> init(const init_request& req) {
    DUALCRED_TRY(held, this->hold_lock(std::nullopt));
    (void)held;
    return detail::init_keys(static_cast<core&>(*this), req);
  }

  /// A whole rotation when CURRENT is older than `max_age` (or its age is unknown), the rest
  /// of an interrupted one (a rollback included) whatever its age, otherwise nothing.
  [[nodiscard]] step_result<due_report> due(std::chrono::seconds max_age) {
    DUALCRED_TRY(held, this->hold_lock(step::prepare));
    (void)held;
    return detail::run_due(*this, max_age);
  }

  /// The time by `rotator_options::clock`, whole seconds.
  using core::now;
  /// The policy generated passwords follow: the options', else the store's, else the
  /// default of `password_length`.
  using core::policy_for;

  [[nodiscard]] Store& store() noexcept { return store_; }
  [[nodiscard]] Admin& admin() noexcept { return admin_; }
  [[nodiscard]] const rotation_keys& keys() const noexcept { return keys_; }
  [[nodiscard]] const rotator_options& config() const noexcept { return opts_; }

 private:
  using core::by_the_rules;
  using core::fresh_next;
  using core::progress;

  using core::admin_step;
  using core::wait_fleet;
};

}  // namespace dualcred::rotation
