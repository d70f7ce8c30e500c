// The rotation part: its umbrella header with the core's dependencies alone.
#include <cstdio>

#include <dualcred/rotation.hpp>

int main() {
  const auto rule = dualcred::rotation::rule_for(dualcred::rotation::phase::idle,
                                                 dualcred::rotation::step::promote);
  if (rule.what != dualcred::rotation::verdict::refuse) {
    std::fprintf(stderr, "promote should be refused while idle\n");
    return 1;
  }
  auto pw = dualcred::rotation::generate_password(dualcred::rotation::password_policy::defaults());
  if (!pw || pw.value().size() != 32) {
    std::fprintf(stderr, "a generated password should have 32 characters\n");
    return 1;
  }
  std::printf("rotation: promote while idle is refused\n");
  return 0;
}
