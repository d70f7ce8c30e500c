#pragma once

// The Vault KV v2 store for rotation: needs nlohmann_json (the `dualcred-vault` dependency)
// and an HTTP callable such as `curl_transport`.

#include <cstdint>
#include <string>
#include <utility>

#include "../../error.hpp"
#include "../../provider/vault/config.hpp"
#include "../../provider/vault/kv2_client.hpp"
#include "../lock.hpp"
#include "../state.hpp"
#include "detail/vault_lock.hpp"

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

  /// The rotation lock: a KV secret beside this one, `PATH.rotation-lock`, with a lease
  /// (`lock_options::lease`) so a crashed holder frees it in time; see `vault_rotation_lock`.
  /// The store must not move while the lock is held.
  [[nodiscard]] result<rotation_lock> lock_rotation(const lock_options& o) {
    auto lock =
        std::make_shared<detail::vault_rotation_lock<Http>>(kv_.http(), kv_.config(), describe());
    DUALCRED_TRY(lock->take(o));
    return rotation_lock([lock] { return lock->renew(); }, [lock] { lock->release(); });
  }

  /// Frees the rotation lock held by `holder` (the name its `errc::locked` error gives), for
  /// a holder that is gone before its lease ends; a lock held by anyone else is left alone.
  [[nodiscard]] result<void> break_rotation_lock(std::string_view holder) {
    return detail::vault_rotation_lock<Http>(kv_.http(), kv_.config(), describe())
        .break_lock(holder);
  }

  [[nodiscard]] std::string describe() const { return kv_.source(); }

  [[nodiscard]] vault_kv2_client<Http>& kv() noexcept { return kv_; }

 private:
  vault_kv2_client<Http> kv_;
};

}  // namespace dualcred::rotation::stores
