#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace dualcred::pool {

/// Open connections on one credential: idle in the pool or lent out.
struct credential_counts {
  std::size_t idle = 0;
  std::size_t lent = 0;
  [[nodiscard]] std::size_t open() const noexcept { return idle + lent; }
};

/// What `connection_pool::stats()` reports: open connections by the slot that holds their
/// credential now (`retired`: neither does, the password left the set), and totals since the
/// pool was made. Before an old password is decommissioned, `retired.open()` must be 0.
struct counts {
  credential_counts current, next, retired;
  std::size_t opening = 0;  ///< connects in flight for a borrow
  std::uint64_t opened = 0;
  std::uint64_t closed_retired = 0;    ///< closed because their credential left the set
  std::uint64_t closed_expired = 0;    ///< past `max_lifetime` or `max_idle`
  std::uint64_t closed_invalid = 0;    ///< failed validation, or discarded by a borrower
  std::uint64_t borrow_timeouts = 0;   ///< borrows that found none free in time
  std::uint64_t connect_failures = 0;  ///< borrows whose connect failed

  [[nodiscard]] std::size_t open() const noexcept {
    return current.open() + next.open() + retired.open();
  }
};

namespace detail {
// A label value in the text exposition: backslash, double quote and newline escaped.
inline std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}
}  // namespace detail

/// The counts in the Prometheus text format (one family per kind), labelled with `pool`.
inline std::string to_prometheus(const counts& c, std::string_view pool) {
  const std::string p = detail::escape_label(pool);
  std::string out =
      "# HELP dualcred_pool_connections Open pooled connections by the slot holding their "
      "credential now (retired: neither) and state.\n"
      "# TYPE dualcred_pool_connections gauge\n";
  for (const auto& [name, cc] :
       {std::pair<const char*, const credential_counts&>{"current", c.current},
        {"next", c.next},
        {"retired", c.retired}}) {
    for (const auto& [state, n] :
         {std::pair<const char*, std::size_t>{"idle", cc.idle}, {"lent", cc.lent}})
      out += fmt::format(
          "dualcred_pool_connections{{pool=\"{}\",credential=\"{}\",state=\"{}\"}} {}\n", p, name,
          state, n);
  }
  out +=
      "# HELP dualcred_pool_closed_total Pooled connections closed, by reason.\n"
      "# TYPE dualcred_pool_closed_total counter\n";
  for (const auto& [reason, n] :
       {std::pair<const char*, std::uint64_t>{"retired", c.closed_retired},
        {"expired", c.closed_expired},
        {"invalid", c.closed_invalid}})
    out +=
        fmt::format("dualcred_pool_closed_total{{pool=\"{}\",reason=\"{}\"}} {}\n", p, reason, n);
  out += fmt::format(
      "# HELP dualcred_pool_opened_total Pooled connections opened.\n"
      "# TYPE dualcred_pool_opened_total counter\n"
      "dualcred_pool_opened_total{{pool=\"{0}\"}} {1}\n"
      "# HELP dualcred_pool_borrow_failures_total Borrows that failed, by cause.\n"
      "# TYPE dualcred_pool_borrow_failures_total counter\n"
      "dualcred_pool_borrow_failures_total{{pool=\"{0}\",cause=\"timeout\"}} {2}\n"
      "dualcred_pool_borrow_failures_total{{pool=\"{0}\",cause=\"connect\"}} {3}\n",
      p, c.opened, c.borrow_timeouts, c.connect_failures);
  return out;
}

/// The counts as a JSON object for a /health body, e.g. under a "pool" key.
inline std::string to_json(const counts& c) {
  auto one = [](const credential_counts& cc) {
    return fmt::format(R"({{"open":{},"idle":{},"lent":{}}})", cc.open(), cc.idle, cc.lent);
  };
  return fmt::format(
      R"({{"current":{},"next":{},"retired":{},"opening":{},"opened":{},"closed_retired":{},)"
      R"("closed_expired":{},"closed_invalid":{},"borrow_timeouts":{},"connect_failures":{}}})",
      one(c.current), one(c.next), one(c.retired), c.opening, c.opened, c.closed_retired,
      c.closed_expired, c.closed_invalid, c.borrow_timeouts, c.connect_failures);
}

}  // namespace dualcred::pool
