#pragma once

// The Vault KV v2 store for rotation: needs nlohmann_json (the `dualcred-vault` dependency)
// and an HTTP callable such as `curl_transport`.

#include <cstdint>
#include <string>
#include <utility>

#include "../../error.hpp"
#include "../../provider/vault/config.hpp"
#include "../../provider/vault/kv2_client.hpp"
#include "../state.hpp"

namespace dualcred::rotation::stores {

/// A `writable_store` over one Vault KV v2 secret (through `vault_kv2_client`): the revision is the
/// KV version, and a write is a check-and-set on it, so two rotators cannot both win. Every
/// key of the secret is read and written back, so a rotation of `REDIS_*` keeps `DB_*`.
/// The Vault provider reading the same secret reports the KV version as its `version`.
template <class Http>
class vault_store {
 public:
  vault_store(Http http, vault_config config) : kv_(std::move(http), std::move(config)) {}

  [[nodiscard]] result<stored> read() {
    DUALCRED_TRY(secret, kv_.read());
    return stored{std::move(secret.values), secret.metadata.version};
  }

  [[nodiscard]] result<std::uint64_t> write(const secret_map& data, std::uint64_t expected) {
    return kv_.write(data, expected);
  }

  [[nodiscard]] std::string describe() const { return kv_.source(); }

  [[nodiscard]] vault_kv2_client<Http>& kv() noexcept { return kv_; }

 private:
  vault_kv2_client<Http> kv_;
};

}  // namespace dualcred::rotation::stores
