#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "../../../error.hpp"
#include "../../../provider/secret_map.hpp"
#include "../../../provider/vault/config.hpp"
#include "../../../provider/vault/kv2_client.hpp"
#include "../../lock.hpp"

namespace dualcred::rotation::stores::detail {

// The rotation lock of a Vault store: a KV v2 secret beside the store's (`PATH.rotation-lock`)
// naming its holder and when its lease ends. It is taken and given back by check-and-set on
// that secret's version, so two rotators cannot both hold it, and a lease that ended frees
// it, so a rotator that crashed holding it blocks the next one only until then. Before each
// backend change the holder renews the lease, again by check-and-set: a lock that lapsed
// and was taken by another rotator stops the step instead of racing it.
template <class Http>
class vault_rotation_lock {
 public:
  using clock = std::chrono::system_clock;
  using kv_client = vault_kv2_client<std::reference_wrapper<Http>>;

  vault_rotation_lock(Http& http, vault_config config, std::string store)
      : kv_(std::ref(http), with_lock_path(std::move(config))), store_(std::move(store)) {}

  // Takes the lock for `o.holder`, waiting up to `o.wait` for another holder's to end.
  result<void> take(const lock_options& o) {
    holder_ = lock_owner_line(o.holder.empty() ? default_lock_holder() : o.holder, clock::now());
    lease_ = o.lease;
    const auto deadline = std::chrono::steady_clock::now() + o.wait;
    for (;;) {
      DUALCRED_TRY(now, current());
      if (!now.held_by_other()) {
        auto taken = kv_.write(entry(holder_, clock::now() + lease_), now.version);
        if (taken) {
          version_ = taken.value();
          return boost::outcome_v2::success();
        }
        if (!taken.error().is(errc::conflict)) return std::move(taken).as_failure();
        continue;  // another rotator wrote it between the read and the write: look again
      }
      if (std::chrono::steady_clock::now() >= deadline)
        return fail(errc::locked,
                    fmt::format("{} is being rotated by {} (lock {} until {:%Y-%m-%dT%H:%M:%SZ}; "
                                "a holder that is gone frees it then, or break it naming that "
                                "holder)",
                                store_, now.holder, kv_.source(), floor_s(now.until)));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  // Extends the lease, failing if the lock is no longer this holder's.
  result<void> renew() {
    auto renewed = kv_.write(entry(holder_, clock::now() + lease_), version_);
    if (renewed) {
      version_ = renewed.value();
      return boost::outcome_v2::success();
    }
    if (renewed.error().is(errc::conflict))
      return fail(errc::locked, fmt::format("the rotation lock {} of {} is no longer held by {}: "
                                            "its lease ended and it was taken or broken",
                                            kv_.source(), store_, holder_));
    return std::move(renewed).as_failure();
  }

  // Gives the lock back, if still this holder's.
  void release() noexcept { (void)kv_.write(entry("", clock::time_point{}), version_); }

  // Frees the lock held by `holder` (as the lock's error names it), and nobody else's.
  result<void> break_lock(std::string_view holder) {
    DUALCRED_TRY(now, current());
    if (!now.held_by_other() || now.holder != holder)
      return fail(errc::invalid_argument,
                  fmt::format("{} is not held by '{}' (holder: '{}')", kv_.source(), holder,
                              now.holder.empty() ? "nobody" : now.holder));
    DUALCRED_TRY(kv_.write(entry("", clock::time_point{}), now.version));
    return boost::outcome_v2::success();
  }

 private:
  struct state {
    std::uint64_t version = 0;  // the lock secret's current version; 0: none yet
    std::string holder;
    clock::time_point until;
    [[nodiscard]] bool held_by_other() const { return !holder.empty() && until > clock::now(); }
  };

  static vault_config with_lock_path(vault_config c) {
    c.path += ".rotation-lock";
    return c;
  }
  static auto floor_s(clock::time_point t) { return std::chrono::floor<std::chrono::seconds>(t); }

  static secret_map entry(std::string_view holder, clock::time_point until) {
    secret_map m;
    // The holder is public text, named in other rotators' errors.
    (void)m.emplace("holder", secret(holder)).first->second.reveal_public();
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(until.time_since_epoch());
    m.emplace("lease_until", secret(std::to_string(s.count())));
    return m;
  }

  result<state> current() {
    auto meta = kv_.metadata();
    if (!meta) {
      if (meta.error().is(errc::not_found)) return state{};
      return std::move(meta).as_failure();
    }
    state st{meta.value().current_version, {}, {}};
    auto read = kv_.read(st.version);
    if (!read) {
      if (read.error().is(errc::not_found)) return st;  // deleted or destroyed: free
      return std::move(read).as_failure();
    }
    const secret_map& v = read.value().values;
    if (auto h = v.find("holder"); h != v.end()) st.holder = std::string(h->second.reveal_public());
    if (auto u = v.find("lease_until"); u != v.end()) {
      std::int64_t secs = 0;
      const std::string_view text = u->second.reveal_public();
      for (const char c : text) {
        if (c < '0' || c > '9' || secs > (INT64_MAX - 9) / 10) return st;  // unreadable: free
        secs = secs * 10 + (c - '0');
      }
      st.until = clock::time_point(std::chrono::seconds(secs));
    }
    return st;
  }

  kv_client kv_;
  std::string store_;
  std::string holder_;
  std::chrono::seconds lease_{0};
  std::uint64_t version_ = 0;
};

}  // namespace dualcred::rotation::stores::detail
