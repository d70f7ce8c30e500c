// The fleet check over HTTP: status JSON parsing, version comparison, and the wait (with
// fetch functions standing in for the instances; test_fleet_http.cpp asks real sockets).
#include <chrono>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/rotation/fleet/http_check.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_fleet {

TEST_SUITE_BEGIN("rotation_fleet");

using namespace dualcred;
using namespace dualcred::rotation;
using std::chrono::milliseconds;

TEST_CASE("fleet: versions are read from status JSON and compared as numbers") {
  const auto versions = [](std::string_view body) {
    auto v = fleet::status_versions(body);
    REQUIRE_MESSAGE(v, v.error().detail);
    return v.value();
  };
  CHECK(versions(R"({"a":1,"version":"12","last_error":null})") == std::vector<std::string>{"12"});
  CHECK(versions(R"({"db":{"version":"7"},"redis":{"version" : "9"}})") ==
        std::vector<std::string>{"7", "9"});
  CHECK(versions(R"({"version":"12","oldest_version_in_use":"11"})") ==
        std::vector<std::string>{"12", "11"});
  // What health_json serves, escapes and all, and a key that only looks like one.
  CHECK(versions(R"({"ok":true,"a\"b":{"version":"3","x":"\"version\":\"99\""}})") ==
        std::vector<std::string>{"3"});
  CHECK(versions(R"({"ok":false})").empty());
  CHECK(fleet::version_at_least("12", 12));
  CHECK(fleet::version_at_least("13", 12));
  CHECK_FALSE(fleet::version_at_least("9", 12));
  CHECK_FALSE(fleet::version_at_least("static-3", 1));
  CHECK_FALSE(fleet::version_at_least("", 0));

  int calls = 0;
  fleet::http_check f{{"a", "b"},
                      [&](const std::string& url, milliseconds) -> result<std::string> {
                        ++calls;
                        if (url == "b" && calls < 4)
                          return fail(errc::provider_unavailable, "b is down");
                        return std::string(R"({"version":"5"})");
                      },
                      std::chrono::milliseconds(2000),
                      std::chrono::milliseconds(1),
                      {}};
  CHECK(fleet::wait(f, 5));
  f.deadline = std::chrono::milliseconds(20);
  auto late = fleet::wait(f, 6);
  REQUIRE_FALSE(late);
  CHECK(late.error().is(errc::timeout));
  CHECK(late.error().detail.find("a (version 5)") != std::string::npos);
  CHECK(fleet::wait(fleet::http_check{}, 100));  // no instances: nothing to wait for

  // A slow connect still holding revision 11 keeps the instance short of 12.
  const fleet::http_check held{
      {"slow"},
      [](const std::string&, milliseconds) -> result<std::string> {
        return std::string(R"({"version":"12","oldest_version_in_use":"11"})");
      },
      std::chrono::milliseconds(20),
      std::chrono::milliseconds(1),
      {}};
  CHECK(fleet::wait(held, 11));
  auto short_of = fleet::wait(held, 12);
  REQUIRE_FALSE(short_of);
  CHECK(short_of.error().is(errc::timeout));
  CHECK(short_of.error().detail.find("slow (version 12,11)") != std::string::npos);
}

