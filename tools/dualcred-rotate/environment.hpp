#pragma once

// Every environment variable dualcred-rotate reads, read once (`from_process`) into one
// struct; the parser and the runner take it from there. libpq still reads its own (PGUSER,
// PGPASSWORD, PGPASSFILE, ...) when it connects: those are the admin's login, and the tool
// never copies them.

#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <dualcred/detail/secure_zero.hpp>
#include <dualcred/secret.hpp>

namespace dualcred_rotate {

struct environment {
  // Where and how clients and the admin reach PostgreSQL.
  std::optional<std::string> pghost, pgport, pgdatabase, pgsslmode, pgsslrootcert;
  // Redis: the seed node and the admin's login.
  std::optional<std::string> redis_host, redis_port, redis_admin_user;
  std::optional<dualcred::secret> redis_admin_password, redis_sentinel_password;
  // PgBouncer's admin console.
  std::optional<std::string> pgbouncer_admin_user;
  std::optional<dualcred::secret> pgbouncer_admin_password;
  // init's present password.
  std::optional<dualcred::secret> current_password;
  // Vault, as the Vault CLI reads it. `vault_addr` and `vault_namespace` keep an empty value
  // (an empty VAULT_ADDR is an error, not the default).
  std::optional<std::string> vault_addr, vault_namespace, vault_cacert, vault_capath, home;
  std::optional<dualcred::secret> vault_token;

  /// Reads through `get` (a name to its value or null): the process's environment, or a
  /// snapshot in tests.
  [[nodiscard]] static environment read(const std::function<const char*(const char*)>& get) {
    const auto text = [&](const char* name) -> std::optional<std::string> {
      const char* v = get(name);
      if (v == nullptr || *v == '\0') return std::nullopt;
      return std::string(v);
    };
    const auto any = [&](const char* name) -> std::optional<std::string> {
      const char* v = get(name);
      return v != nullptr ? std::optional<std::string>(v) : std::nullopt;
    };
    const auto hidden = [&](const char* name) -> std::optional<dualcred::secret> {
      const char* v = get(name);
      if (v == nullptr || *v == '\0') return std::nullopt;
      return dualcred::secret(std::string_view(v));
    };
    environment e;
    e.pghost = text("PGHOST");
    e.pgport = text("PGPORT");
    e.pgdatabase = text("PGDATABASE");
    e.pgsslmode = text("PGSSLMODE");
    e.pgsslrootcert = text("PGSSLROOTCERT");
    e.redis_host = text("REDIS_HOST");
    e.redis_port = text("REDIS_PORT");
    e.redis_admin_user = text("REDIS_ADMIN_USER");
    e.redis_admin_password = hidden("REDIS_ADMIN_PASSWORD");
    e.redis_sentinel_password = hidden("REDIS_SENTINEL_PASSWORD");
    e.pgbouncer_admin_user = text("PGBOUNCER_ADMIN_USER");
    e.pgbouncer_admin_password = hidden("PGBOUNCER_ADMIN_PASSWORD");
    e.current_password = hidden("DUALCRED_CURRENT_PASSWORD");
    e.vault_addr = any("VAULT_ADDR");
    e.vault_namespace = any("VAULT_NAMESPACE");
    e.vault_cacert = text("VAULT_CACERT");
    e.vault_capath = text("VAULT_CAPATH");
    e.vault_token = hidden("VAULT_TOKEN");
    e.home = text("HOME");
    return e;
  }

  [[nodiscard]] static environment from_process() {
    return read([](const char* name) { return static_cast<const char*>(std::getenv(name)); });
  }

  /// Once `from_process` holds them (in secrets, kept out of core dumps), the passwords and
  /// the token are wiped where the environment keeps them: a core dump or /proc/PID/environ
  /// would show them there. Afterwards they read as empty. libpq's PGPASSWORD is left alone:
  /// libpq reads it when it connects.
  static void wipe_process_secrets() noexcept {
    for (const char* name :
         {"REDIS_ADMIN_PASSWORD", "REDIS_SENTINEL_PASSWORD", "PGBOUNCER_ADMIN_PASSWORD",
          "DUALCRED_CURRENT_PASSWORD", "VAULT_TOKEN"})
      if (char* v = std::getenv(name); v != nullptr)
        dualcred::detail::secure_zero(v, std::strlen(v));
  }
};

}  // namespace dualcred_rotate
