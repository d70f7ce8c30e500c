// Password policies: the spec grammar, impossible and weak policies refused, conformance of
// 10,000 generated passwords, and no visible bias (chi-square, fixed generous bounds).
#include <array>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>

#include <doctest/doctest.h>
#include <dualcred/rotation/password.hpp>
#include <dualcred/rotation/state.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_password_policy {

TEST_SUITE_BEGIN("password_policy");

using namespace dualcred;
using namespace dualcred::rotation;

TEST_CASE("policy spec: defaults, classes, exclude last, canonical form") {
  const auto d = parse_password_policy("length=24");
  REQUIRE(d);
  CHECK(d.value().to_spec() == "length=24,lower=0,upper=0,digit=0");
  CHECK(d.value().alphabet().size() == 62);

  const auto p = parse_password_policy("length=24,lower=1,upper=1,digit=2");
  REQUIRE(p);
  CHECK(p.value().to_spec() == "length=24,lower=1,upper=1,digit=2");
  CHECK(!p.value().uses(char_class::symbol));

  // exclude= takes the rest, commas included; only characters of used classes are kept.
  const auto x = parse_password_policy("symbol=2,length=20,digit=1,exclude=,'\"\\@:/ x9");
  REQUIRE(x);
  CHECK(x.value().to_spec() == "length=20,digit=1,symbol=2,exclude=9\"',/:@\\");
  CHECK(x.value().alphabet().find_first_of(",'\"\\@:/9") == std::string::npos);
  CHECK(x.value().alphabet().size() == 9 + 32 - 7);
  // The canonical spec reads back as the same policy.
  const auto again = parse_password_policy(x.value().to_spec());
  REQUIRE(again);
  CHECK(again.value() == x.value());
  CHECK(parse_password_policy("").value().to_spec() == "length=32,lower=0,upper=0,digit=0");
}

TEST_CASE("policy spec: bad and impossible policies are invalid_argument, naming the item") {
  struct bad {
    const char* spec;
    const char* says;
  };
  for (const bad& item : {
           bad{"length=8,digit=9", "more than the length"},
           bad{"length=16,lower=6,upper=6,digit=6", "add up to 18"},
           bad{"length=16,digit=1,exclude=0123456789", "removes every digit"},
           bad{"lower=0,exclude=abcdefghijklmnopqrstuvwxyz", "no character is left"},
           bad{"length=12,digit=0", "bits"},  // 40 bits
           bad{"length=4", "length must be"},
           bad{"length=2000", "length must be"},
           bad{"length=x", "length= wants a whole number"},
           bad{"length=-1", "whole number"},
           bad{"length=", "whole number"},
           bad{"length=99999999999999999999", "whole number"},
           bad{"colour=3", "unknown item 'colour'"},
           bad{"digit=1,digit=2", "digit given twice"},
           bad{"length=20,length=21", "length given twice"},
           bad{"length=20,", "trailing comma"},
           bad{"length", "NAME=VALUE"},
           bad{"length=20,exclude=\x01", "not printable ASCII"},
       }) {
    // Plain names, not a structured binding: doctest's macros capture them in lambdas.
    const std::string spec = item.spec;
    const std::string says = item.says;
    const auto r = parse_password_policy(spec);
    REQUIRE_MESSAGE(!r, spec);
    CHECK(r.error().is(errc::invalid_argument));
    CHECK_MESSAGE(r.error().detail.find(says) != std::string::npos, spec, " -> ", r.error().detail);
  }
  password_policy p;
  p.length = 10;
  p.min = {6, 6, std::nullopt, std::nullopt};
  CHECK(generate_password(p).error().is(errc::invalid_argument));
}

