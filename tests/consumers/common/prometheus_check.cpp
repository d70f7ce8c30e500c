// The prometheus part: its header and prometheus-cpp's own flags.
#include <cstdio>
#include <memory>

#include <prometheus/registry.h>
#include <dualcred/dualcred.hpp>
#include <dualcred/metrics/prometheus_cpp.hpp>

int main() {
  auto c = std::make_shared<dualcred::metrics::collectable>();
  c->add("db", [] { return dualcred::status{}; });
  prometheus::Registry registry;
  const auto families = c->Collect();
  std::printf("%zu families\n", families.size());
  return families.empty() ? 1 : 0;
}
