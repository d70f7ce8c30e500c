#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
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
#include "fleet.hpp"
#include "lock.hpp"
#include "password.hpp"
#include "state.hpp"
#include "store.hpp"

namespace dualcred::rotation {

/// The runbook's steps, in order, and the way back.
enum class step { prepare, apply, promote, verify, decommission, rollback };

[[nodiscard]] constexpr std::string_view to_string(step s) noexcept {
  switch (s) {
    case step::prepare:
      return "prepare";
    case step::apply:
      return "apply";
    case step::promote:
      return "promote";
    case step::verify:
      return "verify";
    case step::decommission:
      return "decommission";
    case step::rollback:
      return "rollback";
  }
  return "prepare";
}

[[nodiscard]] inline std::optional<step> parse_step(std::string_view text) noexcept {
  for (const step s : {step::prepare, step::apply, step::promote, step::verify, step::decommission,
                       step::rollback})
    if (to_string(s) == text) return s;
  return std::nullopt;
}

/// Which part of a step failed, for callers that react differently (the `rotate` command
/// maps each to its own exit code).
enum class failure_site {
  none,
  order,    ///< the step does not fit the phase, or the store lacks NEXT / PREVIOUS
  store,    ///< reading or writing the store (a CAS conflict is `errc::conflict`)
  backend,  ///< the password admin (`accept`, `revoke`, `next_user`)
  verify,   ///< the login with the new credential
  fleet,    ///< instances did not report the promoted revision in time
};

[[nodiscard]] constexpr std::string_view to_string(failure_site s) noexcept {
  switch (s) {
    case failure_site::none:
      return "none";
    case failure_site::order:
      return "order";
    case failure_site::store:
      return "store";
    case failure_site::backend:
      return "backend";
    case failure_site::verify:
      return "verify";
    case failure_site::fleet:
      return "fleet";
  }
  return "none";
}

/// What a step does in a phase (`step_rule`).
enum class verdict : unsigned char {
  run,     ///< the step does its work (which may find nothing left to change)
  done,    ///< nothing to do: the rotation is past this step
  refuse,  ///< out of order: `failure_site::order`, `errc::invalid_argument`
};

/// One cell of the phase/step rules. `why` is the summary of a `done` step and the error
/// detail of a refused one.
struct step_rule {
  verdict what = verdict::run;
  std::string_view why;
};

namespace detail {
// One phase's row: the rule for each step (in `step` order), and where `run_all` picks the
// runbook up (none: `run_all` is refused with the `prepare` rule's reason).
struct phase_rules {
  step_rule steps[6];
  std::optional<step> resume;
};

inline constexpr step_rule go{};
inline constexpr step_rule in_rollback{verdict::refuse,
                                       "a rollback is in progress: run rollback to finish it"};
inline constexpr step_rule not_applied{
    verdict::refuse, "the backend does not accept NEXT yet: run prepare and apply first"};
inline constexpr step_rule not_decommissioned{
    verdict::refuse,
    "the last promote is not decommissioned yet: run verify and decommission first"};
inline constexpr step_rule already_promoted{verdict::done, "CURRENT is already promoted"};
inline constexpr step_rule not_promoted{
    verdict::refuse, "nothing is promoted: a new NEXT is applied, run promote and verify"};
inline constexpr step_rule not_verified{verdict::refuse,
                                        "the new CURRENT is not verified yet: run verify first"};
inline constexpr step_rule nothing_to_decommission{verdict::done, "nothing to decommission"};
inline constexpr step_rule promote_instead{
    verdict::refuse,
    "a new NEXT is applied to the backend: promote it instead, or roll back once it is "
    "promoted"};

// The runbook's order, in one place: one row per phase (in `phase` order), one column per
// step. Prepare and verify run in every phase but rolling_back: prepare keeps an existing
// NEXT, verify logs in with NEXT while it is only applied and with CURRENT otherwise.
// clang-format off
inline constexpr phase_rules phase_table[] = {
    //                   prepare      apply               promote           verify       decommission             rollback          run_all from
    /* idle */         {{go,          go,                 not_applied,      go,          nothing_to_decommission, go},             step::prepare},
    /* applied */      {{go,          go,                 go,               go,          not_promoted,            promote_instead}, step::prepare},
    /* promoted */     {{go,          not_decommissioned, already_promoted, go,          not_verified,            go},             step::verify},
    /* verified */     {{go,          not_decommissioned, already_promoted, go,          go,                      go},             step::decommission},
    /* rolling_back */ {{in_rollback, in_rollback,        in_rollback,      in_rollback, in_rollback,             go},             std::nullopt},
};
// clang-format on
}  // namespace detail

/// The rule for step `s` in phase `p`.
[[nodiscard]] constexpr const step_rule& rule_for(phase p, step s) noexcept {
  return detail::phase_table[static_cast<std::size_t>(p)].steps[static_cast<std::size_t>(s)];
}

/// Where `run_all` picks the runbook up in phase `p` (what `status` calls the next step);
/// none while a rollback is in progress.
[[nodiscard]] constexpr std::optional<step> resume_step(phase p) noexcept {
  return detail::phase_table[static_cast<std::size_t>(p)].resume;
}

static_assert(std::size(detail::phase_table) == static_cast<std::size_t>(phase::rolling_back) + 1,
              "one row per phase, in phase order");
static_assert(rule_for(phase::rolling_back, step::rollback).what == verdict::run &&
                  rule_for(phase::idle, step::decommission).what == verdict::done,
              "rows and columns follow the enums' order");
static_assert(!resume_step(phase::rolling_back) &&
                  rule_for(phase::rolling_back, step::prepare).what == verdict::refuse,
              "where run_all cannot resume, the prepare rule says why");

/// The runbook's forward steps, in order: `run_all` runs them from `resume_step`.
inline constexpr step runbook[] = {step::prepare, step::apply, step::promote, step::verify,
                                   step::decommission};

/// What one step did. Nothing in it is secret.
struct step_report {
  rotation::step step = step::prepare;
  bool changed = false;                 ///< false: it was already done (a resumed or repeated run)
  rotation::phase phase = phase::idle;  ///< the phase afterwards
  std::uint64_t revision = 0;           ///< the store revision afterwards
  std::string summary;                  ///< one line for humans
};

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
  /// read to its last write: a second rotator waits `lock.wait`, then fails `errc::locked`.
  lock_options lock;
};

