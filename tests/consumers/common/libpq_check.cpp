// The libpq part: its header, libpq's own flags, and a connect that must fail cleanly
// (nothing listens on port 1).
#include <cstdio>

#include <dualcred/backend/libpq.hpp>
#include <dualcred/dualcred.hpp>

static_assert(dualcred::connector<dualcred::pg::connector>);

int main() {
  dualcred::pg::params p;
  p.host = "127.0.0.1";
  p.port = 1;
  p.dbname = "postgres";
  auto conn = dualcred::pg::connector(p)(
      dualcred::credential{"nobody", dualcred::secret("not-a-password")});
  if (conn || dualcred::is_auth_failure(conn.error())) {
    std::fprintf(stderr, "a connect to a closed port should fail without blaming the password\n");
    return 1;
  }
  std::printf("libpq %d: %s\n", PQlibVersion(), conn.error().code.message().c_str());
  return 0;
}
