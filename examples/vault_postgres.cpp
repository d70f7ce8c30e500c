// Reads the seed's login from Vault (KV v2 `secret/mutt/prod`: DB_USER, DB_PASS_CURRENT,
// DB_PASS_NEXT) through libcurl, connects to PostgreSQL with it, and runs `SELECT 1`. While a
// rotation is under way, whichever password the server holds works; after a rotation the
// first refused connect re-reads Vault.
//
//   export VAULT_ADDR=https://vault.example:8200 VAULT_TOKEN=...   # or `vault login`
//   export VAULT_CACERT=/etc/ssl/vault-ca.pem                       # optional
//   export DB_HOST=127.0.0.1 DB_PORT=5432 DB_NAME=postgres
//   ./vault_postgres [path-in-mount, default mutt/prod]
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include <dualcred/backend/libpq.hpp>
#include <dualcred/dual_credential.hpp>
#include <dualcred/http/curl.hpp>
#include <dualcred/provider/vault.hpp>

static std::string env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

int main(int argc, char** argv) {
  if (env_or("VAULT_ADDR", "").empty()) {
    fmt::print(stderr, "VAULT_ADDR is not set: export VAULT_ADDR=https://<vault>:8200\n");
    return 2;
  }
  auto config = dualcred::vault_config::from_env(argc > 1 ? argv[1] : "mutt/prod", "secret");
  if (!config) {
    fmt::print(stderr, "bad Vault configuration: {}\n", config.error().detail);
    return 2;
  }
  if (config.value().token.empty() && config.value().token_file.empty()) {
    fmt::print(stderr,
               "VAULT_TOKEN is not set and there is no ~/.vault-token: "
               "export VAULT_TOKEN or run `vault login`\n");
    return 2;
  }

  // Verified TLS with VAULT_CACERT/VAULT_CAPATH, as the Vault CLI; no proxy, no redirects.
  dualcred::curl_options tls = dualcred::curl_options_from_vault_env();
  tls.timeout = std::chrono::seconds(10);
  dualcred::vault_kv2_provider vault(dualcred::curl_transport(tls), std::move(config).value(),
                                     dualcred::key_names::for_prefix("DB"));

  dualcred::pg::params where;
  where.host = env_or("DB_HOST", "127.0.0.1");
  where.port = std::atoi(env_or("DB_PORT", "5432").c_str());
  where.dbname = env_or("DB_NAME", "postgres");
  where.connect_timeout = std::chrono::seconds(5);
  where.application_name = "dualcred-vault-example";

  auto creds = dualcred::make_dual_credential(dualcred::pg::connector(where), std::move(vault));
  if (!creds) {
    fmt::print(stderr, "cannot read the login from Vault: {}\n", creds.error().detail);
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
  fmt::print("SELECT 1 -> {} (Vault version {})\n", PQgetvalue(res.get(), 0, 0),
             creds.value().snapshot().version);
  return 0;
}
