#pragma once

// A rotation's state for operators and alarms: `status --json` and `status --prometheus`
// (node_exporter's textfile collector). Needs nlohmann_json (the `dualcred-vault`
// dependency) for the JSON. Nothing here holds a password.

#include <chrono>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "../detail/prometheus_text.hpp"
#include "drain.hpp"
#include "rotator.hpp"
#include "state.hpp"

namespace dualcred::rotation {

/// One prefix's rotation as of `now`.
struct rotation_status {
  std::string prefix;  ///< the key prefix (`DB`)
  std::string store;   ///< the store's `describe()`
  rotation::phase phase = phase::idle;
  std::uint64_t revision = 0;
  std::string current_user;
  std::optional<std::string> next_user, previous_user;
  std::optional<timestamp> rotated_at, phase_since;
  timestamp now{};
  std::optional<std::string> policy;       ///< the store's policy spec
  std::optional<drain_record> last_drain;  ///< the last decommission's drain

  /// Seconds since `phase_since` (nullopt when the store does not say).
  [[nodiscard]] std::optional<std::int64_t> phase_age_seconds() const {
    if (!phase_since) return std::nullopt;
    return (now - *phase_since).count();
  }
  /// Seconds since CURRENT was promoted.
  [[nodiscard]] std::optional<std::int64_t> current_age_seconds() const {
    if (!rotated_at) return std::nullopt;
    return (now - *rotated_at).count();
  }
  /// A rotation (or rollback) is under way and has sat in its phase for `limit` or more; a
  /// non-idle phase whose start the store does not record counts as stuck.
  [[nodiscard]] bool stuck(std::chrono::seconds limit) const {
    if (phase == phase::idle) return false;
    const auto age = phase_age_seconds();
    return !age || *age >= limit.count();
  }
};

[[nodiscard]] inline rotation_status make_status(const rotation_state& st, std::string prefix,
                                                 std::string store, timestamp now) {
  rotation_status s;
  s.prefix = std::move(prefix);
  s.store = std::move(store);
  s.phase = st.phase;
  s.revision = st.revision;
  s.current_user = st.current.user;
  if (st.next) s.next_user = st.next->user;
  if (st.previous) s.previous_user = st.previous->user;
  s.rotated_at = st.rotated_at;
  s.phase_since = st.phase_since;
  s.now = now;
  if (st.policy) s.policy = st.policy->to_spec();
  if (st.last_drain) s.last_drain = parse_drain_record(*st.last_drain);
  return s;
}

/// One JSON object: `phase`, `revision`, `current_user`, `next_user`, `previous_user`,
/// `rotated_at`, `phase_since` (RFC 3339 UTC or null), `phase_age_seconds`,
/// `current_age_seconds` (null when unknown), `next_step`, `prefix`, `store`,
/// `password_policy`, `now`, `last_drain` (null, or `at`, `mode`, `outcome`, `found`,
/// `ended`, `remaining` and `nodes`: each node's sessions at the first count), and `stuck`
/// when a limit is given.
[[nodiscard]] inline std::string to_json(const rotation_status& s,
                                         std::optional<std::chrono::seconds> stuck_after = {}) {
  using nlohmann::json;
  auto opt = [](const auto& v) { return v ? json(*v) : json(nullptr); };
  auto time = [](const std::optional<timestamp>& t) {
    return t ? json(format_rfc3339(*t)) : json(nullptr);
  };
  const auto next = resume_step(s.phase);
  json j = {{"prefix", s.prefix},
            {"store", s.store},
            {"phase", std::string(to_string(s.phase))},
            {"revision", s.revision},
            {"current_user", s.current_user},
            {"next_user", opt(s.next_user)},
            {"previous_user", opt(s.previous_user)},
            {"rotated_at", time(s.rotated_at)},
            {"phase_since", time(s.phase_since)},
            {"phase_age_seconds", opt(s.phase_age_seconds())},
            {"current_age_seconds", opt(s.current_age_seconds())},
            {"next_step", s.phase == phase::rolling_back ? json("rollback")
                          : next                         ? json(std::string(to_string(*next)))
                                                         : json(nullptr)},
            {"password_policy", opt(s.policy)},
            {"now", format_rfc3339(s.now)}};
  j["last_drain"] = nullptr;
  if (const auto& d = s.last_drain) {
    json nodes = json::object();
    for (const auto& n : d->nodes) nodes[n.node] = n.sessions;
    j["last_drain"] = {{"at", format_rfc3339(d->at)}, {"mode", std::string(to_string(d->mode))},
                       {"outcome", d->outcome},       {"found", d->found},
                       {"ended", d->ended},           {"remaining", d->remaining},
                       {"nodes", std::move(nodes)}};
  }
  if (stuck_after) {
    j["stuck"] = s.stuck(*stuck_after);
    j["stuck_after_seconds"] = stuck_after->count();
  }
  // Replacement, not an exception, for a user name that is not UTF-8.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// The Prometheus text format (for node_exporter's textfile collector), every series
/// labelled with `prefix` and `store`:
/// - `dualcred_rotation_phase{phase=...}` 1 for the phase the rotation is in, 0 for the others;
/// - `dualcred_rotation_phase_age_seconds`, `dualcred_rotation_current_age_seconds` (left out
///   when the store does not record the time);
/// - `dualcred_rotation_revision`, `dualcred_rotation_status_timestamp_seconds` (when this was
///   read, to alarm on a collector that stopped);
/// - after a decommission that drained, `dualcred_rotation_last_drain_sessions{count=found|
///   ended|remaining}` and `dualcred_rotation_last_drain_timestamp_seconds` (to alarm on
///   sessions left on a removed password).
[[nodiscard]] inline std::string to_prometheus(const rotation_status& s) {
  using dualcred::detail::write_prometheus_family;
  using dualcred::detail::write_prometheus_sample;
  fmt::memory_buffer buf;
  auto out = std::back_inserter(buf);
  const dualcred::detail::prometheus_label prefix{"prefix", s.prefix}, store{"store", s.store};
  out = write_prometheus_family(
      out, "dualcred_rotation_phase", "gauge",
      "1 for the phase the credential rotation is in (idle: no rotation under way).");
  for (const phase p :
       {phase::idle, phase::applied, phase::promoted, phase::verified, phase::rolling_back})
    out = write_prometheus_sample(out, "dualcred_rotation_phase",
                                  {prefix, store, {"phase", to_string(p)}}, p == s.phase ? 1 : 0);
  if (const auto age = s.phase_age_seconds()) {
    out = write_prometheus_family(out, "dualcred_rotation_phase_age_seconds", "gauge",
                                  "Seconds the rotation has been in its phase.");
    out =
        write_prometheus_sample(out, "dualcred_rotation_phase_age_seconds", {prefix, store}, *age);
  }
  if (const auto age = s.current_age_seconds()) {
    out = write_prometheus_family(out, "dualcred_rotation_current_age_seconds", "gauge",
                                  "Seconds since CURRENT was promoted.");
    out = write_prometheus_sample(out, "dualcred_rotation_current_age_seconds", {prefix, store},
                                  *age);
  }
  out = write_prometheus_family(out, "dualcred_rotation_revision", "gauge",
                                "The store revision the state was read at.");
  out = write_prometheus_sample(out, "dualcred_rotation_revision", {prefix, store}, s.revision);
  out = write_prometheus_family(out, "dualcred_rotation_status_timestamp_seconds", "gauge",
                                "Unix time at which dualcred-rotate status read the store.");
  out = write_prometheus_sample(out, "dualcred_rotation_status_timestamp_seconds", {prefix, store},
                                s.now.time_since_epoch().count());
  if (const auto& d = s.last_drain) {
    out = write_prometheus_family(
        out, "dualcred_rotation_last_drain_sessions", "gauge",
        "Sessions the last decommission found on the removed password, ended, and left open.");
    for (const auto& [count, n] : {std::pair<std::string_view, std::size_t>{"found", d->found},
                                   {"ended", d->ended},
                                   {"remaining", d->remaining}})
      out = write_prometheus_sample(out, "dualcred_rotation_last_drain_sessions",
                                    {prefix, store, {"count", count}}, n);
    out = write_prometheus_family(out, "dualcred_rotation_last_drain_timestamp_seconds", "gauge",
                                  "Unix time of the last decommission's drain.");
    out = write_prometheus_sample(out, "dualcred_rotation_last_drain_timestamp_seconds",
                                  {prefix, store}, d->at.time_since_epoch().count());
  }
  return fmt::to_string(buf);
}

}  // namespace dualcred::rotation
