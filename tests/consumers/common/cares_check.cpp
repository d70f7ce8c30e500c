// The cares part: the fleet check's DNS discovery header and c-ares's own flags.
#include <cstdio>

#include <ares.h>
#include <dualcred/rotation/fleet/dns.hpp>

int main() {
  const dualcred::rotation::fleet::dns_instances none{};
  std::printf("c-ares %s, %s\n", ares_version(nullptr), none() ? "resolved" : "no name");
  return 0;
}
