// The hiredis part: its header, hiredis' own flags, and a connect that must fail cleanly
// (nothing listens on port 1).
#include <cstdio>

#include <dualcred/backend/hiredis.hpp>
#include <dualcred/dualcred.hpp>

static_assert(dualcred::two_phase_connector<dualcred::redis::connector>);

int main() {
  dualcred::redis::params p;
  p.host = "127.0.0.1";
  p.port = 1;
  dualcred::redis::connector c(p);
  auto conn = c.open();
  if (conn) {
    std::fprintf(stderr, "a connect to a closed port should fail\n");
    return 1;
  }
  std::printf("hiredis %d.%d: %s\n", HIREDIS_MAJOR, HIREDIS_MINOR,
              conn.error().code.message().c_str());
  return 0;
}