// The floor counts what the generator draws: a class minimum draws only from that class (after
// exclude), so minimums on small classes weaken a policy whatever the whole alphabet holds.
TEST_CASE("the 64-bit floor is the entropy of the draws: minimums and exclusions count") {
  struct weak {
    const char* spec;
    const char* says;
  };
  for (const weak& item : {
           // Ten draws from the one digit left: every password is 0000000000.
           weak{"length=10,lower=0,upper=0,symbol=0,digit=10,exclude=123456789",
                "the policy gives 0.0 bits of entropy; at least 64 are needed (digit=10 draws 10 "
                "from the 1 digit character left (0.0 bits), the other 0 from all 85 (0.0 "
                "bits))"},
           // Twelve digits from an alphabet of 94: 39.8 bits, not 78.
           weak{"length=12,digit=12,lower=0,upper=0,symbol=0",
                "the policy gives 39.8 bits of entropy; at least 64 are needed (digit=12 draws 12 "
                "from the 10 digit characters left (39.8 bits), the other 0 from all 94"},
           // Just below: 5 * log2(10) + 7 * log2(94) = 62.49.
           weak{"length=12,lower=0,upper=0,symbol=0,digit=5", "gives 62.4 bits"},
           // 15 letters, 16 draws: 62.5 bits.
           weak{"length=16,lower=16,exclude=pqrstuvwxyz", "gives 62.5 bits"},
       }) {
    const std::string spec = item.spec;
    const std::string says = item.says;
    const auto r = parse_password_policy(spec);
    CHECK_MESSAGE(!r, spec);
    if (r) continue;
    CHECK(r.error().is(errc::invalid_argument));
    CHECK_MESSAGE(r.error().detail.find(says) != std::string::npos, spec, " -> ", r.error().detail);
  }
  // At and just above the floor: accepted, and the figure is what the draws carry.
  const auto four = parse_password_policy("length=12,lower=0,upper=0,symbol=0,digit=4");
  REQUIRE_MESSAGE(four, four.error().detail);
  CHECK(policy_bits(four.value()) == doctest::Approx(4 * std::log2(10.0) + 8 * std::log2(94.0)));
  CHECK(policy_bits(four.value()) >= 64);
  const auto exact = parse_password_policy("length=16,lower=16,exclude=qrstuvwxyz");
  REQUIRE_MESSAGE(exact, exact.error().detail);
  CHECK(policy_bits(exact.value()) == 64);
  CHECK(parse_password_policy("length=16,lower=0,exclude=qrstuvwxyz"));
  // A class with a minimum and nothing left after exclude is named.
  const auto none = parse_password_policy(
      "length=30,lower=0,symbol=2,exclude=!\"#$%&'()*+,-./"
      ":;<=>?@[\\]^_`{|}~");
  REQUIRE(!none);
  CHECK_MESSAGE(
      none.error().detail.find("symbol=2 but exclude removes every symbol") != std::string::npos,
      none.error().detail);
  // generate_password refuses a weak policy built without the parser too.
  password_policy p;
  p.length = 12;
  p.min = {0, 0, 12, 0};
  const auto weak_pw = generate_password(p);
  REQUIRE(!weak_pw);
  CHECK(weak_pw.error().detail.find("39.8 bits") != std::string::npos);
}

