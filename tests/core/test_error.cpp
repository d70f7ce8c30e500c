#include <dualcred/error.hpp>

#include <string>
#include <system_error>

#include <doctest/doctest.h>

TEST_SUITE_BEGIN("error");

using namespace dualcred;

TEST_CASE("errc is a std::error_code enum with its own category") {
  const std::error_code ec = errc::auth_rejected;
  CHECK(ec.category() == error_category());
  CHECK(std::string(ec.category().name()) == "dualcred");
  CHECK(ec.message() == "credential rejected by the backend");
  CHECK(ec != std::error_code());
  CHECK(ec == errc::auth_rejected);
  CHECK(ec != errc::all_rejected);
}

TEST_CASE("every errc has a name and a message") {
  for (int v = 1; v <= static_cast<int>(errc::locked); ++v) {
    const auto e = static_cast<errc>(v);
    CHECK(to_string(e) != "unknown");
    CHECK(make_error_code(e).message() != "unknown dualcred error");
  }
  CHECK(error_category().message(999) == "unknown dualcred error");
}

TEST_CASE("codes map onto portable conditions") {
  CHECK(make_error_code(errc::timeout) == std::errc::timed_out);
  CHECK(make_error_code(errc::not_found) == std::errc::no_such_file_or_directory);
  CHECK(make_error_code(errc::permission_denied) == std::errc::permission_denied);
  CHECK(make_error_code(errc::invalid_argument) == std::errc::invalid_argument);
}

TEST_CASE("only auth_rejected is an auth failure") {
  CHECK(is_auth_failure(error(errc::auth_rejected, "x")));
  CHECK(!is_auth_failure(error(errc::all_rejected, "x")));
  CHECK(!is_auth_failure(error(errc::timeout, "x")));
  CHECK(!is_auth_failure(error(std::make_error_code(std::errc::permission_denied), "x")));
}

namespace {
result<int> parse_positive(int v) {
  if (v <= 0) return fail(errc::invalid_argument, "must be positive");
  return v;
}
result<int> doubled(int v) {
  DUALCRED_TRY(x, parse_positive(v));
  return x * 2;
}
}  // namespace

TEST_CASE("result carries a value or an error; DUALCRED_TRY propagates") {
  CHECK(doubled(2).value() == 4);
  auto bad = doubled(-1);
  REQUIRE(!bad);
  CHECK(bad.error().is(errc::invalid_argument));
  CHECK(bad.error().detail == "must be positive");
}

TEST_CASE("reaching for the value of a failure throws, carrying the error") {
  auto bad = parse_positive(0);
  CHECK_THROWS_AS((void)bad.value(), boost::outcome_v2::bad_result_access_with<error>);
  auto good = parse_positive(1);
  CHECK_THROWS_AS((void)good.error(), boost::outcome_v2::bad_result_access);
}

TEST_SUITE_END();
