// The SOCI part: its header, SOCI's and libpq's libraries.
#include <cstdio>

#include <dualcred/backend/soci.hpp>
#include <dualcred/dualcred.hpp>

int main() {
  dualcred::pg::params p;
  p.host = "db.example";
  const auto cs = dualcred::soci_pg::conninfo(p, {"app", dualcred::secret("it's")});
  soci::session unopened;  // SOCI's library links
  std::printf("%zu bytes of conninfo, libpq %d\n", cs.size(), PQlibVersion());
  return cs.reveal().find(R"(password='it\'s')") == std::string_view::npos ? 1 : 0;
}
