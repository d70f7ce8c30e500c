#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "health.hpp"
#include "secret.hpp"
#include "status.hpp"

namespace dualcred::metric_families {

/// The metric families of a dual_credential's status: one table for every exposition (the
/// text of `metrics_text`, the prometheus-cpp collectable), so names and help cannot drift.
enum class kind { counter, gauge };

struct family {
  std::string_view name;
  kind type;
  std::string_view help;
};

[[nodiscard]] constexpr std::string_view type_name(kind k) noexcept {
  return k == kind::counter ? "counter" : "gauge";
}

inline constexpr family connects{"dualcred_connects_total", kind::counter,
                                 "Successful connects, by the slot whose credential worked."};
inline constexpr family fallbacks{
    "dualcred_fallbacks_total", kind::counter,
    "Connects where the preferred credential was refused and the other one worked."};
inline constexpr family all_rejected{"dualcred_all_rejected_total", kind::counter,
                                     "Connects that failed because every credential was refused."};
inline constexpr family reloads{"dualcred_reloads_total", kind::counter,
                                "Successful reads of the secret provider."};
inline constexpr family reload_failures{
    "dualcred_reload_failures_total", kind::counter,
    "Failed reads of the secret provider (the previous credentials stayed in use)."};
inline constexpr family preferred_slot{"dualcred_preferred_slot", kind::gauge,
                                       "1 for the slot connects try first, 0 for the other."};
inline constexpr family healthy{"dualcred_healthy", kind::gauge,
                                "1 when a credential set is loaded and a connect has succeeded "
                                "since every credential was last refused."};
inline constexpr family credential_info{"dualcred_credential_info", kind::gauge,
                                        "The version of the credential set in use, as a label."};

/// One sample: `name{backend="<backend>",<label>="<label_value>"} value`; `label` may be
/// empty. The views live as long as the statuses visited.
struct sample {
  const family& of;
  std::string_view backend;
  std::string_view label;
  std::string_view label_value;
  std::uint64_t value;
};

/// Calls `on_family(const family&)` and then `on_sample(const sample&)` for each of its
/// samples (one per instance, or per instance and slot), family by family, in the order
/// `metrics_text` writes them.
template <class OnFamily, class OnSample>
void visit(std::span<const named_status> instances, OnFamily&& on_family, OnSample&& on_sample) {
  on_family(connects);
  for (const auto& i : instances) {
    on_sample(sample{connects, i.name, "slot", "current", i.value.connects_via_current});
    on_sample(sample{connects, i.name, "slot", "next", i.value.connects_via_next});
  }
  const struct {
    const family& f;
    std::uint64_t status::*field;
  } counters[] = {{fallbacks, &status::fallbacks},
                  {all_rejected, &status::all_rejected},
                  {reloads, &status::reloads},
                  {reload_failures, &status::reload_failures}};
  for (const auto& c : counters) {
    on_family(c.f);
    for (const auto& i : instances) on_sample(sample{c.f, i.name, {}, {}, i.value.*c.field});
  }
  on_family(preferred_slot);
  for (const auto& i : instances)
    for (const slot s : {slot::current, slot::next})
      on_sample(
          sample{preferred_slot, i.name, "slot", to_string(s), i.value.preferred == s ? 1u : 0u});
  on_family(healthy);
  for (const auto& i : instances)
    on_sample(sample{healthy, i.name, {}, {}, dualcred::healthy(i.value) ? 1u : 0u});
  on_family(credential_info);
  for (const auto& i : instances)
    on_sample(sample{credential_info, i.name, "version", i.value.version, 1});
}

}  // namespace dualcred::metric_families
