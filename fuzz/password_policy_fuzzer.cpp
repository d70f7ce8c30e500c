// The --password-policy spec parser (include/dualcred/rotation/password.hpp): any bytes. A
// spec is accepted only as a policy check_policy accepts, its canonical spec reads back as
// the same policy, and a password generated from it fits it.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
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
