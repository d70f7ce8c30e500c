#pragma once

#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "detail/assemble.hpp"
#include "../detail/scrubbed_json.hpp"
#include "../detail/vault_response.hpp"
#include "../detail/vault_session.hpp"
#include "../error.hpp"
#include "../http/types.hpp"
#include "../secret.hpp"
#include "key_names.hpp"
#include "vault_config.hpp"

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
/// `detail::scrubbed_json` for the parser buffers that cannot be.
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
      : source_(fmt::format("Vault {}/{}", config.mount, config.path)),
        session_(std::move(http), std::move(config)),
        keys_(std::move(keys)) {}

  /// Reads the secret's latest version.
  [[nodiscard]] result<credential_set> load() {
    const vault_config& cfg = session_.config();
    DUALCRED_TRY(mount, detail::encode_vault_path(cfg.mount, "mount"));
    DUALCRED_TRY(path, detail::encode_vault_path(cfg.path, "path"));
    DUALCRED_TRY(resp, session_.send("GET", fmt::format("{}/data/{}", mount, path)));
    detail::scrub_on_exit guard(resp.body);
    detail::scrubbed_json doc;
    DUALCRED_TRY(session_.check(resp, doc, source_));
    DUALCRED_TRY(read, detail::parse_kv2_read(doc.value(), source_));
    if (!read.has_data)
      return fail(errc::not_found,
                  fmt::format("{}: version {} is {}", source_, read.value.metadata.version,
                              read.value.metadata.destroyed ? "destroyed" : "deleted"));
    const auto& values = read.value.values;
    const auto& not_strings = read.not_strings;
    auto lookup = [&](const std::string& key) -> result<std::optional<secret>> {
      for (const auto& bad : not_strings)
        if (bad == key)
          return fail(errc::malformed, fmt::format("{} in {} is not a string", key, source_));
      const auto it = values.find(key);
      if (it == values.end()) return std::optional<secret>();
      return std::optional<secret>(it->second);
    };
    DUALCRED_TRY(set, detail::assemble(keys_, source_, lookup));
    set.version = std::to_string(read.value.metadata.version);
    return set;
  }

  [[nodiscard]] const key_names& keys() const noexcept { return keys_; }
  [[nodiscard]] const vault_config& config() const noexcept { return session_.config(); }
  [[nodiscard]] Http& http() noexcept { return session_.http(); }

 private:
  std::string source_;
  detail::vault_session<Http> session_;
  key_names keys_;
};

}  // namespace dualcred
