#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "../detail/prometheus_text.hpp"

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

/// The counts in the Prometheus text format (one family per kind), labelled with `pool`.
inline std::string to_prometheus(const counts& c, std::string_view pool) {
  using dualcred::detail::write_prometheus_family;
  using dualcred::detail::write_prometheus_sample;
  fmt::memory_buffer buf;
  auto out = std::back_inserter(buf);
  out = write_prometheus_family(out, "dualcred_pool_connections", "gauge",
                                "Open pooled connections by the slot holding their credential "
                                "now (retired: neither) and state.");
  for (const auto& [name, cc] :
       {std::pair<std::string_view, const credential_counts&>{"current", c.current},
        {"next", c.next},
        {"retired", c.retired}}) {
    for (const auto& [state, n] :
         {std::pair<std::string_view, std::size_t>{"idle", cc.idle}, {"lent", cc.lent}})
      out = write_prometheus_sample(out, "dualcred_pool_connections",
                                    {{"pool", pool}, {"credential", name}, {"state", state}}, n);
  }
  out = write_prometheus_family(out, "dualcred_pool_closed_total", "counter",
                                "Pooled connections closed, by reason.");
  for (const auto& [reason, n] :
       {std::pair<std::string_view, std::uint64_t>{"retired", c.closed_retired},
        {"expired", c.closed_expired},
        {"invalid", c.closed_invalid}})
    out = write_prometheus_sample(out, "dualcred_pool_closed_total",
                                  {{"pool", pool}, {"reason", reason}}, n);
  out = write_prometheus_family(out, "dualcred_pool_opened_total", "counter",
                                "Pooled connections opened.");
  out = write_prometheus_sample(out, "dualcred_pool_opened_total", {{"pool", pool}}, c.opened);
  out = write_prometheus_family(out, "dualcred_pool_borrow_failures_total", "counter",
                                "Borrows that failed, by cause.");
  out = write_prometheus_sample(out, "dualcred_pool_borrow_failures_total",
                                {{"pool", pool}, {"cause", "timeout"}}, c.borrow_timeouts);
  out = write_prometheus_sample(out, "dualcred_pool_borrow_failures_total",
                                {{"pool", pool}, {"cause", "connect"}}, c.connect_failures);
  return fmt::to_string(buf);
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
