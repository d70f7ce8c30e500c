// dualcred-rotate's drain flags in-process: --drain and --drain-timeout parse into the
// library's drain policy, and the combinations that mean nothing are refused with the flags
// named.
#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <doctest/doctest.h>

#include "cli.hpp"
#include "exit_codes.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_drain_flags {

TEST_SUITE_BEGIN("tool_drain_flags");

using namespace dualcred_rotate;
using dualcred::rotation::drain_mode;

namespace {

parse_result parse(std::initializer_list<std::string_view> args) {
  const std::vector<std::string_view> v(args);
  return parse_command_line(v,
                            environment::read([](const char*) -> const char* { return nullptr; }));
}

std::string refused(const parse_result& r) {
  REQUIRE(std::holds_alternative<usage_error>(r));
  return std::get<usage_error>(r).message;
}

}  // namespace

TEST_CASE("--drain wait|terminate and --drain-timeout parse into the drain policy") {
  auto r = parse({"--backend", "postgres", "--file", "x", "--drain", "wait", "--drain-timeout",
                  "90s", "decommission"});
  REQUIRE(std::holds_alternative<config>(r));
  CHECK(std::get<config>(r).drain.mode == drain_mode::wait);
  CHECK(std::get<config>(r).drain.timeout == std::chrono::seconds(90));
  r = parse({"--backend", "redis", "--file", "x", "--drain", "terminate", "all"});
  REQUIRE(std::holds_alternative<config>(r));
  CHECK(std::get<config>(r).drain.mode == drain_mode::terminate);
  r = parse({"--backend", "redis", "--file", "x", "decommission"});
  REQUIRE(std::holds_alternative<config>(r));
  CHECK(std::get<config>(r).drain.mode == drain_mode::report);  // the default: count only
}

TEST_CASE("drain flags that mean nothing are refused, naming the flag") {
  CHECK(refused(parse({"--backend", "postgres", "--file", "x", "--drain-timeout", "5s",
                       "decommission"}))
            .find("--drain-timeout goes with --drain wait") != std::string::npos);
  CHECK(refused(parse({"--backend", "postgres", "--file", "x", "--drain", "terminate",
                       "--drain-timeout", "5s", "decommission"}))
            .find("--drain-timeout goes with --drain wait") != std::string::npos);
  CHECK(refused(parse({"--backend", "postgres", "--file", "x", "--drain", "report",
                       "decommission"})) == "--drain is wait or terminate");
  CHECK(refused(parse({"--backend", "postgres", "--file", "x", "--drain", "wait", "promote"}))
            .find("--drain is for decommission") != std::string::npos);
  CHECK(refused(parse({"--backend", "postgres", "--file", "x", "--drain", "wait", "--drain-timeout",
                       "soon", "decommission"}))
            .find("--drain-timeout wants a duration") != std::string::npos);
}

TEST_CASE("sessions_remain has its own exit code and a hint naming the flags") {
  using namespace dualcred::rotation;
  CHECK(exit_for(condition::sessions_remain) == 14);
  const failure f(dualcred::error(condition::sessions_remain, "x"), step::decommission,
                  failure_site::drain, condition::sessions_remain, {});
  CHECK(failure_hint(f, {"decommission"}).find("--drain terminate") != std::string::npos);
}

TEST_SUITE_END();

}  // namespace test_drain_flags
