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

  out = write_prometheus_family(out, "dualcred_connects_total", "counter",
                                "Successful connects, by the slot whose credential worked.");
  for (const auto& i : instances) {
    out = write_prometheus_sample(out, "dualcred_connects_total",
                                  {{"backend", i.name}, {"slot", "current"}},
                                  i.value.connects_via_current);
    out =
        write_prometheus_sample(out, "dualcred_connects_total",
                                {{"backend", i.name}, {"slot", "next"}}, i.value.connects_via_next);
  }

  struct counter {
    std::string_view name;
    std::string_view help;
    std::uint64_t status::*field;
  };
  static constexpr counter counters[] = {
      {"dualcred_fallbacks_total",
       "Connects where the preferred credential was refused and the other one worked.",
       &status::fallbacks},
      {"dualcred_all_rejected_total", "Connects that failed because every credential was refused.",
       &status::all_rejected},
      {"dualcred_reloads_total", "Successful reads of the secret provider.", &status::reloads},
      {"dualcred_reload_failures_total",
       "Failed reads of the secret provider (the previous credentials stayed in use).",
       &status::reload_failures},
  };
  for (const auto& c : counters) {
    out = write_prometheus_family(out, c.name, "counter", c.help);
    for (const auto& i : instances)
      out = write_prometheus_sample(out, c.name, {{"backend", i.name}}, i.value.*c.field);
  }

  out = write_prometheus_family(out, "dualcred_preferred_slot", "gauge",
                                "1 for the slot connects try first, 0 for the other.");
  for (const auto& i : instances) {
    for (const slot s : {slot::current, slot::next})
      out = write_prometheus_sample(out, "dualcred_preferred_slot",
                                    {{"backend", i.name}, {"slot", to_string(s)}},
                                    i.value.preferred == s ? 1 : 0);
  }

  out = write_prometheus_family(out, "dualcred_healthy", "gauge",
                                "1 when a credential set is loaded and a connect has succeeded "
                                "since every credential was last refused.");
  for (const auto& i : instances)
    out = write_prometheus_sample(out, "dualcred_healthy", {{"backend", i.name}},
                                  healthy(i.value) ? 1 : 0);

  out = write_prometheus_family(out, "dualcred_credential_info", "gauge",
                                "The version of the credential set in use, as a label.");
  for (const auto& i : instances)
    out = write_prometheus_sample(out, "dualcred_credential_info",
                                  {{"backend", i.name}, {"version", i.value.version}}, 1);
  return fmt::to_string(buf);
}

/// `metrics_text({{"postgres", pg.snapshot()}, ...})`.
[[nodiscard]] inline std::string metrics_text(std::initializer_list<named_status> instances) {
  return metrics_text(std::span<const named_status>(instances.begin(), instances.size()));
}

}  // namespace dualcred
