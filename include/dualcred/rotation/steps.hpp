#pragma once

// The runbook's steps and the rules of their order: which step may run in which phase, what
// it does there, and where `run_all` picks an interrupted rotation up.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "state.hpp"

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

/// Which part of a step failed (`failure::site`); what went wrong there is the failure's
/// `condition`.
enum class failure_site {
  none,
  order,    ///< the step does not fit the phase, or the store lacks NEXT / PREVIOUS
  store,    ///< reading or writing the store (a CAS conflict is `errc::conflict`)
  backend,  ///< the password admin (`accept`, `revoke`, `next_user`)
  verify,   ///< the login with the new credential
  fleet,    ///< instances did not report the promoted revision in time
  drain,    ///< sessions of the removed credential (counting, ending, waiting for them)
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
    case failure_site::drain:
      return "drain";
  }
  return "none";
}

/// What a step does in a phase (`step_rule`).
enum class verdict : unsigned char {
  run,     ///< the step does its work (which may find nothing left to change)
  done,    ///< nothing to do: the rotation is past this step
  refuse,  ///< out of order: `failure_site::order`, `condition::out_of_order`
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

}  // namespace dualcred::rotation

template <>
struct fmt::formatter<dualcred::rotation::step> : fmt::formatter<std::string_view> {
  auto format(dualcred::rotation::step s, format_context& ctx) const -> decltype(ctx.out()) {
    return fmt::formatter<std::string_view>::format(dualcred::rotation::to_string(s), ctx);
  }
};
