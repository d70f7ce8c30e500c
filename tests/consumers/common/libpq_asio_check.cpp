// The libpq_asio part: its header, libpq's flags, and an async connect that must fail
// cleanly (nothing listens on port 1).
#include <cstdio>

#include <boost/asio/io_context.hpp>
#include <dualcred/backend/libpq_asio.hpp>

static_assert(dualcred::async_connector<dualcred::pg::async_connector>);

int main() {
  boost::asio::io_context io;
  dualcred::pg::params p;
  p.host = "127.0.0.1";
  p.port = 1;
  p.dbname = "postgres";
  dualcred::pg::async_connector c(io.get_executor(), p);
  const dualcred::credential cred{"nobody", dualcred::secret("not-a-password")};
  bool failed_cleanly = false;
  c.async_connect(cred, [&](dualcred::result<dualcred::pg::connection> r) {
    failed_cleanly = !r && !dualcred::is_auth_failure(r.error());
  });
  io.run();
  if (!failed_cleanly) {
    std::fprintf(stderr, "a connect to a closed port should fail without blaming the password\n");
    return 1;
  }
  std::printf("libpq_asio %d: failed cleanly\n", PQlibVersion());
  return 0;
}
