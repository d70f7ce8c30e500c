// dualcred-rotate's fleet check found through DNS (dnsmasq) and through Prometheus, run
// against the Redis fixture and a file store: lagging instances stop `apply` with exit 8,
// each named with why, within --fleet-timeout plus a second; up-to-date ones let it pass.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <dualcred/http/curl.hpp>
#include <dualcred/rotation/fleet/prometheus_check.hpp>
#include <dualcred_testing/fleet_servers.hpp>
#include <dualcred_testing/temp_dir.hpp>
#include "rotation/rotation_helpers.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_fleet_command {

TEST_SUITE_BEGIN("fleet_command");

using namespace dualcred;
using rotation_tests::redis_fixture;
using testing::instance_spec;
using namespace std::chrono_literals;

namespace {
struct admin_password {
  explicit admin_password(const std::string& pw) {
    ::setenv("REDIS_ADMIN_PASSWORD", pw.c_str(), 1);
  }
  ~admin_password() { ::unsetenv("REDIS_ADMIN_PASSWORD"); }
};

// Instances on 127.0.0.2 and .3, one port, answering `version`; the second silent if asked.
struct two_instances {
  int port = testing::free_port();
  testing::fleet_instances instances;
  testing::dnsmasq_server dns;
  two_instances(const std::string& version, bool second_silent)
      : instances({instance_spec{"127.0.0.2", port, version},
                   instance_spec{"127.0.0.3", port, version, 0, second_silent}}),
        dns("127.0.0.2 fleet.test\n127.0.0.3 fleet.test\n", {"--local=/test/"}) {}
};
}  // namespace

TEST_CASE("rotate: apply waits for instances found in DNS or Prometheus, naming laggards") {
  testing::temp_dir dir;
  redis_fixture().set_user("fleetcmd", {"fleetcmd-seed-password"});
  const std::string path =
      dir.write("app.env", "REDIS_USER=fleetcmd\nREDIS_PASS_CURRENT=fleetcmd-seed-password\n");
  const admin_password env(redis_fixture().admin_password());
  const std::string flags = "--backend redis --redis-host 127.0.0.1 --redis-port " +
                            std::to_string(redis_fixture().port()) + " --redis-admin-user " +
                            redis_fixture().admin_user() + " --file " + path;
  REQUIRE(rotation_tests::run_rotate_tool(flags + " prepare").code == 0);

  {
    const two_instances old("0", true);
    const auto start = std::chrono::steady_clock::now();
    const auto r = rotation_tests::run_rotate_tool(
        flags + " --instances-dns fleet.test:" + std::to_string(old.port) + " --dns-server " +
        old.dns.server() + " --instance-timeout 0.5 --fleet-timeout 1.5 apply");
    CHECK(std::chrono::steady_clock::now() - start < 5s);  // 1.5 s, and the tool's start
    CHECK_MESSAGE(r.code == 8, r.output);
    CHECK(r.output.find(old.instances.address(0) + "/health (version 0)") != std::string::npos);
    CHECK(r.output.find(old.instances.address(1) + "/health (timed out: ") != std::string::npos);

    const testing::prometheus_server prometheus(
        {old.instances.address(0), old.instances.address(1)});
    // Its first scrapes of both, as the library sees them.
    const rotation::fleet::prometheus_check seen{
        prometheus.url(),
        std::string(rotation::fleet::default_prometheus_query),
        60s,
        rotation::fleet::http_fetch(curl_transport{}),
        1s,
        100ms};
    for (int i = 0; i < 100; ++i) {
      const auto v = rotation::fleet::prometheus_verdicts(seen, 1);
      if (v && v.value().instances.size() == 2) break;
      std::this_thread::sleep_for(200ms);
    }
    const auto p = rotation_tests::run_rotate_tool(flags + " --prometheus " + prometheus.url() +
                                                   " --fleet-timeout 1.5 apply");
    CHECK_MESSAGE(p.code == 8, p.output);
    CHECK(p.output.find(old.instances.address(0) + " (version 0)") != std::string::npos);
    CHECK(p.output.find(old.instances.address(1) + " (unreachable: ") != std::string::npos);
  }

  const two_instances fresh("999", false);
  const auto ok = rotation_tests::run_rotate_tool(
      flags + " --instances-dns fleet.test --instances-port " + std::to_string(fresh.port) +
      " --dns-server " + fresh.dns.server() + " --fleet-timeout 10 apply");
  CHECK_MESSAGE(ok.code == 0, ok.output);
}

TEST_SUITE_END();

}  // namespace test_fleet_command
