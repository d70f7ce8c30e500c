#pragma once

#include <cstdint>
#include <string>
#include <system_error>

#include <fmt/format.h>

#include "detail/json.hpp"
#include "error.hpp"
#include "secret.hpp"

namespace dualcred {

/// A point-in-time view of one dual_credential, for health endpoints and metrics.
/// Counters only grow. Nothing in it is secret.
struct status {
  std::uint64_t connects_via_current = 0;
  std::uint64_t connects_via_next = 0;
  std::uint64_t fallbacks = 0;  ///< connects where the preferred slot was refused
  std::uint64_t all_rejected = 0;
  /// Successful connects since the most recent all_rejected (all of them when there was none):
  /// how a health check tells an instance that recovered from one that is still locked out.
  std::uint64_t connects_since_all_rejected = 0;
  std::uint64_t reloads = 0;  ///< provider loads that succeeded
  std::uint64_t reload_failures = 0;
  slot preferred = slot::current;
  std::string version;  ///< the loaded set's version; empty before the first load
  /// The version of the oldest set a connect still in flight may be using: `version` when
  /// none holds an older one. A rotation waits for it before the backend drops a password,
  /// since a slow login started earlier would try only the older set's credentials.
  std::string oldest_version_in_use;
  std::error_code last_error;  ///< the most recent failure's code; empty when none
};

}  // namespace dualcred

/// One JSON object, e.g. `{"connects_via_current":3,...,"preferred":"current",
/// "version":"7","oldest_version_in_use":"7","last_error":"auth_rejected"}`.
template <>
struct fmt::formatter<dualcred::status> {
  constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) { return ctx.begin(); }
  auto format(const dualcred::status& s, format_context& ctx) const -> decltype(ctx.out()) {
    auto out =
        fmt::format_to(ctx.out(),
                       R"({{"connects_via_current":{},"connects_via_next":{},)"
                       R"("fallbacks":{},"all_rejected":{},"connects_since_all_rejected":{},)"
                       R"("reloads":{},)"
                       R"("reload_failures":{},"preferred":"{}","version":")",
                       s.connects_via_current, s.connects_via_next, s.fallbacks, s.all_rejected,
                       s.connects_since_all_rejected, s.reloads, s.reload_failures,
                       dualcred::to_string(s.preferred));
    out = dualcred::detail::write_json_escaped(out, s.version);
    out = fmt::format_to(out, R"(","oldest_version_in_use":")");
    out = dualcred::detail::write_json_escaped(out, s.oldest_version_in_use);
    out = fmt::format_to(out, R"(","last_error":)");
    if (!s.last_error) return fmt::format_to(out, "null}}");
    *out++ = '"';
    out = dualcred::detail::write_json_escaped(out, dualcred::detail::error_name(s.last_error));
    return fmt::format_to(out, "\"}}");
  }
};
