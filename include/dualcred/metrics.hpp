#pragma once

#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <span>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "detail/prometheus_text.hpp"
#include "health.hpp"
#include "metric_families.hpp"
#include "secret.hpp"
#include "status.hpp"

namespace dualcred {

/// The Content-Type of `metrics_text`'s output (Prometheus text exposition format 0.0.4).
inline constexpr std::string_view prometheus_content_type =
    "text/plain; version=0.0.4; charset=utf-8";

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
  using detail::write_prometheus_family;
  using detail::write_prometheus_sample;
  fmt::memory_buffer buf;
  auto out = std::back_inserter(buf);
  // Names, help, labels and values come from the one table every exposition shares.
  metric_families::visit(
      instances,
      [&](const metric_families::family& f) {
        out = write_prometheus_family(out, f.name, metric_families::type_name(f.type), f.help);
      },
      [&](const metric_families::sample& s) {
        if (s.label.empty())
          out = write_prometheus_sample(out, s.of.name, {{"backend", s.backend}}, s.value);
        else
          out = write_prometheus_sample(
              out, s.of.name, {{"backend", s.backend}, {s.label, s.label_value}}, s.value);
      });
  return fmt::to_string(buf);
}

/// `metrics_text({{"postgres", pg.snapshot()}, ...})`.
[[nodiscard]] inline std::string metrics_text(std::initializer_list<named_status> instances) {
  return metrics_text(std::span<const named_status>(instances.begin(), instances.size()));
}

}  // namespace dualcred
