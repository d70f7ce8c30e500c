// dualcred-rotate's numeric and duration arguments (tools/dualcred-rotate/args.hpp).
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string_view>

#include "args.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_args {

TEST_SUITE_BEGIN("tool_args");

using dualcred_rotate::parse_duration;
using dualcred_rotate::parse_integer;
using std::chrono::milliseconds;

namespace {
constexpr milliseconds any = milliseconds::max();
}

TEST_CASE("durations: units, fractions, and exactly rounded down to a millisecond") {
  CHECK(parse_duration("30", {}, any) == milliseconds(30'000));
  CHECK(parse_duration("0.5", {}, any) == milliseconds(500));
  CHECK(parse_duration("1.5m", {}, any) == milliseconds(90'000));
  CHECK(parse_duration("2h", {}, any) == milliseconds(7'200'000));
  CHECK(parse_duration("0.001", {}, any) == milliseconds(1));
  CHECK(parse_duration("0.0009", {}, any) == milliseconds(0));
  // 0.0000000116 d is 1.00224 ms: the tenth digit matters for days.
  CHECK(parse_duration("0.0000000116d", {}, any) == milliseconds(1));
  // Found by rotate_args_fuzzer: just above 3,158,400 ms, once rounded to 3,158,399 because
  // digits past the ninth were dropped before multiplying.
  CHECK(parse_duration("0.0365555555555555575555555555555555555555501d", {}, any) ==
        milliseconds(3'158'400));
}

TEST_CASE("durations and integers: nothing but plain decimal within bounds") {
  for (const std::string_view bad :
       {"", "inf", "nan", "1e400", "-1", "0x10", "1.", ".5", "1.5x", " 1", "1 ", "1.5.5"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration(bad, {}, any));
  }
  CHECK_FALSE(parse_duration("2h", {}, std::chrono::hours(1)));
  CHECK(parse_integer("65535", 1, 65535) == 65535);
  CHECK_FALSE(parse_integer("65536", 1, 65535));
  CHECK_FALSE(parse_integer("99999999999999999999999", 0, INT64_MAX));
  CHECK_FALSE(parse_integer("0", 1, 65535));
}

TEST_SUITE_END();

}  // namespace test_args
