#pragma once

// `rotator::due`: a whole rotation when CURRENT is old enough, the rest of an interrupted
// one whatever its age.

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "failure.hpp"
#include "state.hpp"
#include "steps.hpp"

namespace dualcred::rotation {

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

namespace detail {

template <class Rotator>
step_result<due_report> run_due(Rotator& r, std::chrono::seconds max_age) {
  DUALCRED_TRY(st, r.state());
  due_report out;
  if (st.phase == phase::rolling_back) {
    DUALCRED_TRY(back, r.rollback());
    out.what = due_action::finished;
    out.steps.push_back(std::move(back));
    out.summary = "finished the interrupted rollback";
    return out;
  }
  if (st.phase != phase::idle) {
    DUALCRED_TRY(steps, r.run_all());
    out.what = due_action::finished;
    out.steps = std::move(steps);
    out.summary = fmt::format("finished the interrupted rotation (it was {})", st.phase);
    return out;
  }
  const auto t = r.now();
  if (st.rotated_at && t - *st.rotated_at < max_age) {
    out.what = due_action::nothing;
    out.summary = fmt::format(
        "not due: CURRENT was promoted at {} ({} s ago), the max age is {} s; next at {}",
        format_rfc3339(*st.rotated_at), (t - *st.rotated_at).count(), max_age.count(),
        format_rfc3339(*st.rotated_at + max_age));
    return out;
  }
  const std::string why = st.rotated_at ? fmt::format("CURRENT is {} s old, the max age {} s",
                                                      (t - *st.rotated_at).count(), max_age.count())
                                        : fmt::format("{} is not set, so CURRENT's age is unknown",
                                                      r.keys().rotated_at);
  DUALCRED_TRY(steps, r.run_all());
  out.what = due_action::rotated;
  out.steps = std::move(steps);
  out.summary = fmt::format("rotated: {}", why);
  return out;
}

}  // namespace detail
}  // namespace dualcred::rotation
