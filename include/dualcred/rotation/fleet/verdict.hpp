#pragma once

// Where each instance stands in a fleet check, and the wait that asks round after round
// until all are there or the deadline passes. Shared by the HTTP check (instances asked
// directly) and the Prometheus check (instances as Prometheus last scraped them).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "../../error.hpp"

namespace dualcred::rotation::fleet {

/// Why an instance is not there yet; `lag::none` when it is.
enum class lag {
  none,         ///< every version it reports is the one waited for, or later
  old_version,  ///< it answered with an older version
  unreachable,  ///< no connection (refused, no route, DNS), or Prometheus's scrape failed
  timed_out,    ///< it took longer than its own timeout, or the check's deadline passed
  bad_answer,   ///< it answered, but not with a status (a non-2xx, no version in its metrics)
  stale,        ///< Prometheus's last scrape of it is older than the bound: not trusted
};

[[nodiscard]] constexpr std::string_view to_string(lag l) noexcept {
  switch (l) {
    case lag::none:
      return "ready";
    case lag::old_version:
      return "old version";
    case lag::unreachable:
      return "unreachable";
    case lag::timed_out:
      return "timed out";
    case lag::bad_answer:
      return "bad answer";
    case lag::stale:
      return "stale";
  }
  return "unknown";
}

/// One instance's state after a round: its name (a URL without user info or query, or
/// Prometheus's `instance` label), why it lags, and what it said (versions, an error).
struct instance_verdict {
  std::string instance;
  lag state = lag::timed_out;
  std::string detail;
  [[nodiscard]] bool ready() const noexcept { return state == lag::none; }
};

/// One round of a check: every instance known this round, and a problem that keeps the
/// check from being done however the instances stand (discovery failed, none found).
struct round_result {
  std::vector<instance_verdict> instances;
  std::string problem;
};

/// Asks every instance once, within `until`, for revision `wanted`. An error stops the wait
/// at once (an endpoint that is not a status endpoint at all).
using round_function = std::function<result<round_result>(
    std::uint64_t wanted, std::chrono::steady_clock::time_point until)>;

/// Lagging instances named in a timeout error, at most; the rest are counted.
inline constexpr std::size_t max_named_laggards = 50;

/// The timeout error of a wait that ended with `last`: how many lag, and each one's name,
/// reason and detail.
[[nodiscard]] inline error lagging_error(const round_result& last, std::uint64_t wanted,
                                         std::chrono::milliseconds deadline) {
  std::string behind;
  std::size_t lagging = 0;
  for (const auto& v : last.instances) {
    if (v.ready()) continue;
    if (++lagging > max_named_laggards) continue;
    const std::string why = v.state == lag::old_version
                                ? v.detail
                                : fmt::format("{}: {}", to_string(v.state), v.detail);
    behind += fmt::format("{}{} ({})", behind.empty() ? "" : "; ", v.instance, why);
  }
  if (lagging > max_named_laggards)
    behind += fmt::format("; and {} more", lagging - max_named_laggards);
  std::string text =
      fmt::format("fleet: {} of {} instances did not report version {} or later within {} ms",
                  lagging, last.instances.size(), wanted, deadline.count());
  if (!behind.empty()) text += ": " + behind;
  if (!last.problem.empty())
    text += fmt::format("{}{}", behind.empty() ? ": " : "; ", last.problem);
  return error(errc::timeout, std::move(text));
}

/// Runs `round` until every instance it reports is ready (and it reports at least one, with
/// no problem), or the deadline passes: `errc::timeout` naming each lagging instance and why.
/// Rounds are `poll_interval` apart; `on_wait` is told after each how many are ready.
[[nodiscard]] inline result<void> wait_rounds(
    const round_function& round, std::uint64_t wanted, std::chrono::milliseconds deadline,
    std::chrono::milliseconds poll_interval,
    const std::function<void(std::size_t ready, std::size_t total)>& on_wait = {}) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    auto r = round(wanted, until);
    if (!r) return boost::outcome_v2::failure(std::move(r).error());
    std::size_t ready = 0;
    for (const auto& v : r.value().instances) ready += v.ready() ? 1 : 0;
    if (on_wait) on_wait(ready, r.value().instances.size());
    const auto& last = r.value();
    if (last.problem.empty() && !last.instances.empty() && ready == last.instances.size())
      return boost::outcome_v2::success();
    if (std::chrono::steady_clock::now() + poll_interval > until)
      return boost::outcome_v2::failure(lagging_error(last, wanted, deadline));
    std::this_thread::sleep_for(poll_interval);
  }
}

}  // namespace dualcred::rotation::fleet
