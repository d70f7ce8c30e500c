// dualcred-rotate's numeric and duration arguments (tools/dualcred-rotate/args.hpp): any
// bytes, each flag's bounds. A value is accepted only within its bounds, only when the text
// is plain decimal, and as what a long double reading of the same text says (within a
// millisecond, for durations).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

#include "args.hpp"

using namespace dualcred_rotate;
using std::chrono::milliseconds;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

void integers(std::string_view text) {
  constexpr std::int64_t big = std::numeric_limits<std::int64_t>::max();
  for (const auto& [lo, hi] :
       {std::pair<std::int64_t, std::int64_t>{1, 65535}, {16, 1024}, {0, big}, {0, 0}}) {
    const auto v = parse_integer(text, lo, hi);
    if (!v) continue;
    check(all_digits(text));
    check(*v >= lo && *v <= hi);
    // The same number, written back, is the text without its leading zeros.
    std::string_view digits = text;
    while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
    check(std::to_string(*v) == digits);
  }
}

void durations(std::string_view text) {
  for (const auto& [lo, hi] :
       {std::pair<milliseconds, milliseconds>{milliseconds(0), std::chrono::hours(1)},
        {milliseconds(1), std::chrono::hours(24)},
        {milliseconds(0), milliseconds::max()}}) {
    const auto d = parse_duration(text, lo, hi);
    if (!d) continue;
    check(*d >= lo && *d <= hi);
    // Plain decimal with an optional unit, and the value a long double reading gives.
    std::string_view number = text;
    long double unit = 1000;
    switch (number.back()) {
      case 's':
        number.remove_suffix(1);
        break;
      case 'm':
        unit = 60'000, number.remove_suffix(1);
        break;
      case 'h':
        unit = 3'600'000, number.remove_suffix(1);
        break;
      case 'd':
        unit = 86'400'000, number.remove_suffix(1);
        break;
      default:
        break;
    }
    const std::size_t dot = number.find('.');
    check(all_digits(number.substr(0, dot)));
    if (dot != std::string_view::npos) check(all_digits(number.substr(dot + 1)));
    const std::string copy(number);
    const long double expected = std::strtold(copy.c_str(), nullptr) * unit;
    check(std::isfinite(expected));
    // The parse is exact (rounded down); the long double reading carries its own rounding,
    // a few ulps at 4e10 ms, so a bound of exactly 1 ms would flag the reference, not the parse.
    const long double slack = 1.0L + std::fabs(expected) * 1e-15L;
    check(std::fabs(expected - static_cast<long double>(d->count())) <= slack);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  integers(text);
  durations(text);
  return 0;
}
