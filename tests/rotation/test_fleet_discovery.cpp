// The fleet check against real servers on loopback: simulated instances asked at once over
// curl's multi interface, found through a static list, through dnsmasq (A records on one
// port, and SRV records) and through a Prometheus server scraping them. Every way gives the
// same verdict for each instance; Prometheus alone can tell a stale scrape, and sees a silent
// instance as an unreachable one (its scrape failed).
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/http/curl.hpp>
#include <dualcred/http/curl_multi.hpp>
#include <dualcred/rotation/fleet/http_check.hpp>
#include <dualcred/rotation/fleet/prometheus_check.hpp>
#include <dualcred_testing/fleet_servers.hpp>
#if DUALCRED_TEST_CARES
#include <dualcred/rotation/fleet/dns.hpp>
#endif

// Everything below in one namespace: the test programs are built as unity files.
namespace test_fleet_discovery {

TEST_SUITE_BEGIN("fleet_discovery");

using namespace dualcred;
using namespace dualcred::rotation;
using namespace std::chrono_literals;
using dualcred::testing::instance_spec;

constexpr std::uint64_t wanted = 5;

// Each instance by `host:port`, and where it stands.
std::map<std::string, fleet::lag> by_address(const fleet::round_result& r) {
  std::map<std::string, fleet::lag> out;
  for (const auto& v : r.instances) {
    std::string name = v.instance;
    if (name.starts_with("http://")) name = name.substr(7);
    name = name.substr(0, name.find('/'));
    out[name] = v.state;
  }
  return out;
}

fleet::round_result one_round(const fleet::http_check& check) {
  auto r = fleet::http_rounds(check)(wanted, std::chrono::steady_clock::now() + 10s);
  REQUIRE_MESSAGE(r, r.error().detail);
  return std::move(r).value();
}

// Five instances on 127.0.0.2 to .6, all on one port: ready, old, stale metrics, silent, and
// nothing listening on the last address.
struct fleet_fixture {
  int port = dualcred::testing::free_port();
  dualcred::testing::fleet_instances instances{{
      instance_spec{"127.0.0.2", port, "5"},
      instance_spec{"127.0.0.3", port, "4"},
      instance_spec{"127.0.0.4", port, "6", 0, false, 90},
      instance_spec{"127.0.0.5", port, "5", 0, true},
  }};
  std::string gone = "127.0.0.6:" + std::to_string(port);

  std::vector<std::string> addresses() const {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < instances.specs().size(); ++i) out.push_back(instances.address(i));
    out.push_back(gone);
    return out;
  }
  fleet::http_check check() const {
    fleet::http_check c;
    c.fetch_all = curl_multi_transport{};
    c.instance_timeout = 1500ms;
    c.deadline = 10s;
    return c;
  }
  const std::map<std::string, fleet::lag> expected{
      {"127.0.0.2:" + std::to_string(port), fleet::lag::none},
      {"127.0.0.3:" + std::to_string(port), fleet::lag::old_version},
      {"127.0.0.4:" + std::to_string(port), fleet::lag::none},
      {"127.0.0.5:" + std::to_string(port), fleet::lag::timed_out},
      {gone, fleet::lag::unreachable},
  };
};

TEST_CASE("fleet: a static list is asked at once, and each lagging instance says why") {
  const fleet_fixture f;
  auto check = f.check();
  for (const auto& a : f.addresses()) check.endpoints.push_back("http://" + a + "/health");
  const auto start = std::chrono::steady_clock::now();
  const auto r = one_round(check);
  CHECK(std::chrono::steady_clock::now() - start < 3s);  // one instance timeout, not several
  CHECK(by_address(r) == f.expected);

  check.deadline = 1000ms;
  const auto late = fleet::wait(check, wanted);
  REQUIRE_FALSE(late);
  CHECK(late.error().is(errc::timeout));
  const auto& why = late.error().detail;
  CHECK(why.find("3 of 5 instances did not report version 5") != std::string::npos);
  CHECK(why.find(f.instances.address(1) + "/health (version 4)") != std::string::npos);
  CHECK(why.find(f.instances.address(3) + "/health (timed out: ") != std::string::npos);
  CHECK(why.find(f.gone + "/health (unreachable: ") != std::string::npos);
}

