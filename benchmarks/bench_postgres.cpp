// Logging in to a real PostgreSQL on loopback (SCRAM-SHA-256), each connect followed by
// closing the connection:
//
//   pg/plain           libpq alone: PQconnectdbParams
//   pg/happy           dual_credential over pg::connector, CURRENT accepted
//   pg/window_sticky   CURRENT refused, NEXT accepted, sticky: NEXT is tried first
//   pg/first_fallback  the same window, not sticky: every connect is a first fallback. A
//                      refused PostgreSQL login ends the connection, so this is also the
//                      reconnect row: NEXT always costs a new connection.

#include <libpq-fe.h>

#include <memory>
#include <stdexcept>
#include <string>

#include <benchmark/benchmark.h>
#include <dualcred/backend/libpq.hpp>
#include <dualcred/dualcred.hpp>
#include <dualcred/provider/static.hpp>

#include <dualcred_testing/postgres.hpp>
#include "support/login.hpp"
#include "support/sets.hpp"
#include "support/timed.hpp"

namespace {

using dualcred::bench::set_of;
using dualcred::bench::timed;

dualcred::testing::postgres_server* server = nullptr;

constexpr const char* user = dualcred::bench::login_user;
constexpr const char* password = dualcred::bench::login_password;

dualcred::pg::params params() {
  auto p = dualcred::bench::params_for<dualcred::pg::params>(*server);
  p.dbname = "postgres";
  return p;
}

void plain(benchmark::State& state) {
  const std::string host = server->host();
  const std::string port = std::to_string(server->port());
  const char* keys[] = {"host", "port", "dbname", "user", "password", nullptr};
  const char* values[] = {host.c_str(), port.c_str(), "postgres", user, password, nullptr};
  timed(state, [&] {
    PGconn* c = PQconnectdbParams(keys, values, 0);
    const bool ok = PQstatus(c) == CONNECTION_OK;
    PQfinish(c);
    return ok;
  });
}

void through(benchmark::State& state, dualcred::credential_set set, bool sticky) {
  dualcred::bench::connect_through(state, dualcred::pg::connector(params()), std::move(set),
                                   sticky);
}

void happy(benchmark::State& state) {
  through(state, set_of(user, password), true);
}
void window_sticky(benchmark::State& state) {
  through(state, set_of(user, "old-password", password), true);
}
void first_fallback(benchmark::State& state) {
  through(state, set_of(user, "old-password", password), false);
}

}  // namespace

BENCHMARK(plain)->Name("pg/plain")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(happy)->Name("pg/happy")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(window_sticky)->Name("pg/window_sticky")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(first_fallback)->Name("pg/first_fallback")->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) {
  return dualcred::bench::run_against_server(
      argc, argv, server,
      [](dualcred::testing::postgres_server& pg) { pg.create_login_role(user, password); });
}
