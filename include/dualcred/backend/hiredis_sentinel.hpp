#pragma once

// The Sentinel-aware Redis connector, over hiredis: link with hiredis (the `dualcred-hiredis`
// dependency).

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include "../error.hpp"
#include "../secret.hpp"
#include "hiredis.hpp"

namespace dualcred::redis {

/// A Redis node or Sentinel.
struct endpoint {
  std::string host;
  int port = 0;
  friend bool operator==(const endpoint&, const endpoint&) = default;
};

/// Where the Sentinels are and what they watch.
struct sentinel_params {
  std::vector<endpoint> sentinels;  ///< asked in this order; unreachable ones are skipped
  std::string master_name;          ///< the name the Sentinels monitor
  /// Sentinel's own login (`requirepass` / its ACL user), separate from the data credential.
  std::optional<credential> sentinel_auth;
  /// Bounds each connect and reply, to Sentinels and to the primary. Zero: no limit.
  std::chrono::milliseconds timeout{5'000};
  int db = 0;  ///< `SELECT`ed after `AUTH` when not 0
  /// How many times to ask again when the address given is not a primary (a failover in
  /// progress), and the pause before each new question.
  int max_asks = 10;
  std::chrono::milliseconds ask_pause{200};
};

namespace detail {
inline params params_for(const endpoint& at, std::chrono::milliseconds timeout, int db = 0) {
  params p;
  p.host = at.host;
  p.port = at.port;
  p.timeout = timeout;
  p.db = db;
  return p;
}
}  // namespace detail

/// Asks the Sentinels in order: `ask(conn, where)` runs on a logged-in connection to one and
/// returns `result<T>`; the first success is the answer. A Sentinel that cannot be reached,
/// refuses the login or fails is skipped; `not_found` from `ask` means it does not know
/// `master_name` (a wrong name, not a failover) and is the answer's error unless a later one
/// knows it. Every Sentinel failing: `backend_unavailable`, naming each.
template <class Ask>
[[nodiscard]] auto ask_sentinels(const sentinel_params& s, Ask&& ask)
    -> decltype(ask(std::declval<connection&>(), std::string_view())) {
  if (s.sentinels.empty()) return fail(errc::invalid_argument, "no Sentinel given");
  if (s.master_name.empty()) return fail(errc::invalid_argument, "no Sentinel master name given");
  std::string problems;
  bool unknown = false;
  for (const auto& at : s.sentinels) {
    const std::string where = fmt::format("Sentinel {}:{}", at.host, at.port);
    connector c(detail::params_for(at, s.timeout));
    auto conn = s.sentinel_auth ? c(*s.sentinel_auth) : c.open();
    if (conn) {
      auto answer = ask(conn.value(), std::string_view(where));
      if (answer) return answer;
      unknown = unknown || answer.error().is(errc::not_found);
      problems += fmt::format("{}{}", problems.empty() ? "" : "; ", answer.error().detail);
    } else {
      problems += fmt::format("{}{}", problems.empty() ? "" : "; ", conn.error().detail);
    }
  }
  return fail(unknown ? errc::not_found : errc::backend_unavailable,
              fmt::format("no Sentinel answered for '{}': {}", s.master_name, problems));
}

/// The primary that the first reachable Sentinel names for `master_name` (`SENTINEL
/// GET-MASTER-ADDR-BY-NAME`), asked as `ask_sentinels` does.
[[nodiscard]] inline result<endpoint> ask_sentinels_for_primary(const sentinel_params& s) {
  return ask_sentinels(s, [&](connection& conn, std::string_view where) -> result<endpoint> {
    DUALCRED_TRY(addr,
                 command(conn, {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.master_name}, where));
    const redisReply* r = addr.get();
    if (r->type == REDIS_REPLY_NIL)
      return fail(errc::not_found,
                  fmt::format("{} knows no master named '{}'", where, s.master_name));
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
      return fail(errc::backend_unavailable,
                  fmt::format("{}: an unexpected reply to GET-MASTER-ADDR-BY-NAME", where));
    const int port = std::atoi(reply_text(r->element[1]).c_str());
    if (port <= 0 || port > 65535)
      return fail(errc::backend_unavailable, fmt::format("{}: a bad port in its answer", where));
    return endpoint{reply_text(r->element[0]), port};
  });
}

/// Logs in to the primary a set of Sentinels names: a `two_phase_connector`, so
/// dual_credential retries a refused password on the same TCP connection. `open()` asks the
/// Sentinels (in order, skipping unreachable ones) and connects to the primary they name;
/// `authenticate()` sends `AUTH` (and `SELECT`), then `ROLE`: an address that is not a
/// primary (a stale answer during a failover) is asked for again, at most `max_asks` times,
/// on a new connection that replaces `conn`. A user without the `ROLE` command
/// (`-@dangerous`) skips that check. Stateless after construction: safe from many threads.
class sentinel_connector {
 public:
  explicit sentinel_connector(sentinel_params p) : p_(std::move(p)) {}

  [[nodiscard]] result<connection> open() const {
    DUALCRED_TRY(at, ask_sentinels_for_primary(p_));
    return connector(detail::params_for(at, p_.timeout, p_.db)).open();
  }

  [[nodiscard]] result<void> authenticate(connection& conn, const credential& cred) const {
    for (int asked = 0;; ++asked) {
      if (!conn) return fail(errc::invalid_argument, "authenticate on a closed connection");
      const endpoint at{conn.get()->tcp.host != nullptr ? conn.get()->tcp.host : "",
                        conn.get()->tcp.port};
      const connector c(detail::params_for(at, p_.timeout, p_.db));
      DUALCRED_TRY(c.authenticate(conn, cred));
      const std::string where = fmt::format("Redis {}:{}", at.host, at.port);
      auto role = command(conn, {"ROLE"}, where);
      if (!role) {
        if (role.error().is(errc::permission_denied)) return boost::outcome_v2::success();
        return std::move(role).as_failure();
      }
      const redisReply* r = role.value().get();
      if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && reply_text(r->element[0]) == "master")
        return boost::outcome_v2::success();
      if (asked >= p_.max_asks)
        return fail(errc::backend_unavailable,
                    fmt::format("{}: Sentinel names it the primary of '{}', but it is not (asked "
                                "{} times; a failover in progress?)",
                                where, p_.master_name, asked + 1));
      std::this_thread::sleep_for(p_.ask_pause);
      DUALCRED_TRY(next, open());
      conn = std::move(next);
    }
  }

  /// `open()` then `authenticate()`: one new connection per credential.
  [[nodiscard]] result<connection> operator()(const credential& cred) const {
    DUALCRED_TRY(conn, open());
    DUALCRED_TRY(authenticate(conn, cred));
    return std::move(conn);
  }

  [[nodiscard]] const sentinel_params& config() const noexcept { return p_; }

 private:
  sentinel_params p_;
};

}  // namespace dualcred::redis
