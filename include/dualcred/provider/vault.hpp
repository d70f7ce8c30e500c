#pragma once

#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "../error.hpp"
#include "../http/types.hpp"
#include "../secret.hpp"
#include "assemble.hpp"
#include "key_names.hpp"
#include "vault/config.hpp"
#include "vault/kv2_client.hpp"

namespace dualcred {

/// Reads a login from a Vault KV version 2 secret:
/// `GET {address}/v1/{mount}/data/{path}` with `X-Vault-Token`, `X-Vault-Namespace` when set,
/// and `X-Vault-Request: true`. The set's `version` is the secret's KV version.
///
/// \requires `Http` is an `http_client`: `http(const http_request&)` returns
/// `result<http_response>` (`curl_transport` is one).
///
/// Errors, by HTTP status: 404 (missing, or the version soft-deleted or destroyed)
/// `not_found`; 403 `permission_denied`; 400 `invalid_argument`; 412, 429 and 5xx
/// `provider_unavailable`; transport failures as the transport says (`timeout` or
/// `provider_unavailable`); a body that is not JSON or over `max_response_bytes`,
/// `malformed`. A missing CURRENT key is `not_found` naming it, NEXT may be absent, and a
/// value that is not a string is `malformed` naming the key. No detail holds a token or a
/// value. The response body and the parsed JSON strings are zeroed after use; see
/// `provider::vault::detail::scrubbed_json` for the parser buffers that cannot be. The KV v2
/// exchange itself is `vault_kv2_client`'s (`provider/vault/kv2_client.hpp`).
///
/// One secret often holds several logins (`DB_*` and `REDIS_*`): make one provider per
/// `key_names` over the same path.
///
/// **Example**
///
///     auto cfg = dualcred::vault_config::from_env("mutt/prod");
///     dualcred::vault_kv2_provider db(dualcred::curl_transport{}, cfg.value(),
///                                     dualcred::key_names::for_prefix("DB"));
///     auto set = db.load();
template <class Http>
class vault_kv2_provider {
  static_assert(http_client<Http>,
                "dualcred: the Http callable must take `const dualcred::http_request&` and "
                "return dualcred::result<dualcred::http_response>");

 public:
  vault_kv2_provider(Http http, vault_config config, key_names keys = key_names::for_prefix("DB"))
      : client_(std::move(http), std::move(config)), keys_(std::move(keys)) {}

  /// Reads the secret's latest version.
  [[nodiscard]] result<credential_set> load() {
    DUALCRED_TRY(read, client_.read(std::nullopt, kv2_other_types::list));
    const std::string& source = client_.source();
    auto lookup = [&](const std::string& key) -> result<std::optional<secret>> {
      for (const auto& bad : read.other_types)
        if (bad == key)
          return fail(errc::malformed, fmt::format("{} in {} is not a string", key, source));
      const auto it = read.values.find(key);
      if (it == read.values.end()) return std::optional<secret>();
      return std::optional<secret>(it->second);
    };
    DUALCRED_TRY(set, provider::assemble(keys_, source, lookup));
    set.version = std::to_string(read.metadata.version);
    return set;
  }

  [[nodiscard]] const key_names& keys() const noexcept { return keys_; }
  [[nodiscard]] const vault_config& config() const noexcept { return client_.config(); }
  [[nodiscard]] Http& http() noexcept { return client_.http(); }

 private:
  vault_kv2_client<Http> client_;
  key_names keys_;
};

}  // namespace dualcred
