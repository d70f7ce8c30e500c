#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

// soci.h first: SOCI's own headers lean on the macros it defines (SOCI_DECL).
#include <soci/soci.h>

#include <soci/callbacks.h>
#include <soci/connection-pool.h>
#include <soci/postgresql/soci-postgresql.h>

#include "../credential_tag.hpp"
#include "../detail/secure_zero.hpp"
#include "../error.hpp"
#include "../secret.hpp"
#include "libpq.hpp"

namespace dualcred::soci_pg {

// Why this shape. SOCI's PostgreSQL backend logs in itself (PQconnectdb on a connect string)
// and reports a failed login as a plain soci_error with the server's message: no SQLSTATE, so
// a refused password cannot be told from an unreachable server but by message text. So the
// fallback runs through dualcred's libpq connector (SQLSTATE 28P01/28000, or the params'
// sqlstate_rules), and SOCI then logs in with the credential that libpq login proved. That is
// one short extra login per session opened (sessions are long-lived; the happy path of a
// query is untouched). The same proven credential is what the failover callback hands SOCI
// when it reconnects. SOCI keeps the connect string, password included, for its own
// reconnects and does not zero it: that copy is out of dualcred's hands.

/// The libpq conninfo SOCI is given: `p`'s settings, then the user and password, each value
/// quoted. A secret, since it holds the password.
[[nodiscard]] inline secret conninfo(const pg::params& p, const credential& c) {
  const std::string port = std::to_string(p.port);
  const auto secs = std::chrono::ceil<std::chrono::seconds>(p.connect_timeout).count();
  const std::string timeout = secs > 0 ? std::to_string(secs < 2 ? 2 : secs) : std::string();
  const std::pair<std::string_view, std::string_view> fixed[] = {
      {"host", p.host},
      {"port", port},
      {"dbname", p.dbname},
      {"connect_timeout", timeout},
      {"sslmode", p.sslmode},
      {"sslrootcert", p.sslrootcert},
      {"application_name", p.application_name},
      {"user", c.user},
      {"password", c.password.reveal()}};
  std::size_t need = 0;  // reserved once, so no reallocation leaves a copy of the password
  for (const auto& [k, v] : fixed) need += k.size() + 2 * v.size() + 4;
  for (const auto& [k, v] : p.extra) need += k.size() + 2 * v.size() + 4;
  std::string out;
  out.reserve(need);
  auto add = [&out](std::string_view k, std::string_view v) {
    if (v.empty()) return;
    out.append(k).append("='");
    for (const char ch : v) {
      if (ch == '\\' || ch == '\'') out.push_back('\\');
      out.push_back(ch);
    }
    out.append("' ");
  };
  for (std::size_t i = 0; i + 2 < std::size(fixed); ++i) add(fixed[i].first, fixed[i].second);
  for (const auto& [k, v] : p.extra) add(k, v);
  add("user", c.user);
  add("password", c.password.reveal());
  return secret(std::move(out));
}

/// What the probe connector gives: the credential a libpq login just accepted.
struct proven_login {
  credential used;
};

/// A `dualcred::connector` for SOCI: logs in with libpq (refusals classified by SQLSTATE),
/// closes that connection, and gives the credential that worked. Use it in the
/// `dual_credential` passed to `open`, `open_session`, `open_pool` and `failover`.
class probe_connector {
 public:
  explicit probe_connector(pg::params p) : params_(std::move(p)), login_(params_) {}

  [[nodiscard]] result<proven_login> operator()(const credential& c) const {
    auto conn = login_(c);
    if (!conn) return std::move(conn).as_failure();
    return proven_login{c};
  }
  [[nodiscard]] const pg::params& params() const noexcept { return params_; }

