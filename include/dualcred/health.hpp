#pragma once

#include <initializer_list>
#include <iterator>
#include <span>
#include <string>
#include <system_error>

#include <fmt/format.h>

#include "detail/json.hpp"
#include "error.hpp"
#include "status.hpp"

namespace dualcred {

/// One dual_credential's snapshot under the name a health endpoint shows it by
/// (`"postgres"`, `"redis"`, `"orders-db"`).
struct named_status {
  std::string name;
  status value;
};

/// Whether one instance is fit to serve: a credential set has been loaded, and either no
/// connect ever found every credential refused or one has succeeded since the last time.
///
/// Other failures (an unreachable backend, a timeout) are not credential problems and leave
/// it healthy. Pass your own predicate to `health_json` for a stricter or looser probe.
[[nodiscard]] inline bool healthy(const status& s) noexcept {
  return s.reloads > 0 && (s.all_rejected == 0 || s.connects_since_all_rejected > 0);
}

/// Whether every instance is healthy (`true` for none).
template <class IsOk = bool (*)(const status&) noexcept>
[[nodiscard]] bool all_healthy(std::span<const named_status> instances, IsOk is_ok = &healthy) {
  for (const auto& i : instances)
    if (!is_ok(i.value)) return false;
  return true;
}

/// Several instances' snapshots as one JSON object for a `/health` endpoint: `"ok"` first,
/// then each instance's status object under its name, exactly as `fmt::format("{}", status)`
/// writes it, so a poller can read any instance's `"version"`.
///
/// \requires names are unique and not `"ok"` (JSON consumers keep only one of equal keys).
///
/// **Example**
///
///     dualcred::health_json({{"postgres", pg.snapshot()}, {"redis", rd.snapshot()}})
///     // {"ok":true,"postgres":{"connects_via_current":12,...,"version":"7",...},
///     //  "redis":{...}}
template <class IsOk = bool (*)(const status&) noexcept>
[[nodiscard]] std::string health_json(std::span<const named_status> instances,
                                      IsOk is_ok = &healthy) {
  fmt::memory_buffer buf;
  auto out = fmt::format_to(std::back_inserter(buf), R"({{"ok":{})", all_healthy(instances, is_ok));
  for (const auto& i : instances) {
    out = fmt::format_to(out, ",\"");
    out = detail::write_json_escaped(out, i.name);
    out = fmt::format_to(out, "\":{}", i.value);
  }
  *out++ = '}';
  return fmt::to_string(buf);
}

/// `health_json({{"postgres", pg.snapshot()}, ...})`.
[[nodiscard]] inline std::string health_json(std::initializer_list<named_status> instances) {
  return health_json(std::span<const named_status>(instances.begin(), instances.size()));
}

}  // namespace dualcred