TEST_CASE("10,000 generated passwords each fit their policy") {
  for (const char* spec : {"length=24,lower=1,upper=1,digit=2",
                           "length=20,lower=2,upper=2,digit=2,symbol=2,exclude='\"\\@:/ `$",
                           "length=20,digit=20", "length=40,symbol=1,exclude=,"}) {
    const auto p = parse_password_policy(spec);
    REQUIRE_MESSAGE(p, std::string(spec));
    int ok = 0;
    for (int i = 0; i < 10'000; ++i) {
      const auto pw = generate_password(p.value());
      REQUIRE(pw);
      const auto fits = check_password(pw.value().reveal(), p.value());
      if (fits)
        ++ok;
      else
        FAIL_CHECK(spec << ": " << fits.error().detail);
    }
    CHECK_MESSAGE(ok == 10'000, spec);
  }
  // check_password itself refuses what does not fit.
  const auto p = parse_password_policy("length=16,lower=1,upper=1,digit=1,exclude=x").value();
  CHECK(check_password("abcdefghijklmnoP1", p).error().detail.find("17 characters") !=
        std::string::npos);
  CHECK(check_password("abcdefghijklmnoP", p).error().detail.find("0 digit") != std::string::npos);
  CHECK(!check_password("abcdefghijklmxP1", p));
  CHECK(check_password("abcdefghijklmoP1", p));
}

namespace {
// Pearson's chi-square statistic of `observed` against `expected`.
template <std::size_t N>
double chi_square(const std::array<double, N>& observed, const std::array<double, N>& expected) {
  double x = 0;
  for (std::size_t i = 0; i < N; ++i)
    x += (observed[i] - expected[i]) * (observed[i] - expected[i]) / expected[i];
  return x;
}
}  // namespace

// The bounds are far in the tails (for 61 degrees of freedom p < 1e-12 at 160; for 3, p <
// 1e-9 at 45): a biased generator (a modulo, an unshuffled minimum) lands well above them,
// a fair one never in practice.
TEST_CASE("no visible bias: every character equally likely, classes where they should be") {
  {  // 64,000 characters of the default policy: each of the 62 about 1,032 times.
    const auto p = password_policy::defaults(32);
    const std::string alphabet = p.alphabet();
    std::array<double, 62> seen{};
    for (int i = 0; i < 2000; ++i) {
      const auto pw = generate_password(p);
      REQUIRE(pw);
      for (const char c : pw.value().reveal()) seen[alphabet.find(c)] += 1;
    }
    std::array<double, 62> expected{};
    expected.fill(2000.0 * 32 / 62);
    const double x = chi_square(seen, expected);
    MESSAGE("chi-square over 62 characters (61 dof): " << x);
    CHECK(x < 160);
  }
  {  // With minimums: the class at each position follows the expected class shares, so the
     // required characters are shuffled in, not left at the front.
    const auto p = parse_password_policy("length=16,lower=4,upper=4,digit=4,symbol=1").value();
    const double free_chars = 16 - 13;
    const double n = static_cast<double>(p.alphabet().size());  // 26 + 26 + 10 + 32
    const std::array<double, 4> share = {
        (4 + free_chars * 26 / n) / 16, (4 + free_chars * 26 / n) / 16,
        (4 + free_chars * 10 / n) / 16, (1 + free_chars * 32 / n) / 16};
    constexpr int passwords = 10'000;
    std::array<std::array<double, 4>, 16> at{};
    for (int i = 0; i < passwords; ++i) {
      const auto pw = generate_password(p).value();
      const std::string_view v = pw.reveal();
      for (std::size_t pos = 0; pos < v.size(); ++pos)
        for (std::size_t c = 0; c < 4; ++c)
          if (char_class_chars[c].find(v[pos]) != std::string_view::npos) at[pos][c] += 1;
    }
    std::array<double, 4> expected{};
    for (std::size_t c = 0; c < 4; ++c) expected[c] = passwords * share[c];
    double worst = 0;
    for (std::size_t pos = 0; pos < 16; ++pos)
      worst = std::max(worst, chi_square(at[pos], expected));
    MESSAGE("largest chi-square of the class at one position (3 dof): " << worst);
    CHECK(worst < 45);
  }
}

TEST_CASE("RFC 3339 times: written as UTC, read with offsets and fractions") {
  const auto t = parse_rfc3339("2026-12-01T11:05:27Z");
  REQUIRE(t);
  CHECK(format_rfc3339(*t) == "2026-12-01T11:05:27Z");
  CHECK(parse_rfc3339("2026-12-01T12:05:27.123+01:00") == t);
  CHECK(parse_rfc3339("2026-12-01t11:05:27z") == t);
  CHECK(format_rfc3339(timestamp{}) == "1970-01-01T00:00:00Z");
  for (const char* bad :
       {"", "2026-12-01", "2026-12-01T11:05:27", "2026-02-30T00:00:00Z", "2026-12-01T24:00:00Z",
        "2026-12-01T11:05:27+1:00", "2026-12-01T11:05:27Zx", "2026-12-01T11:05:27.Z", "yesterday"})
    CHECK_MESSAGE(!parse_rfc3339(bad), bad);
}

TEST_SUITE_END();

}  // namespace test_password_policy
