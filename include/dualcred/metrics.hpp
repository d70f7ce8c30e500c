#pragma once

#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <span>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "health.hpp"
#include "metric_families.hpp"
#include "secret.hpp"
#include "status.hpp"

namespace dualcred {

/// The Content-Type of `metrics_text`'s output (Prometheus text exposition format 0.0.4).
inline constexpr std::string_view prometheus_content_type =
    "text/plain; version=0.0.4; charset=utf-8";

namespace detail {

// A label value in the text format: backslash, double quote and newline escaped.
template <class Out>
Out write_label_value(Out out, std::string_view s) {
  for (const char c : s) {
    switch (c) {
      case '\\':
        out = fmt::format_to(out, "\\\\");
        break;
      case '"':
        out = fmt::format_to(out, "\\\"");
        break;
      case '\n':
        out = fmt::format_to(out, "\\n");
        break;
      default:
        *out++ = c;
    }
  }
  return out;
}

template <class Out>
Out write_family_header(Out out, std::string_view name, std::string_view type,
                        std::string_view help) {
  return fmt::format_to(out, "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// `name{backend="...",extra_label="extra_value"} value`; `extra_label` may be empty.
template <class Out>
Out write_sample(Out out, std::string_view name, std::string_view backend,
                 std::string_view extra_label, std::string_view extra_value, std::uint64_t value) {
  out = fmt::format_to(out, "{}{{backend=\"", name);
  out = write_label_value(out, backend);
  *out++ = '"';
  if (!extra_label.empty()) {
    out = fmt::format_to(out, ",{}=\"", extra_label);
    out = write_label_value(out, extra_value);
    *out++ = '"';
  }
  return fmt::format_to(out, "}} {}\n", value);
}

}  // namespace detail

/// Several instances' counters in the Prometheus text exposition format, one metric family
/// at a time (as the format requires), each sample labelled `backend="<name>"`:
///
///     # HELP dualcred_connects_total Successful connects, by the slot whose credential worked.
///     # TYPE dualcred_connects_total counter
///     dualcred_connects_total{backend="postgres",slot="current"} 12
///     dualcred_connects_total{backend="postgres",slot="next"} 3
///
/// Families: `dualcred_connects_total`, `dualcred_fallbacks_total`,
/// `dualcred_all_rejected_total`, `dualcred_reloads_total`, `dualcred_reload_failures_total`
/// (counters); `dualcred_preferred_slot{slot=...}` (1 for the preferred slot, 0 for the other),
/// `dualcred_healthy` (`dualcred::healthy`, 1 or 0) and
/// `dualcred_credential_info{version=...}` (always 1; the version in use is the label).
/// Label values are escaped; nothing secret is in a status, so nothing secret is written.
[[nodiscard]] inline std::string metrics_text(std::span<const named_status> instances) {
  fmt::memory_buffer buf;
  auto out = std::back_inserter(buf);
  // Names, help, labels and values come from the one table every exposition shares.
  metric_families::visit(
      instances,
      [&](const metric_families::family& f) {
        out = detail::write_family_header(out, f.name, metric_families::type_name(f.type), f.help);
      },
      [&](const metric_families::sample& s) {
        out = detail::write_sample(out, s.of.name, s.backend, s.label, s.label_value, s.value);
      });
  return fmt::to_string(buf);
}

/// `metrics_text({{"postgres", pg.snapshot()}, ...})`.
[[nodiscard]] inline std::string metrics_text(std::initializer_list<named_status> instances) {
  return metrics_text(std::span<const named_status>(instances.begin(), instances.size()));
}

}  // namespace dualcred
