#pragma once

#include <concepts>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "../metric_families.hpp"
#include "../status.hpp"

namespace dualcred::metrics {

/// A prometheus-cpp `Collectable` for a service that already has a registry or an `Exposer`:
/// the same families, names, help, labels and values as `dualcred::metrics_text`, read from
/// each instance's `snapshot()` at every scrape.
///
///     auto dc_metrics = std::make_shared<dualcred::metrics::collectable>();
///     dc_metrics->add("postgres", pg_creds);          // any object with snapshot()
///     exposer.RegisterCollectable(dc_metrics);         // prometheus::Exposer, or a Registry
///
/// The instances added must outlive the collectable (or stay registered only while they
/// live). `add` and `Collect` may run on different threads.
class collectable : public prometheus::Collectable {
 public:
  /// Scrapes `snapshot()` as the instance labelled `backend="<name>"`.
  void add(std::string name, std::function<status()> snapshot) {
    std::lock_guard lock(mutex_);
    sources_.push_back({std::move(name), std::move(snapshot)});
  }

  /// `add(name, [&creds] { return creds.snapshot(); })`.
  template <class Creds>
  requires requires(const Creds& c) {
    { c.snapshot() } -> std::convertible_to<status>;
  }
  void add(std::string name, const Creds& creds) {
    add(std::move(name), [&creds] { return creds.snapshot(); });
  }

  [[nodiscard]] std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<named_status> instances;
    {
      std::lock_guard lock(mutex_);
      instances.reserve(sources_.size());
      for (const auto& s : sources_) instances.push_back({s.name, s.snapshot()});
    }
    return families_of(instances);
  }

  /// The families for these statuses, as `Collect` returns them.
  [[nodiscard]] static std::vector<prometheus::MetricFamily> families_of(
      std::span<const named_status> instances) {
    std::vector<prometheus::MetricFamily> out;
    metric_families::visit(
        instances,
        [&](const metric_families::family& f) {
          out.push_back({std::string(f.name),
                         std::string(f.help),
                         f.type == metric_families::kind::counter ? prometheus::MetricType::Counter
                                                                  : prometheus::MetricType::Gauge,
                         {}});
        },
        [&](const metric_families::sample& s) {
          prometheus::ClientMetric m;
          m.label.push_back({"backend", std::string(s.backend)});
          if (!s.label.empty())
            m.label.push_back({std::string(s.label), std::string(s.label_value)});
          // Counts beyond 2^53 lose precision as a double: the format's number type.
          const auto v = static_cast<double>(s.value);
          if (s.of.type == metric_families::kind::counter)
            m.counter.value = v;
          else
            m.gauge.value = v;
          out.back().metric.push_back(std::move(m));
        });
    return out;
  }

 private:
  struct source {
    std::string name;
    std::function<status()> snapshot;
  };
  mutable std::mutex mutex_;
  std::vector<source> sources_;
};

}  // namespace dualcred::metrics
