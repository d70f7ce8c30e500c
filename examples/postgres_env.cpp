// Connects to PostgreSQL with the login in DB_USER, DB_PASS_CURRENT and DB_PASS_NEXT, and
// runs `SELECT 1`. While a rotation is under way, whichever password the server holds works.
//
//   export DB_HOST=127.0.0.1 DB_PORT=5432 DB_NAME=postgres
//   export DB_USER=app DB_PASS_CURRENT=... DB_PASS_NEXT=...
//   ./postgres_env
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include <dualcred/backend/libpq.hpp>
#include <dualcred/dual_credential.hpp>
#include <dualcred/provider/env.hpp>

static std::string env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

int main() {
  dualcred::pg::params where;
  where.host = env_or("DB_HOST", "127.0.0.1");
  where.port = std::atoi(env_or("DB_PORT", "5432").c_str());
  where.dbname = env_or("DB_NAME", "postgres");
  where.connect_timeout = std::chrono::seconds(5);
  where.application_name = "dualcred-example";

  auto creds = dualcred::make_dual_credential(dualcred::pg::connector(where),
                                              dualcred::env_provider());  // the DB_* variables
  if (!creds) {
    fmt::print(stderr, "cannot read the login: {}\n", creds.error().detail);
    return 1;
  }
  auto conn = creds.value().connect();
  if (!conn) {
    fmt::print(stderr, "cannot connect: {}\n", conn.error().detail);
    return 1;
  }

  std::unique_ptr<PGresult, void (*)(PGresult*)> res(PQexec(conn.value().get(), "SELECT 1"),
                                                     PQclear);
  if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
    fmt::print(stderr, "SELECT 1 failed: {}", PQerrorMessage(conn.value().get()));
    return 1;
  }
  fmt::print("SELECT 1 -> {}\n", PQgetvalue(res.get(), 0, 0));
  fmt::print("status: {}\n", creds.value().snapshot());
  return 0;
}
