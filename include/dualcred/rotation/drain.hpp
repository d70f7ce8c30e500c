#pragma once

// Sessions still authenticated with the credential decommission removes: what a password
// admin can count and end (`draining_admin`), what the rotator does with them
// (`drain_policy`), and the record of the last drain the store keeps for `status`.
//
// A server checks a password at login only: PostgreSQL keeps a session whose role's password
// changed or was removed, Redis keeps a connection whose user's password was removed. So
// "every instance holds the new credential" does not yet mean "no session uses the old one".

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "../error.hpp"
#include "../secret.hpp"
#include "detail/decimal.hpp"
#include "state.hpp"

namespace dualcred::rotation {

/// What decommission does with the sessions of the credential it removes.
enum class drain_mode : unsigned char {
  report,     ///< count them and go on (the default)
  wait,       ///< wait until none is left, polling; `condition::sessions_remain` on timeout
  terminate,  ///< end them (`pg_terminate_backend`, `CLIENT KILL`), then see none is left
};

[[nodiscard]] constexpr std::string_view to_string(drain_mode m) noexcept {
  switch (m) {
    case drain_mode::report:
      return "report";
    case drain_mode::wait:
      return "wait";
    case drain_mode::terminate:
      return "terminate";
  }
  return "report";
}

[[nodiscard]] inline std::optional<drain_mode> parse_drain_mode(std::string_view text) noexcept {
  for (const drain_mode m : {drain_mode::report, drain_mode::wait, drain_mode::terminate})
    if (to_string(m) == text) return m;
  return std::nullopt;
}

/// `rotator_options::drain`.
struct drain_policy {
  drain_mode mode = drain_mode::report;
  /// wait: how long the sessions may take to end; terminate: how long the ended ones may
  /// take to leave the server's list (a backend exits shortly after its signal).
  std::chrono::milliseconds timeout{60'000};
  /// How often the sessions are counted again while waiting.
  std::chrono::milliseconds poll{500};
};

/// What decommission asks an admin about: the credential it removes, CURRENT's user, and
/// when the backend or the clients moved off the old password, as the store recorded it.
struct drain_request {
  credential old;
  std::string current_user;
  /// When the backend stopped taking the old password (apply: a single role's password is
  /// replaced there), rounded up to the second; nullopt when the store did not record it.
  std::optional<timestamp> changed_at;
  /// When CURRENT was promoted (clients switch to it from then on).
  std::optional<timestamp> promoted_at;
};

/// One node's sessions that may hold the credential being removed.
struct node_sessions {
  std::string node;  ///< `host:port`
  std::size_t sessions = 0;
};

/// Each node's count as `host:port=n`, joined by `separator`.
[[nodiscard]] inline std::string format_node_counts(const std::vector<node_sessions>& nodes,
                                                    std::string_view separator) {
  std::string out;
  for (const auto& n : nodes)
    out += fmt::format("{}{}={}", out.empty() ? std::string_view() : separator, n.node, n.sessions);
  return out;
}

/// What an admin found (or ended): per node, how they were counted, and what the server
/// cannot tell.
struct session_survey {
  std::vector<node_sessions> nodes;
  /// How the sessions were picked, e.g. "sessions of role 'app_a'" or "sessions of role
  /// 'app' started before the change (2026-12-01T09:00:01Z)".
  std::string basis;
  /// What the server cannot tell about them (empty when the count is exact).
  std::string cannot_tell;

  [[nodiscard]] std::size_t total() const noexcept {
    std::size_t n = 0;
    for (const auto& x : nodes) n += x.sessions;
    return n;
  }
};

/// An admin that can count and end the sessions of a credential it removes.
///
/// \requires
/// - `a.old_sessions(req)` returns `result<session_survey>`: the sessions, on every node the
///   admin changes (and only those), that may still be authenticated with `req.old`. The
///   admin's own sessions are never counted.
/// - `a.end_old_sessions(req)` returns `result<session_survey>`: ends exactly those and says
///   how many it signalled per node. Idempotent: with none left it ends nothing.
template <class A>
concept draining_admin = requires(const A& a, const drain_request& req) {
  { a.old_sessions(req) } -> std::same_as<result<session_survey>>;
  { a.end_old_sessions(req) } -> std::same_as<result<session_survey>>;
};

/// The last drain, as `rotation_keys::last_drain` keeps it for `status`.
struct drain_record {
  timestamp at{};
  drain_mode mode = drain_mode::report;
  std::string outcome;               ///< `reported`, `drained`, `terminated` or `timed_out`
  std::size_t found = 0;             ///< sessions counted first
  std::size_t ended = 0;             ///< sessions terminate signalled
  std::size_t remaining = 0;         ///< sessions left at the end
  std::vector<node_sessions> nodes;  ///< the first count, per node
};

/// `2026-12-01T09:00:00Z mode=wait outcome=drained found=3 ended=0 remaining=0
/// nodes=127.0.0.1:5432=3,...`: one line of public text (node names hold no space).
[[nodiscard]] inline std::string format_drain_record(const drain_record& r) {
  return fmt::format("{} mode={} outcome={} found={} ended={} remaining={} nodes={}",
                     format_rfc3339(r.at), to_string(r.mode), r.outcome, r.found, r.ended,
                     r.remaining, format_node_counts(r.nodes, ","));
}

/// The record `format_drain_record` wrote; nullopt for any other text.
[[nodiscard]] inline std::optional<drain_record> parse_drain_record(std::string_view text) {
  drain_record r;
  auto word = [&]() {
    const std::size_t sp = std::min(text.find(' '), text.size());
    const std::string_view w = text.substr(0, sp);
    text.remove_prefix(std::min(sp + 1, text.size()));
    return w;
  };
  auto number = [](std::string_view v) -> std::optional<std::size_t> {
    if (v.size() > 18) return std::nullopt;
    return detail::parse_decimal<std::size_t>(v);
  };
  const auto at = parse_rfc3339(word());
  if (!at) return std::nullopt;
  r.at = *at;
  for (const std::string_view field : {"mode", "outcome", "found", "ended", "remaining", "nodes"}) {
    const std::string_view w = word();
    if (!w.starts_with(field) || w.size() <= field.size() || w[field.size()] != '=') {
      if (field == "nodes" && w == "nodes=") continue;
      return std::nullopt;
    }
    const std::string_view v = w.substr(field.size() + 1);
    std::optional<std::size_t> n;
    if (field == "mode") {
      const auto m = parse_drain_mode(v);
      if (!m) return std::nullopt;
      r.mode = *m;
    } else if (field == "outcome") {
      r.outcome = v;
    } else if (field == "nodes") {
      for (std::size_t i = 0; i < v.size();) {
        const std::size_t comma = std::min(v.find(',', i), v.size());
        const std::string_view one = v.substr(i, comma - i);
        const std::size_t eq = one.rfind('=');
        if (eq == std::string_view::npos || !(n = number(one.substr(eq + 1)))) return std::nullopt;
        r.nodes.push_back({std::string(one.substr(0, eq)), *n});
        i = comma + 1;
      }
    } else {
      if (!(n = number(v))) return std::nullopt;
      (field == "found" ? r.found : field == "ended" ? r.ended : r.remaining) = *n;
    }
  }
  return r;
}

}  // namespace dualcred::rotation
