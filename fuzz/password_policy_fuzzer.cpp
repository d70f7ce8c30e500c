// The --password-policy spec parser (include/dualcred/rotation/password.hpp): any bytes. A
// spec is accepted only as a policy check_policy accepts, its canonical spec reads back as
// the same policy, its draws carry at least min_policy_bits (recomputed here from the class
// sizes), and a password generated from it fits it.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <dualcred/rotation/password.hpp>

using namespace dualcred::rotation;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view spec(reinterpret_cast<const char*>(data), size);
  const auto parsed = parse_password_policy(spec);
  if (!parsed) {
    check(parsed.error().is(dualcred::errc::invalid_argument));
    check(!parsed.error().detail.empty());
    return 0;
  }
  const password_policy& p = parsed.value();
  check(static_cast<bool>(check_policy(p)));
  check(p.length >= min_policy_length && p.length <= max_policy_length);
  std::size_t sum = 0;
  for (const auto& m : p.min) sum += m.value_or(0);
  check(sum <= p.length);
  // The entropy of the draws, from the classes' own characters: each minimum from its class
  // less exclude, the rest from every used class less exclude.
  double bits = 0;
  std::size_t alphabet = 0;
  for (std::size_t c = 0; c < 4; ++c) {
    if (!p.min[c]) continue;
    std::size_t n = 0;
    for (const char ch : char_class_chars[c]) n += p.exclude.find(ch) == std::string::npos;
    alphabet += n;
    if (*p.min[c] > 0) {
      check(n > 0);
      bits += static_cast<double>(*p.min[c]) * std::log2(static_cast<double>(n));
    }
  }
  check(alphabet == p.alphabet().size());
  bits += static_cast<double>(p.length - sum) * std::log2(static_cast<double>(alphabet));
  check(bits >= min_policy_bits);
  check(std::abs(bits - policy_bits(p)) < 1e-6);
  const auto again = parse_password_policy(p.to_spec());
  check(static_cast<bool>(again));
  check(again.value().to_spec() == p.to_spec());
  check(again.value().alphabet() == p.alphabet());
  // Generation costs getrandom calls: keep the runs fast on long policies.
  if (p.length <= 128) {
    const auto pw = generate_password(p);
    check(static_cast<bool>(pw));
    check(static_cast<bool>(check_password(pw.value().reveal(), p)));
  }
  return 0;
}
