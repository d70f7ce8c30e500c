#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "../error.hpp"

namespace dualcred::rotation {

/// What the rotator asks of a fleet check: wait until every instance has read store revision
/// `revision` (or a later one), telling `on_wait`, once per round of polling, how many are
/// there. The callable may ignore `on_wait`.
struct fleet_request {
  std::uint64_t revision = 0;
  std::function<void(std::size_t ready, std::size_t total)> on_wait;
};

/// The service instances that must have read the promoted credentials before the backend
/// drops the old password ("stagger removal until all instances confirm"), as a callable the
/// rotator is given (`rotator_options::instances`). It returns success once every instance
/// holds `fleet_request::revision`, `errc::timeout` when its own deadline passes first, or
/// another error for an instance that cannot be read. How instances are asked is the
/// callable's business: `fleet::http_check` (dualcred/rotation/fleet/http_check.hpp, needs
/// nlohmann_json) polls their status JSON, every instance at once over a
/// `curl_multi_transport`, from a fixed list or one `fleet::dns_instances` (fleet/dns.hpp,
/// needs c-ares) finds; `fleet::prometheus_check` (fleet/prometheus_check.hpp) reads what
/// Prometheus last scraped from them instead.
using fleet_check = std::function<result<void>(const fleet_request&)>;

}  // namespace dualcred::rotation