#if DUALCRED_TEST_CARES
TEST_CASE("fleet: instances found in DNS (A records, SRV records) get the static list's verdicts") {
  const fleet_fixture f;
  std::string hosts;
  // Names under .test that it does not know are NXDOMAIN, not refused.
  std::vector<std::string> srv{"--local=/test/"};
  const auto addresses = f.addresses();
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    const auto host = addresses[i].substr(0, addresses[i].find(':'));
    hosts += host + " fleet.test\n" + host + " i" + std::to_string(i) + ".fleet.test\n";
    srv.push_back("--srv-host=_status._tcp.fleet.test,i" + std::to_string(i) + ".fleet.test," +
                  std::to_string(f.port));
  }
  const dualcred::testing::dnsmasq_server dns(hosts, srv);

  auto by_a = f.check();
  by_a.discover = fleet::dns_instances{"fleet.test", f.port, "http", "/health", dns.server()};
  CHECK(by_address(one_round(by_a)) == f.expected);

  auto by_srv = f.check();
  by_srv.discover =
      fleet::dns_instances{"_status._tcp.fleet.test", 0, "http", "/health", dns.server()};
  CHECK(by_address(one_round(by_srv)) == f.expected);

  // What the resolver cannot give is a clear error naming the name.
  const auto missing = fleet::dns_instances{"nope.test", 80, "http", "/", dns.server()}();
  REQUIRE_FALSE(missing);
  CHECK(missing.error().is(errc::not_found));
  CHECK(missing.error().detail == "dns: nope.test: no A or AAAA record");
  const auto no_port = fleet::dns_instances{"fleet.test", 0, "http", "/", dns.server()}();
  REQUIRE_FALSE(no_port);
  CHECK(no_port.error().is(errc::invalid_argument));
  const auto bad_server = fleet::dns_instances{"fleet.test", 80, "http", "/", "no server"}();
  REQUIRE_FALSE(bad_server);
  CHECK(bad_server.error().is(errc::invalid_argument));

  // A name that resolves to nothing keeps the check from passing, and says so.
  auto empty = f.check();
  empty.discover = fleet::dns_instances{"nope.test", 80, "http", "/", dns.server()};
  empty.deadline = 300ms;
  const auto never = fleet::wait(empty, wanted);
  REQUIRE_FALSE(never);
  CHECK(never.error().detail.find("dns: nope.test: no A or AAAA record") != std::string::npos);
}
#endif

TEST_CASE("fleet: Prometheus's view gives the same verdicts, and tells a stale scrape") {
  const fleet_fixture f;
  const dualcred::testing::prometheus_server prometheus(f.addresses());
  fleet::prometheus_check check{prometheus.url(),
                                std::string(fleet::default_prometheus_query),
                                30s,
                                fleet::http_fetch(curl_transport{}),
                                10s,
                                200ms};
  // Prometheus sees the instances after its first scrapes (every second).
  auto expected = f.expected;
  expected[f.instances.address(2)] = fleet::lag::stale;        // its samples are 90 s old
  expected[f.instances.address(3)] = fleet::lag::unreachable;  // its scrape timed out: up 0
  std::map<std::string, fleet::lag> seen;
  for (int i = 0; i < 100 && seen != expected; ++i) {
    std::this_thread::sleep_for(200ms);
    auto r = fleet::prometheus_verdicts(check, wanted);
    REQUIRE_MESSAGE(r, r.error().detail);
    seen = by_address(r.value());
  }
  CHECK(seen == expected);

  check.deadline = 1000ms;
  const auto late = check(fleet_request{wanted, {}});
  REQUIRE_FALSE(late);
  CHECK(late.error().is(errc::timeout));
  CHECK(late.error().detail.find(f.instances.address(2) + " (stale: last scraped") !=
        std::string::npos);

  // A query Prometheus refuses ends the check at once.
  check.query = "timestamp(";
  const auto refused = check(fleet_request{wanted, {}});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().is(errc::malformed));
}

TEST_SUITE_END();

}  // namespace test_fleet_discovery