/// What `rotator::init` provisions with.
struct init_request {
  /// The login role or ACL user; empty: the store's user key, else the keys' default user.
  std::string user;
  /// The password the backend holds now for `user`: checked with a login, then stored.
  std::optional<secret> current;
  /// Without `current`: make CURRENT and apply it to the backend (then log in with it).
  bool generate = false;
  /// With `generate`: creates the user (and NEXT's, when the admin alternates two) before
  /// its password is set; called for each, it must succeed when the user exists.
  std::function<result<void>(const std::string& user)> create_user;
};

struct init_report {
  bool changed = false;  ///< false: consistent keys were there already
  std::uint64_t revision = 0;
  std::string summary;
};

/// What `rotator::due` did.
enum class due_action { nothing, rotated, finished };

[[nodiscard]] constexpr std::string_view to_string(due_action a) noexcept {
  switch (a) {
    case due_action::nothing:
      return "nothing";
    case due_action::rotated:
      return "rotated";
    case due_action::finished:
      return "finished";
  }
  return "nothing";
}

struct due_report {
  due_action what = due_action::nothing;
  std::vector<step_report> steps;
  std::string summary;
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
/// - two rotators racing cannot both promote: the loser gets `errc::conflict`.
///
/// The steps, for one backend's keys (`rotation_keys`):
/// 1. `prepare`: a fresh NEXT from the OS CSPRNG, unless the store has one.
/// 2. `apply`: wait for the fleet (if configured) to hold NEXT, then the backend accepts
///    NEXT; phase `applied`. A NEXT whose password is CURRENT's or PREVIOUS's is refused
///    (`failure_site::order`, naming the keys): it is no rotation, and decommission would
///    revoke the password CURRENT logs in with.
/// 3. `promote`: CURRENT := NEXT, PREVIOUS := the old CURRENT, NEXT := a fresh one (not yet
///    on the backend); phase `promoted`. Clients keep working throughout: the backend
///    accepts both the old and the new CURRENT, or (single role) clients fall back to NEXT.
/// 4. `verify`: a login with the new CURRENT through the real connector; phase `verified`.
/// 5. `decommission`: wait for the fleet (if configured), then the backend forgets
///    PREVIOUS; phase `idle`. PREVIOUS stays in the store for a later rollback. Neither
///    decommission nor rollback revokes a login that CURRENT or NEXT still holds.
///
/// `rollback` puts PREVIOUS back as CURRENT (keeping the rolled-back one as NEXT while the
/// backend is made to accept PREVIOUS, so clients never lose a working login), then, after
/// the fleet wait, revokes the rolled-back credential and drops NEXT and PREVIOUS.
///
/// Not thread-safe: one rotator per thread (several rotators may race on one store).
template <class Store, class Admin>
class rotator {
  static_assert(writable_store<Store>,
                "dualcred: the Store must have read() -> result<stored>, write(const secret_map&, "
                "uint64_t) -> result<uint64_t> and describe()");
  static_assert(password_admin<Admin>,
                "dualcred: the Admin must have next_user, accept, revoke, verify and describe");

