// The fleet check over a large fleet: DUALCRED_FLEET_INSTANCES simulated instances (default
// 100; the full run is 1000) spread over loopback addresses and ports, 5% of them answering
// after 2 s and 1% never. One round asks them all at once, so it takes about the slowest
// instance's time, not their sum; the whole check's deadline holds within a second.
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/http/curl_multi.hpp>
#include <dualcred/rotation/fleet/http_check.hpp>
#include <dualcred_testing/fleet_servers.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_fleet_scale {

TEST_SUITE_BEGIN("fleet_scale");

using namespace dualcred;
using namespace dualcred::rotation;
using namespace std::chrono_literals;
using dualcred::testing::instance_spec;

std::size_t fleet_size() {
  const char* v = std::getenv("DUALCRED_FLEET_INSTANCES");
  const long n = v != nullptr ? std::strtol(v, nullptr, 10) : 100;
  return static_cast<std::size_t>(n >= 10 ? n : 100);
}

// Instance i: 127.0.X.Y, 200 addresses per third octet, a port of the kernel's choice.
std::vector<instance_spec> simulated_fleet(std::size_t n) {
  std::vector<instance_spec> out;
  for (std::size_t i = 0; i < n; ++i) {
    instance_spec s;
    s.host = "127.0." + std::to_string(1 + i / 200) + "." + std::to_string(2 + i % 200);
    s.version = "5";
    if (i % 20 == 1) s.delay_ms = 2000;  // 5% slow
    if (i % 100 == 7) s.silent = true;   // 1% silent
    out.push_back(s);
  }
  return out;
}

TEST_CASE("fleet: a thousand instances, some slow or silent, are asked in one bounded round") {
  const std::size_t n = fleet_size();
  const dualcred::testing::fleet_instances fleet(simulated_fleet(n));
  fleet::http_check check;
  for (std::size_t i = 0; i < n; ++i) check.endpoints.push_back(fleet.health_url(i));
  check.fetch_all = curl_multi_transport{curl_options{}, 256};
  check.instance_timeout = 3s;
  check.deadline = 60s;

  const auto start = std::chrono::steady_clock::now();
  auto r = fleet::http_rounds(check)(5, start + check.deadline);
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_MESSAGE(r, r.error().detail);
  std::size_t ready = 0, timed_out = 0;
  for (const auto& v : r.value().instances) {
    ready += v.ready() ? 1 : 0;
    timed_out += v.state == fleet::lag::timed_out ? 1 : 0;
  }
  CHECK(ready == n - n / 100);  // the slow ones answer within their 3 s
  CHECK(timed_out == n / 100);
  // At most 10 s plus the slowest answering instance's 2 s; silent ones end at 3 s.
  CHECK(took < 12s);
  MESSAGE(n << " instances (" << n / 20 << " slow 2 s, " << n / 100
            << " silent), one round at once: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");

  // The whole check's deadline: 1 s, however many instances hang.
  check.deadline = 1s;
  const auto wait_start = std::chrono::steady_clock::now();
  const auto late = fleet::wait(check, 5);
  const auto waited = std::chrono::steady_clock::now() - wait_start;
  REQUIRE_FALSE(late);
  CHECK(late.error().is(errc::timeout));
  CHECK(waited < 2s);
  MESSAGE("deadline 1000 ms over "
          << n << " instances: returned after "
          << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count() << " ms");
}

TEST_CASE("curl_multi_transport: at most max_parallel transfers at once, answers in order") {
  std::vector<instance_spec> specs(4);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    specs[i].version = std::to_string(10 + i);
    specs[i].delay_ms = 600;
  }
  const dualcred::testing::fleet_instances slow(specs);
  std::vector<http_request> reqs;
  for (std::size_t i = 0; i < specs.size(); ++i)
    reqs.push_back(http_request{"GET", slow.health_url(i), {}, {}, 5s});
  const auto run = [&](std::size_t parallel) {
    const auto start = std::chrono::steady_clock::now();
    const auto answers = curl_multi_transport{curl_options{}, parallel}(reqs, start + 10s);
    REQUIRE(answers.size() == reqs.size());
    for (std::size_t i = 0; i < answers.size(); ++i) {
      REQUIRE_MESSAGE(answers[i], answers[i].error().detail);
      CHECK(answers[i].value().body == "{\"version\": \"" + std::to_string(10 + i) + "\"}");
    }
    return std::chrono::steady_clock::now() - start;
  };
  // Two at a time: two waves of 600 ms each, so never under 1.2 s.
  CHECK(run(2) >= 1200ms);
  // The batch's own deadline ends what is still running and sends nothing more.
  const auto start = std::chrono::steady_clock::now();
  const auto cut = curl_multi_transport{curl_options{}, 1}(reqs, start + 300ms);
  CHECK(std::chrono::steady_clock::now() - start < 1300ms);
  for (const auto& a : cut) CHECK((!a && a.error().is(errc::timeout)));
}

TEST_SUITE_END();

}  // namespace test_fleet_scale
