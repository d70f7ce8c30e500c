#pragma once

// Decommission's drain: after the backend stopped taking PREVIOUS, the sessions that logged in
// with it are counted, and waited for or ended as `rotator_options::drain` says. The count is
// taken after the revoke on purpose: from then on no new session can log in with PREVIOUS, so
// the count can only fall and a wait converges; ending sessions while PREVIOUS still worked
// would let a client that still holds it log straight back in.

#include <chrono>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "../drain.hpp"
#include "../failure.hpp"
#include "../steps.hpp"

namespace dualcred::rotation::detail {

// "127.0.0.1:5432=2, 127.0.0.1:5433=0"
inline std::string per_node(const session_survey& s) {
  std::string out = format_node_counts(s.nodes, ", ");
  return out.empty() ? std::string("no node") : out;
}

// Counts the sessions of PREVIOUS in `snap`, then waits for or ends them by the policy. The
// outcome goes to the store (`rotation_keys::last_drain`) with the step's own write; on a
// timeout it is written here, the phase unchanged, and the step fails `sessions_remain`: run
// again, decommission revokes again (a no-op) and drains again. Returns the summary's clause.
template <class Core, class Snapshot>
step_result<std::string> drain_sessions(Core& c, step s, Snapshot& snap) {
  const drain_policy& policy = c.opts_.drain;
  const rotation_state& st = snap.st;
  const drain_request req{*st.previous, st.current.user, st.applied_at, st.rotated_at};
  auto count = [&]() -> step_result<session_survey> {
    auto r = c.admin_.old_sessions(req);
    if (!r) return c.failed(s, failure_site::drain, r.error());
    return std::move(r).value();
  };
  drain_record rec;
  rec.mode = policy.mode;
  rec.at = c.now();
  auto first = count();
  // Counting only reports: a server that will not say (an admin without the privilege to list
  // sessions) leaves a warning, not a failed decommission.
  if (!first && policy.mode == drain_mode::report) {
    c.progress(s, fmt::format("could not count the sessions that may still use PREVIOUS: {}",
                              first.error().detail));
    rec.outcome = "not_counted";
    snap.st.last_drain = format_drain_record(rec);
    return std::string("drain not counted");
  }
  DUALCRED_TRY(survey, std::move(first));
  rec.found = survey.total();
  rec.nodes = survey.nodes;
  c.progress(s, fmt::format("{} session(s) may still use PREVIOUS: {} ({})", rec.found,
                            survey.basis, per_node(survey)));
  if (!survey.cannot_tell.empty()) c.progress(s, survey.cannot_tell);
  if (policy.mode == drain_mode::terminate && rec.found > 0) {
    DUALCRED_TRY(c.renew_lock(s));
    auto ended = c.admin_.end_old_sessions(req);
    if (!ended) return c.failed(s, failure_site::drain, ended.error());
    rec.ended = ended.value().total();
    c.progress(s, fmt::format("ended {} session(s) ({})", rec.ended, per_node(ended.value())));
  }
  if (policy.mode != drain_mode::report) {
    const auto until = std::chrono::steady_clock::now() + policy.timeout;
    std::size_t last = rec.found;
    while (survey.total() > 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(policy.poll);
      DUALCRED_TRY(again, count());
      survey = std::move(again);
      if (survey.total() != last)
        c.progress(s, fmt::format("{} session(s) left ({})", survey.total(), per_node(survey)));
      last = survey.total();
    }
  }
  rec.remaining = survey.total();
  rec.outcome = policy.mode == drain_mode::report ? "reported"
                : rec.remaining > 0               ? "timed_out"
                : policy.mode == drain_mode::wait ? "drained"
                                                  : "terminated";
  rec.at = c.now();
  snap.st.last_drain = format_drain_record(rec);
  const std::string clause = fmt::format("drain {}: {} found, {} ended, {} left", rec.outcome,
                                         rec.found, rec.ended, rec.remaining);
  if (policy.mode == drain_mode::report || rec.remaining == 0) return clause;
  DUALCRED_TRY(c.save(s, snap));
  return c.failed(
      s, failure_site::drain,
      error(condition::sessions_remain,
            fmt::format("{} session(s) that may use PREVIOUS ('{}') still open after {} ms ({}; "
                        "{}). The backend no longer accepts PREVIOUS, so no new one can start; "
                        "decommission again to wait longer, or drain with terminate to end them",
                        rec.remaining, req.old.user, policy.timeout.count(), per_node(survey),
                        survey.basis)));
}

}  // namespace dualcred::rotation::detail
