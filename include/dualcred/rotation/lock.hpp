#pragma once

#include <unistd.h>

#include <array>
#include <chrono>
#include <concepts>
#include <functional>
#include <string>
#include <utility>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "../error.hpp"

namespace dualcred::rotation {

/// How a rotator takes the rotation lock of its store.
struct lock_options {
  /// Who asks: named in the other rotator's error. Empty: `default_lock_holder()`.
  std::string holder;
  /// How long to wait for a lock another rotator holds before giving up (`errc::locked`).
  std::chrono::milliseconds wait{0};
  /// Stores without a lock the kernel drops with its process (Vault): how long a lock
  /// outlives a rotator that crashed holding it. Renewed before each backend change.
  std::chrono::seconds lease{std::chrono::minutes(15)};
};

/// The rotation lock of a store, held until destroyed or `release()`d. `renew()` makes sure
/// it is still held (and extends a lease) before a change that must not race.
class rotation_lock {
 public:
  rotation_lock() = default;
  rotation_lock(std::function<result<void>()> renew, std::function<void()> release)
      : renew_(std::move(renew)), release_(std::move(release)) {}
  rotation_lock(rotation_lock&& o) noexcept
      : renew_(std::exchange(o.renew_, nullptr)), release_(std::exchange(o.release_, nullptr)) {}
  rotation_lock& operator=(rotation_lock&& o) noexcept {
    if (this != &o) {
      release();
      renew_ = std::exchange(o.renew_, nullptr);
      release_ = std::exchange(o.release_, nullptr);
    }
    return *this;
  }
  rotation_lock(const rotation_lock&) = delete;
  rotation_lock& operator=(const rotation_lock&) = delete;
  ~rotation_lock() { release(); }

  [[nodiscard]] bool held() const noexcept { return static_cast<bool>(release_); }

  /// Fails (`errc::locked`) when the lock was lost, for example broken after its lease.
  [[nodiscard]] result<void> renew() {
    if (!renew_) return boost::outcome_v2::success();
    return renew_();
  }

  void release() noexcept {
    renew_ = nullptr;
    if (auto r = std::exchange(release_, nullptr)) r();
  }

 private:
  std::function<result<void>()> renew_;
  std::function<void()> release_;
};

/// \requires `s.lock_rotation(options)` returns `result<rotation_lock>`: the store's one
/// rotation lock, or `errc::locked` naming the holder once `options.wait` has passed. While
/// one rotator holds it, no other rotator of the same store reads, decides or changes
/// anything, so a step's backend change and its store write are never interleaved with
/// another step's.
template <class S>
concept lockable_store = requires(S& s, const lock_options& o) {
  { s.lock_rotation(o) } -> std::same_as<result<rotation_lock>>;
};

/// `pid 4242 on host db-rotator-1`: enough to find a holder, nothing secret.
[[nodiscard]] inline std::string default_lock_holder() {
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  return fmt::format("pid {} on host {}", ::getpid(), host.data());
}

/// The lock's owner line: holder and when it took the lock, in UTC.
[[nodiscard]] inline std::string lock_owner_line(std::string_view holder,
                                                 std::chrono::system_clock::time_point since) {
  return fmt::format("{} since {:%Y-%m-%dT%H:%M:%SZ}", holder,
                     std::chrono::floor<std::chrono::seconds>(since));
}

}  // namespace dualcred::rotation
