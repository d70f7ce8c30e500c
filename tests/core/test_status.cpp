#include <dualcred/status.hpp>

#include <string>

#include <doctest/doctest.h>

TEST_SUITE_BEGIN("status");

using namespace dualcred;

TEST_CASE("status formats as one JSON object") {
  status s;
  s.connects_via_current = 5;
  s.connects_via_next = 2;
  s.fallbacks = 1;
  s.all_rejected = 0;
  s.connects_since_all_rejected = 7;
  s.reloads = 3;
  s.reload_failures = 1;
  s.preferred = slot::next;
  s.version = "42";
  s.oldest_version_in_use = "41";
  s.last_error = make_error_code(errc::auth_rejected);
  CHECK(
      fmt::format("{}", s) ==
      R"({"connects_via_current":5,"connects_via_next":2,"fallbacks":1,"all_rejected":0,)"
      R"("connects_since_all_rejected":7,"reloads":3,"reload_failures":1,"preferred":"next","version":"42",)"
      R"("oldest_version_in_use":"41","last_error":"auth_rejected"})");
}

TEST_CASE("no error is null; foreign codes name their category; versions are escaped") {
  status s;
  s.version = "a\"b\\c\n";
  const std::string empty = fmt::format("{}", s);
  CHECK(empty.find(R"("last_error":null})") != std::string::npos);
  CHECK(empty.find(R"("version":"a\"b\\c\n")") != std::string::npos);
  s.last_error = std::make_error_code(std::errc::connection_refused);
  const std::string foreign = fmt::format("{}", s);
  CHECK(foreign.find(R"("last_error":"generic:)") != std::string::npos);
}

TEST_SUITE_END();