TEST_CASE(
    "fleet: bad or hostile status JSON is a clear error naming the instance, never its text") {
  const std::pair<std::string, std::string_view> bad[] = {
      {"not json", "status is not valid JSON (at byte 2)"},
      {"", "status is not valid JSON (at byte 1)"},
      {R"({"version":"7"} trailing)", "status is not valid JSON (at byte 19)"},
      {R"({"version":"7")", "status is not valid JSON (at byte 15)"},
      {"[1,2]", "status is not a JSON object"},
      {R"("version")", "status is not a JSON object"},
      {"7", "status is not a JSON object"},
      {R"({"version":7})", R"(status has "version" as a number, not a string)"},
      {R"({"db":{"oldest_version_in_use":null}})",
       R"(status has "oldest_version_in_use" as null, not a string)"},
      {R"({"version":["7"]})", R"(status has "version" as an array, not a string)"},
      {R"({"version":{"v":"7"}})", R"(status has "version" as an object, not a string)"},
      {std::string(40, '[') + std::string(40, ']'), "status is not a JSON object"},
      {R"({"a":)" + std::string(100000, '['), "status nests deeper than 32"},
      {"{\"version\":\"\xff\"}", "status is not valid JSON (at byte 13)"},
      {std::string(fleet::max_status_bytes + 1, ' '), "status is over 1048576 bytes"},
  };
  for (const auto& entry : bad) {
    // Not a structured binding: clang before 16 cannot capture one (doctest's CAPTURE does).
    const auto& body = entry.first;
    const auto& why = entry.second;
    CAPTURE(body.substr(0, 40));
    auto v = fleet::status_versions(body);
    REQUIRE_FALSE(v);
    CHECK(v.error().is(errc::malformed));
    CHECK(v.error().detail == why);
  }

  // The wait stops at once, naming the instance without its user info or query.
  fleet::http_check f{{"http://ops:Hunter2@10.0.0.7:8080/health?token=SecretTok"},
                      [](const std::string&, milliseconds) -> result<std::string> {
                        return std::string("<html>\x1b[2J oops</html>");
                      },
                      std::chrono::milliseconds(60'000),
                      std::chrono::milliseconds(1),
                      {}};
  const auto start = std::chrono::steady_clock::now();
  auto e = fleet::wait(f, 1);
  REQUIRE_FALSE(e);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  CHECK(e.error().is(errc::malformed));
  CHECK(e.error().detail ==
        "fleet: instance http://10.0.0.7:8080/health: status is not valid JSON (at byte 1)");

  // Versions an instance chose are shown only when short and printable; user info is
  // stripped from every instance named on a timeout.
  f.endpoints = {"https://u:pw-Secret9@a.example/h", "b.example/h"};
  f.fetch = [](const std::string& url, milliseconds) -> result<std::string> {
    if (url.starts_with("b")) return fail(errc::malformed, "answered HTTP 503");
    return std::string(R"({"version":"\u001b[31mred","oldest_version_in_use":"2"})");
  };
  f.deadline = std::chrono::milliseconds(20);
  auto late = fleet::wait(f, 5);
  REQUIRE_FALSE(late);
  CHECK(late.error().is(errc::timeout));
  CHECK(late.error().detail.find("https://a.example/h (version (unprintable),2)") !=
        std::string::npos);
  CHECK(late.error().detail.find("b.example/h (bad answer: answered HTTP 503)") !=
        std::string::npos);
  CHECK(late.error().detail.find("pw-Secret9") == std::string::npos);
  CHECK(late.error().detail.find('\x1b') == std::string::npos);
}

TEST_CASE("fleet: http_check is the rotator's fleet_check") {
  int asked = 0;
  const fleet_check check =
      fleet::http_check{{"one"},
                        [&](const std::string&, milliseconds) -> result<std::string> {
                          ++asked;
                          return std::string(R"({"version":"4"})");
                        },
                        milliseconds(200),
                        milliseconds(1),
                        {}};
  std::size_t told = 0;
  CHECK(check(fleet_request{4, [&](std::size_t ready, std::size_t) { told = ready; }}));
  CHECK(told == 1);
  CHECK(asked == 1);
  CHECK(check(fleet_request{5, {}}).error().is(errc::timeout));
}

TEST_CASE("fleet: each request is given what is left of the deadline") {
  std::vector<milliseconds> given;
  const fleet::http_check check{{"x", "y"},
                                [&](const std::string&, milliseconds left) -> result<std::string> {
                                  given.push_back(left);
                                  std::this_thread::sleep_for(milliseconds(150));
                                  return fail(errc::timeout, "no answer");
                                },
                                milliseconds(400),
                                milliseconds(1),
                                {}};
  const auto start = std::chrono::steady_clock::now();
  REQUIRE_FALSE(check(fleet_request{1, {}}));
  // The deadline, plus the one fetch that overran it (this one ignores its timeout).
  CHECK(std::chrono::steady_clock::now() - start < milliseconds(1000));
  REQUIRE(given.size() >= 2);
  CHECK(given[0] <= milliseconds(400));
  CHECK(given[0] > milliseconds(300));
  CHECK(given[1] <= given[0] - milliseconds(150));
  for (const auto left : given) CHECK(left >= milliseconds(1));  // zero would mean "no limit"
}

TEST_CASE("fleet: discovered instances are found again every round, and the new ones asked") {
  int rounds = 0;
  std::vector<std::string> asked;
  fleet::http_check check;
  check.discover = [&]() -> result<std::vector<std::string>> {
    ++rounds;
    if (rounds == 1) return std::vector<std::string>{"a", "b"};
    if (rounds == 2) return fail(errc::timeout, "dns: svc: no answer within 5 ms");
    return std::vector<std::string>{"a", "c"};
  };
  check.fetch = [&](const std::string& url, milliseconds) -> result<std::string> {
    asked.push_back(url);
    const bool behind = url == "b" && rounds == 1;
    return std::string(behind ? R"({"version":"2"})" : R"({"version":"3"})");
  };
  check.deadline = milliseconds(5000);
  check.poll_interval = milliseconds(1);
  std::vector<std::size_t> ready;
  CHECK(fleet::wait(check, 3, [&](std::size_t n, std::size_t) { ready.push_back(n); }));
  // Round 2: every instance it knew was ready, but a failed lookup is no all-clear (it asks
  // those it found before). Round 3: "b" is gone, "c" is new and asked; "a" is not asked again.
  CHECK(rounds == 3);
  CHECK(ready == std::vector<std::size_t>{1, 2, 2});
  CHECK(asked == std::vector<std::string>{"a", "b", "b", "c"});
}

TEST_SUITE_END();

}  // namespace test_fleet