 private:
  pg::params params_;
  pg::connector login_;
};

namespace detail {
inline result<void> open_with(soci::session& s, const pg::params& p, const credential& c) {
  const secret cs = conninfo(p, c);
  std::string arg(cs.reveal());  // SOCI takes a std::string; scrubbed below
  std::optional<error> failed;
  try {
    s.open(soci::postgresql, arg);
  } catch (const soci::soci_error& e) {
    // The login libpq just made worked: this is not a refusal to fall back on.
    failed.emplace(errc::backend_unavailable,
                   std::string("SOCI could not log in with the credential libpq just used: ") +
                       e.get_error_message());
  }
  dualcred::detail::secure_zero(arg.data(), arg.size());
  if (failed) return boost::outcome_v2::failure(std::move(*failed));
  return boost::outcome_v2::success();
}
}  // namespace detail

/// Opens `s` (closed) on PostgreSQL with the credential `creds` (a `dual_credential` over
/// `probe_connector`) proves now: CURRENT, or NEXT when CURRENT is refused.
///
/// A rotation step can come between libpq's login and SOCI's (a single role's password
/// changes at apply): when SOCI's login fails and libpq now refuses that credential too, the
/// fallback runs again, up to three times in all.
template <class Creds>
[[nodiscard]] result<void> open(soci::session& s, Creds& creds) {
  for (int attempt = 1;; ++attempt) {
    auto login = creds.connect();
    if (!login) return std::move(login).as_failure();
    auto opened = detail::open_with(s, creds.connector().params(), login.value().used);
    if (opened || attempt == 3) return opened;
    auto again = creds.connector()(login.value().used);
    if (again || again.error().code != errc::auth_rejected) return opened;
  }
}

/// A new session opened through `creds`.
template <class Creds>
[[nodiscard]] result<std::unique_ptr<soci::session>> open_session(Creds& creds) {
  auto s = std::make_unique<soci::session>();
  auto opened = open(*s, creds);
  if (!opened) return std::move(opened).as_failure();
  return s;
}

/// Opens each of the first `size` sessions of `pool` (made with that size) through `creds`;
/// stops at the first failure, naming its index.
template <class Creds>
[[nodiscard]] result<void> open_pool(soci::connection_pool& pool, std::size_t size, Creds& creds) {
  for (std::size_t i = 0; i < size; ++i) {
    auto opened = open(pool.at(i), creds);
    if (!opened)
      return boost::outcome_v2::failure(
          error(opened.error().code,
                "session " + std::to_string(i) + " of the SOCI pool: " + opened.error().detail));
  }
  return boost::outcome_v2::success();
}

/// A `soci::failover_callback` for one session: when SOCI's backend finds the connection
/// lost and reconnects, `failed` logs in through `creds` (falling back to NEXT when CURRENT
/// is refused, reloading when both are) and hands SOCI that credential's connect string.
/// `creds` must outlive the session. Set it with `session.set_failover_callback(cb)`.
template <class Creds>
class failover : public soci::failover_callback {
 public:
  explicit failover(Creds& creds) : creds_(creds) {}

  void failed(bool& retry, std::string& new_target) override {
    credential_tag tag;
    auto login = creds_.connect(tag);
    retry = static_cast<bool>(login);
    if (!login) {
      refusals_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const secret cs = conninfo(creds_.connector().params(), login.value().used);
    new_target.assign(cs.reveal());  // SOCI's string: it keeps it for later reconnects
    last_slot_.store(tag.which, std::memory_order_relaxed);
    supplied_.fetch_add(1, std::memory_order_relaxed);
  }

  /// Connect strings handed to SOCI, and the slot of the last one.
  [[nodiscard]] std::uint64_t supplied() const noexcept { return supplied_.load(); }
  [[nodiscard]] slot last_slot() const noexcept { return last_slot_.load(); }
  /// Reconnects given up because no credential was accepted (SOCI then calls `aborted`).
  [[nodiscard]] std::uint64_t refusals() const noexcept { return refusals_.load(); }

 private:
  Creds& creds_;
  std::atomic<std::uint64_t> supplied_{0};
  std::atomic<std::uint64_t> refusals_{0};
  std::atomic<slot> last_slot_{slot::current};
};

}  // namespace dualcred::soci_pg
