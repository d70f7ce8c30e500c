#pragma once

// Hot standbys learn an ALTER ROLE only when they replay it: after each change on the
// primary, wait until every standby has replayed up to the primary's WAL position.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "../../backend/libpq.hpp"
#include "../../error.hpp"
#include "../../secret.hpp"
#include "../failure.hpp"
#include "detail/admin_session.hpp"

namespace dualcred::rotation::pg {

/// A WAL position (`pg_lsn`, `16/B374D848`) as a number; nullopt when it is not one.
[[nodiscard]] constexpr std::optional<std::uint64_t> parse_lsn(std::string_view text) noexcept {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size() || slash > 8 ||
      text.size() - slash - 1 > 8)
    return std::nullopt;
  std::uint64_t hi = 0, lo = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == slash) continue;
    const char c = text[i];
    std::uint64_t d = 0;
    if (c >= '0' && c <= '9')
      d = static_cast<std::uint64_t>(c - '0');
    else if (c >= 'A' && c <= 'F')
      d = static_cast<std::uint64_t>(c - 'A' + 10);
    else if (c >= 'a' && c <= 'f')
      d = static_cast<std::uint64_t>(c - 'a' + 10);
    else
      return std::nullopt;
    (i < slash ? hi : lo) = (i < slash ? hi : lo) * 16 + d;
  }
  return (hi << 32) | lo;
}

[[nodiscard]] inline std::string where(const dualcred::pg::params& p) {
  return fmt::format("{}:{}", p.host.empty() ? "(default host)" : p.host, p.port);
}

/// The WAL position a change just made on `primary` ends at (after its commit record, even
/// with asynchronous commit: the insert position, which the WAL writer flushes on its own).
[[nodiscard]] inline result<std::uint64_t> change_position(detail::admin_session& primary,
                                                           std::string_view where) {
  DUALCRED_TRY(r, primary.row("SELECT pg_catalog.pg_current_wal_insert_lsn()::text",
                              "reading the primary's WAL position"));
  const auto lsn = parse_lsn(r.front());
  if (!lsn)
    return fail(errc::backend_unavailable,
                fmt::format("{}: the primary's WAL position is not a pg_lsn", where));
  return *lsn;
}

/// One standby, reached with the primary's admin conninfo at `standby.host`/`port`: it must
/// be in recovery (a standby), reachable, and once `target` is set, have replayed past it.
struct standby_check {
  const secret& admin_conninfo;
  std::chrono::milliseconds admin_timeout;
  std::string what;  ///< names the rotation, for messages
};

/// Refuses a server that is not a hot standby (`condition::not_a_standby`) or cannot be
/// reached.
[[nodiscard]] inline result<void> check_is_standby(const standby_check& c,
                                                   const dualcred::pg::params& s) {
  detail::admin_session session(c.admin_conninfo, c.admin_timeout,
                                fmt::format("{}: standby {}", c.what, where(s)), s.host, s.port);
  DUALCRED_TRY(session.ready());
  DUALCRED_TRY(r, session.row("SELECT pg_catalog.pg_is_in_recovery()::text",
                              "asking whether it is a standby"));
  if (r.front() != "true")
    return boost::outcome_v2::failure(
        error(condition::not_a_standby,
              fmt::format("{}: {} is not a standby (pg_is_in_recovery() is false): only hot "
                          "standbys of the primary can be standbys",
                          c.what, where(s))));
  return boost::outcome_v2::success();
}

/// Waits until every standby has replayed up to `target`, polling every 20 ms; the whole
/// wait is bounded by `timeout` (`condition::replay_timeout`, naming the standby and both
/// positions, so callers can tell it from a slow login, which is `errc::timeout`), and by a
/// second more for a standby that stops answering (`errc::timeout`, naming it).
[[nodiscard]] inline result<void> wait_for_replay(const standby_check& c,
                                                  const std::vector<dualcred::pg::params>& standbys,
                                                  std::uint64_t target,
                                                  std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto lsn_text = [](std::uint64_t v) {
    return fmt::format("{:X}/{:X}", v >> 32, v & 0xffffffffu);
  };
  for (const auto& s : standbys) {
    // The replay timeout bounds the login and every statement too, with a second to spare
    // so a query begun just before the deadline still says how far the standby got: one
    // that stops answering ends the wait then (errc::timeout, naming it), not never.
    detail::admin_session session(c.admin_conninfo, c.admin_timeout,
                                  fmt::format("{}: standby {}", c.what, where(s)), s.host, s.port,
                                  deadline + std::chrono::seconds(1));
    DUALCRED_TRY(session.ready());
    for (;;) {
      DUALCRED_TRY(r, session.row("SELECT pg_catalog.pg_is_in_recovery()::text, "
                                  "COALESCE(pg_catalog.pg_last_wal_replay_lsn()::text, '')",
                                  "reading the standby's replay position"));
      if (r[0] != "true")
        return boost::outcome_v2::failure(
            error(condition::not_a_standby,
                  fmt::format("{}: {} is not a standby (pg_is_in_recovery() is false)", c.what,
                              where(s))));
      const auto replayed = parse_lsn(r[1]);
      if (replayed && *replayed >= target) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        return boost::outcome_v2::failure(
            error(condition::replay_timeout,
                  fmt::format("{}: standby {} replayed up to {}, the change is at {}: not "
                              "replayed within the replay timeout ({} ms)",
                              c.what, where(s), replayed ? lsn_text(*replayed) : "nothing",
                              lsn_text(target), timeout.count())));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return boost::outcome_v2::success();
}

}  // namespace dualcred::rotation::pg