 public:
  rotator(Store store, Admin admin, rotation_keys keys, rotator_options opts = {})
      : store_(std::move(store)),
        admin_(std::move(admin)),
        keys_(std::move(keys)),
        opts_(std::move(opts)) {}

  /// The state as the store holds it now.
  [[nodiscard]] result<rotation_state> state() {
    DUALCRED_TRY(snap, load(step::prepare));
    return std::move(snap.st);
  }

  /// 1. A fresh NEXT in the store, unless one is there.
  [[nodiscard]] result<step_report> prepare() {
    constexpr step s = step::prepare;
    DUALCRED_TRY(held, hold_lock(s));
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
  [[nodiscard]] result<step_report> apply() {
    constexpr step s = step::apply;
    DUALCRED_TRY(held, hold_lock(s));
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
    DUALCRED_TRY(renew_lock(s));
    DUALCRED_TRY(admin_step(s, admin_.accept(*st.next)));
    const std::string what =
        fmt::format("{} accepts NEXT for '{}'", admin_.describe(), st.next->user);
    if (st.phase == phase::applied) return unchanged(s, st, what);
    st.phase = phase::applied;
    DUALCRED_TRY(rev, save(s, snap));
    return changed(s, st, rev, what);
  }

  /// 3. CURRENT := NEXT, PREVIOUS := old CURRENT, and a fresh NEXT.
  [[nodiscard]] result<step_report> promote() {
    constexpr step s = step::promote;
    DUALCRED_TRY(held, hold_lock(s));
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
  [[nodiscard]] result<step_report> verify() {
    constexpr step s = step::verify;
    DUALCRED_TRY(held, hold_lock(s));
    (void)held;
    DUALCRED_TRY(snap, load(s));
    rotation_state& st = snap.st;
    if (auto ruled = by_the_rules(s, st)) return std::move(*ruled);
    const bool check_next = st.phase == phase::applied;
    const credential& who = check_next ? *st.next : st.current;
    if (auto ok = admin_.verify(who); !ok) return failed(s, failure_site::verify, ok.error());
    const std::string what = fmt::format("{} ('{}') logs in to {}", check_next ? "NEXT" : "CURRENT",
                                         who.user, admin_.describe());
    if (st.phase != phase::promoted) return unchanged(s, st, what);
    st.phase = phase::verified;
    DUALCRED_TRY(rev, save(s, snap));
    return changed(s, st, rev, what);
  }

  /// 5. After the fleet has the new CURRENT, the backend forgets PREVIOUS.
  [[nodiscard]] result<step_report> decommission() {
    constexpr step s = step::decommission;
    DUALCRED_TRY(held, hold_lock(s));
    (void)held;
    DUALCRED_TRY(snap, load(s));
    rotation_state& st = snap.st;
    if (auto ruled = by_the_rules(s, st)) return std::move(*ruled);
    DUALCRED_TRY(wait_fleet(s, snap.raw.revision));
    const std::string* held_by = *st.previous == st.current            ? &keys_.names.current
                                 : st.next && *st.previous == *st.next ? &keys_.names.next
                                                                       : nullptr;
    if (held_by == nullptr) {
      DUALCRED_TRY(renew_lock(s));
      DUALCRED_TRY(admin_step(s, admin_.revoke(*st.previous)));
    }
    st.phase = phase::idle;
    DUALCRED_TRY(rev, save(s, snap));
    if (held_by != nullptr)
      return changed(s, st, rev,
                     fmt::format("PREVIOUS ('{}') is not revoked: {} holds the same login",
                                 st.previous->user, *held_by));
    return changed(s, st, rev,
                   fmt::format("{} no longer accepts PREVIOUS ('{}'); kept in {} for rollback",
                               admin_.describe(), st.previous->user, store_.describe()));
  }

  /// CURRENT back to PREVIOUS, the backend made to accept it, the rolled-back one revoked.
  [[nodiscard]] result<step_report> rollback() {
    constexpr step s = step::rollback;
    DUALCRED_TRY(held, hold_lock(s));
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
    DUALCRED_TRY(renew_lock(s));
    DUALCRED_TRY(admin_step(s, admin_.accept(st.current)));
    if (opts_.settle.count() > 0) std::this_thread::sleep_for(opts_.settle);
    // Never the login the restored CURRENT holds (a store that rolled back to itself).
    if (st.next && *st.next != st.current) {
      DUALCRED_TRY(renew_lock(s));
      DUALCRED_TRY(admin_step(s, admin_.revoke(*st.next)));
    }
    st.next.reset();
    st.previous.reset();
    st.phase = phase::idle;
    DUALCRED_TRY(rev, save(s, snap));
    return changed(s, st, rev,
                   fmt::format("CURRENT is PREVIOUS ('{}') again and {} accepts it; the "
                               "rolled-back credential is revoked",
                               st.current.user, admin_.describe()));
  }

  /// One step by name.
  [[nodiscard]] result<step_report> run(step s) {
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
    return fail(errc::invalid_argument, "unknown step");
  }

  /// The whole runbook from wherever the store stands: a fresh rotation from `idle`, the
  /// rest of an interrupted one otherwise. A rollback in progress is `invalid_argument`
  /// (finish it with `rollback()`).
  [[nodiscard]] result<std::vector<step_report>> run_all() {
    DUALCRED_TRY(held, hold_lock(step::prepare));
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
  /// or CURRENT other than the one given) are `failure_site::order`, `invalid_argument`,
  /// naming the keys, and nothing is written. With `generate`, the backend gets CURRENT
  /// before the store is written: a failed write leaves a password no store holds, and the
  /// error says to run init again.
  [[nodiscard]] result<init_report> init(const init_request& req) {
    constexpr step s = step::prepare;
    DUALCRED_TRY(held, hold_lock(s));
    (void)held;
    last_failure_ = failure_site::none;
    stored raw;
    if (auto read = store_.read()) {
      raw = std::move(read).value();
    } else if (!read.error().is(errc::not_found)) {
      return failed(s, failure_site::store, read.error());
    }
    const std::string source = store_.describe();
    const auto has = [&](const std::string& key) { return !key.empty() && raw.data.contains(key); };
    const bool has_current = has(keys_.names.current), has_next = has(keys_.names.next);
    if (has_current || has_next) return init_existing(req, raw, has_current && has_next);
    for (const std::string* k :
         {&keys_.previous, &keys_.user_previous, &keys_.names.user_next, &keys_.phase})
      if (has(*k))
        return init_conflict(fmt::format("{} holds {} but neither {} nor {}", source, *k,
                                         keys_.names.current, keys_.names.next));

    // A new login: its user, CURRENT (given and checked, or made and applied), a fresh NEXT.
    std::string user = req.user;
    if (const auto it = raw.data.find(keys_.names.user); user.empty() && it != raw.data.end())
      user = std::string(it->second.reveal_public());
    else if (it != raw.data.end() && it->second.reveal_public() != user)
      return init_conflict(
          fmt::format("{} in {} names another user than --user", keys_.names.user, source));
    if (user.empty()) user = keys_.names.default_user;
    if (user.empty())
      return out_of_order(
          s, errc::invalid_argument,
          fmt::format("init needs the user ({} is not in {})", keys_.names.user, source));
    rotation_state st;
    st.current.user = user;
    if (opts_.policy) st.policy = opts_.policy;
    if (req.current) {
      if (req.generate || static_cast<bool>(req.create_user))
        return out_of_order(s, errc::invalid_argument,
                            "init takes a CURRENT or generates one, not both");
      st.current.password = secret(req.current->reveal());
      if (auto ok = admin_.verify(st.current); !ok) {
        if (is_auth_failure(ok.error()))
          return init_conflict(fmt::format("{} refuses the CURRENT given for '{}' (as {})",
                                           admin_.describe(), user, keys_.names.current));
        return failed(s, failure_site::verify, ok.error());
      }
    } else if (req.generate) {
      DUALCRED_TRY(pw, generated(s, st));
      st.current.password = std::move(pw);
      if (req.create_user) {
        DUALCRED_TRY(other, admin_step(s, admin_.next_user(user)));
        DUALCRED_TRY(admin_step(s, req.create_user(user)));
        if (other != user) {
          DUALCRED_TRY(admin_step(s, req.create_user(other)));
        }
      }
      DUALCRED_TRY(renew_lock(s));
      DUALCRED_TRY(admin_step(s, admin_.accept(st.current)));
      if (auto ok = admin_.verify(st.current); !ok)
        return failed(s, failure_site::verify, ok.error());
    } else {
      return out_of_order(s, errc::invalid_argument,
                          "init needs the present password (DUALCRED_CURRENT_PASSWORD or "
                          "--current-file) or --generate");
    }
    DUALCRED_TRY(next, fresh_next(s, user, st));
    st.next = std::move(next);
    st.rotated_at = now();
    st.phase_since = st.rotated_at;
    store_state(raw.data, keys_, st);
    auto rev = store_.write(raw.data, raw.revision);
    if (!rev) {
      error e = rev.error();
      if (req.generate)
        e.detail += fmt::format(
            "; {} now holds a password that is in no store: run init "
            "--generate again",
            admin_.describe());
      return failed(s, failure_site::store, e);
    }
    return init_report{true, rev.value(),
                       fmt::format("wrote {}, {} and {} for '{}' to {}", keys_.names.current,
                                   keys_.names.next, keys_.rotated_at, user, source)};
  }

  /// A whole rotation when CURRENT is older than `max_age` (or its age is unknown), the rest
  /// of an interrupted one (a rollback included) whatever its age, otherwise nothing.
  [[nodiscard]] result<due_report> due(std::chrono::seconds max_age) {
    DUALCRED_TRY(held, hold_lock(step::prepare));
    (void)held;
    DUALCRED_TRY(snap, load(step::prepare));
    const rotation_state& st = snap.st;
    due_report out;
    if (st.phase == phase::rolling_back) {
      DUALCRED_TRY(r, rollback());
      out.what = due_action::finished;
      out.steps.push_back(std::move(r));
      out.summary = "finished the interrupted rollback";
      return out;
    }
    if (st.phase != phase::idle) {
      DUALCRED_TRY(steps, run_all());
      out.what = due_action::finished;
      out.steps = std::move(steps);
      out.summary = fmt::format("finished the interrupted rotation (it was {})", st.phase);
      return out;
    }
    const auto t = now();
    if (st.rotated_at && t - *st.rotated_at < max_age) {
      out.what = due_action::nothing;
      out.summary = fmt::format(
          "not due: CURRENT was promoted at {} ({} s ago), the max age is {} s; next at {}",
          format_rfc3339(*st.rotated_at), (t - *st.rotated_at).count(), max_age.count(),
          format_rfc3339(*st.rotated_at + max_age));
      return out;
    }
    const std::string why =
        st.rotated_at ? fmt::format("CURRENT is {} s old, the max age {} s",
                                    (t - *st.rotated_at).count(), max_age.count())
                      : fmt::format("{} is not set, so CURRENT's age is unknown", keys_.rotated_at);
    DUALCRED_TRY(steps, run_all());
    out.what = due_action::rotated;
    out.steps = std::move(steps);
    out.summary = fmt::format("rotated: {}", why);
    return out;
  }

  /// The time by `rotator_options::clock`, whole seconds.
  [[nodiscard]] timestamp now() const {
    return std::chrono::floor<std::chrono::seconds>(opts_.clock ? opts_.clock()
                                                                : std::chrono::system_clock::now());
  }

  /// The policy generated passwords follow: the options', else the store's, else the
  /// default of `password_length`.
  [[nodiscard]] password_policy policy_for(const rotation_state& st) const {
    if (opts_.policy) return *opts_.policy;
    if (st.policy) return *st.policy;
    return password_policy::defaults(opts_.password_length);
  }

  [[nodiscard]] Store& store() noexcept { return store_; }
  [[nodiscard]] Admin& admin() noexcept { return admin_; }
  [[nodiscard]] const rotation_keys& keys() const noexcept { return keys_; }
  [[nodiscard]] const rotator_options& config() const noexcept { return opts_; }
  /// Where the last failed step failed; `none` after a success.
  [[nodiscard]] failure_site last_failure() const noexcept { return last_failure_; }

 private:
  struct snapshot {
    stored raw;
    rotation_state st;
  };

  result<secret> generated(step s, const rotation_state& st) {
    auto pw = generate_password(policy_for(st));
    if (!pw) return failed(s, failure_site::store, pw.error());
    return std::move(pw).value();
  }

  // Keys already there: consistent ones are success without a change, the rest a conflict.
  result<init_report> init_existing(const init_request& req, const stored& raw, bool both) {
    const std::string source = store_.describe();
    if (!both)
      return init_conflict(fmt::format(
          "{} holds {} but not {}: half the keys are there; complete or remove them", source,
          raw.data.contains(keys_.names.current) ? keys_.names.current : keys_.names.next,
          raw.data.contains(keys_.names.current) ? keys_.names.next : keys_.names.current));
    auto parsed = parse_state(raw.data, keys_, source);
    if (!parsed) return failed(step::prepare, failure_site::store, parsed.error());
    const rotation_state& st = parsed.value();
    if (!req.user.empty() && req.user != st.current.user)
      return init_conflict(fmt::format("{} in {} names '{}', not the --user given",
                                       keys_.names.user, source, st.current.user));
    if (req.current && !(st.current.password == *req.current))
      return init_conflict(
          fmt::format("{} in {} differs from the CURRENT given", keys_.names.current, source));
    if (st.phase == phase::idle) {
      if (auto ok = admin_.verify(st.current); !ok) {
        if (is_auth_failure(ok.error()))
          return init_conflict(fmt::format("{} refuses {} of {} for '{}'", admin_.describe(),
                                           keys_.names.current, source, st.current.user));
        return failed(step::prepare, failure_site::verify, ok.error());
      }
    }
    return init_report{
        false, raw.revision,
        fmt::format("{} already holds {} and {} for '{}' (phase {}): nothing "
                    "to do",
                    source, keys_.names.current, keys_.names.next, st.current.user, st.phase)};
  }

  boost::outcome_v2::failure_type<error> init_conflict(std::string why) {
    // Not errc::conflict: that is a lost check-and-set race, which running again fixes.
    return out_of_order(step::prepare, errc::invalid_argument,
                        std::move(why) + "; nothing written");
  }

  result<snapshot> load(step s) {
    last_failure_ = failure_site::none;
    auto raw = store_.read();
    if (!raw) return failed(s, failure_site::store, raw.error());
    const std::string source = store_.describe();
    auto st = parse_state(raw.value().data, keys_, source);
    if (!st) return failed(s, failure_site::store, st.error());
    st.value().revision = raw.value().revision;
    const rotation_state& v = st.value();
    const char* missing = nullptr;
    if (v.phase != phase::idle && !v.next) missing = keys_.names.next.c_str();
    if ((v.phase == phase::promoted || v.phase == phase::verified) && !v.previous)
      missing = keys_.previous.c_str();
    if (missing != nullptr)
      return failed(s, failure_site::store,
                    error(errc::malformed, fmt::format("{} says {} but {} is not set", source,
                                                       to_string(v.phase), missing)));
    return snapshot{std::move(raw).value(), std::move(st).value()};
  }

  // Writes `snap.st` over the values read, guarded by the revision read.
  result<std::uint64_t> save(step s, snapshot& snap) {
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

  result<credential> fresh_next(step s, const std::string& current_user, const rotation_state& st) {
    DUALCRED_TRY(user, admin_step(s, admin_.next_user(current_user)));
    auto pw = generate_password(policy_for(st));
    if (!pw) return failed(s, failure_site::store, pw.error());
    return credential{std::move(user), std::move(pw).value()};
  }

  // The store's rotation lock for the rest of the calling step; none when an outer step
  // (run_all, due) holds it already, or when the store has no lock.
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

  result<lock_hold> hold_lock(step s) {
    if constexpr (lockable_store<Store>) {
      if (lock_.held()) return lock_hold();
      auto taken = store_.lock_rotation(opts_.lock);
      if (!taken) return failed(s, failure_site::store, taken.error());
      lock_ = std::move(taken).value();
      return lock_hold(&lock_);
    } else {
      (void)s;
      return lock_hold();
    }
  }

  // Right before a backend change: the lock is still this rotator's (a lease renewed).
  result<void> renew_lock(step s) {
    auto r = lock_.renew();
    if (!r) return failed(s, failure_site::store, r.error());
    return r;
  }

  template <class T>
  result<T> admin_step(step s, result<T> r) {
    if (!r) return failed(s, failure_site::backend, r.error());
    return r;
  }

  // Waits for the instances to hold `revision`, then for `settle`.
  result<void> wait_fleet(step s, std::uint64_t revision) {
    DUALCRED_TRY(wait_instances(s, revision));
    if (opts_.settle.count() > 0) {
      progress(s, fmt::format("settling for {} ms", opts_.settle.count()));
      std::this_thread::sleep_for(opts_.settle);
    }
    return boost::outcome_v2::success();
  }

  result<void> wait_instances(step s, std::uint64_t revision) {
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
    if (!r) return failed(s, failure_site::fleet, r.error());
    return r;
  }

  void progress(step s, std::string_view line) {
    if (opts_.on_progress) opts_.on_progress(fmt::format("{}: {}", to_string(s), line));
  }

  boost::outcome_v2::failure_type<error> failed(step s, failure_site site, const error& e) {
    last_failure_ = site;
    return boost::outcome_v2::failure(error(e.code, fmt::format("{}: {}", to_string(s), e.detail)));
  }

  boost::outcome_v2::failure_type<error> out_of_order(step s, errc code, std::string why) {
    return failed(s, failure_site::order, error(code, std::move(why)));
  }
  boost::outcome_v2::failure_type<error> out_of_order(step s, std::string why) {
    return out_of_order(s, errc::invalid_argument, std::move(why));
  }

  // What `phase_table` says of step `s` in the phase read: nothing when the step is to run,
  // else its report (already done) or its refusal (out of order).
  std::optional<result<step_report>> by_the_rules(step s, const rotation_state& st) {
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

  Store store_;
  Admin admin_;
  rotation_lock lock_;  // after store_: given back before the store goes
  rotation_keys keys_;
  rotator_options opts_;
  failure_site last_failure_ = failure_site::none;
};

}  // namespace dualcred::rotation

template <>
struct fmt::formatter<dualcred::rotation::step> : fmt::formatter<std::string_view> {
  auto format(dualcred::rotation::step s, format_context& ctx) const -> decltype(ctx.out()) {
    return fmt::formatter<std::string_view>::format(dualcred::rotation::to_string(s), ctx);
  }
};
