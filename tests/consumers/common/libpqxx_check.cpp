// The libpqxx part: its header, libpqxx's and libpq's own flags.
#include <cstdio>

#include <dualcred/backend/libpqxx.hpp>
#include <dualcred/dualcred.hpp>

int main() {
  // A connection made without dualcred::libpqxx::connect has no opener: it refuses at once.
  try {
    dualcred::libpqxx::connection c;
    return 1;
  } catch (const pqxx::broken_connection&) {
  }
  std::printf("libpq %d\n", PQlibVersion());
  return 0;
}
