#pragma once

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "../../error.hpp"
#include "../../secret.hpp"

namespace dualcred {

/// AppRole login (`POST /v1/auth/{mount}/login` with `role_id` and `secret_id`).
struct vault_approle_login {
  std::string role_id;
  secret secret_id;
  std::string mount = "approle";
};

/// Kubernetes login (`POST /v1/auth/{mount}/login` with `role` and the service account's
/// JWT, read from `jwt_file` at every login so a projected token's rotation is seen).
struct vault_kubernetes_login {
  std::string role;
  std::string jwt_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string mount = "kubernetes";
};

/// Where a KV v2 secret lives and how to authenticate to Vault.
///
/// Authentication, first match wins: `approle`, then `kubernetes` (both log in, renew the
/// token before it expires and log in again when it cannot be renewed or nears its max TTL),
/// then `token`, then `token_file` (re-read at every request, so a Vault Agent's sink or a
/// fresh `vault login` is picked up). A `token` or `token_file` token is looked up once and,
/// when renewable with a TTL, renewed before it expires.
struct vault_config {
  std::string address;  ///< `https://vault.example.com:8200`
  std::string mount = "secret";
  std::string path;  ///< within the mount: `mutt/prod`
  secret token;
  std::string namespace_;  ///< sent as `X-Vault-Namespace` when not empty
  std::string token_file;
  std::optional<vault_approle_login> approle;
  std::optional<vault_kubernetes_login> kubernetes;
  /// Renew `token`/`token_file` tokens (lookup-self once, then renew-self when due).
  bool renew_token = true;
  /// A response body larger than this is `errc::malformed`.
  std::size_t max_response_bytes = std::size_t{1} << 20;

  /// Reads the Vault CLI's environment: `VAULT_ADDR` (default `https://127.0.0.1:8200`, as the
  /// CLI), `VAULT_TOKEN`, `VAULT_NAMESPACE`, and when `VAULT_TOKEN` is unset the CLI's token
  /// file `~/.vault-token` if it exists. Fails only on an address that is set but empty.
  [[nodiscard]] static result<vault_config> from_env(std::string path,
                                                     std::string mount = "secret") {
    vault_config c;
    c.mount = std::move(mount);
    c.path = std::move(path);
    const char* addr = std::getenv("VAULT_ADDR");
    if (addr != nullptr && *addr == '\0')
      return fail(errc::invalid_argument, "VAULT_ADDR is empty");
    c.address = addr != nullptr ? addr : "https://127.0.0.1:8200";
    if (const char* token = std::getenv("VAULT_TOKEN"); token != nullptr && *token != '\0') {
      c.token = secret(std::string_view(token));
    } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
      std::error_code ec;
      const auto file = std::filesystem::path(home) / ".vault-token";
      if (std::filesystem::exists(file, ec)) c.token_file = file.string();
    }
    if (const char* ns = std::getenv("VAULT_NAMESPACE"); ns != nullptr) c.namespace_ = ns;
    return c;
  }
};

}  // namespace dualcred
