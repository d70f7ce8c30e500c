#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <string_view>

#include "secret.hpp"

#if __has_include(<sys/random.h>)
#include <sys/random.h>
#endif

namespace dualcred {

/// Which credential opened a connection: what `dual_credential::connect(credential_tag&)`
/// fills in, kept by the caller beside the connection. `dual_credential::holds(tag)` then
/// says whether that credential is still in the published set; a connection whose
/// credential left the set is "retired".
///
/// `generation` is the published set's (it grows whenever the credentials change) and
/// `which` the slot that logged in. `fingerprint` identifies the user and password across
/// sets, since a rotation moves a password from NEXT to CURRENT: it is a keyed hash
/// (SipHash-2-4) under a random key drawn once per process and never stored or shown, so
/// the tag reveals nothing of the password, and a tag from another process never matches.
struct credential_tag {
  std::uint64_t generation = 0;  ///< 0: no connect filled this tag in
  slot which = slot::current;
  std::uint64_t fingerprint = 0;

  friend bool operator==(const credential_tag&, const credential_tag&) = default;
};

namespace detail {

// SipHash-2-4 (Aumasson and Bernstein): a keyed pseudo-random function, so fingerprints of
// passwords cannot be inverted or compared offline without the key.
class siphash24 {
 public:
  siphash24(std::uint64_t k0, std::uint64_t k1) noexcept
      : v0_(k0 ^ 0x736f6d6570736575ULL),
        v1_(k1 ^ 0x646f72616e646f6dULL),
        v2_(k0 ^ 0x6c7967656e657261ULL),
        v3_(k1 ^ 0x7465646279746573ULL) {}
  siphash24(const siphash24&) = delete;
  siphash24& operator=(const siphash24&) = delete;
  // The tail holds up to seven bytes of the input, and the state is derived from the rest.
  ~siphash24() { secure_zero(this, sizeof *this); }

  void update(std::string_view bytes) noexcept {
    for (const char c : bytes) {
      tail_ |= static_cast<std::uint64_t>(static_cast<unsigned char>(c)) << (8 * (length_ % 8));
      if (++length_ % 8 == 0) {
        absorb(tail_);
        tail_ = 0;
      }
    }
  }

  [[nodiscard]] std::uint64_t finish() noexcept {
    absorb(tail_ | (static_cast<std::uint64_t>(length_ & 0xff) << 56));
    tail_ = 0;
    v2_ ^= 0xff;
    for (int i = 0; i < 4; ++i) round();
    return v0_ ^ v1_ ^ v2_ ^ v3_;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int b) noexcept { return (x << b) | (x >> (64 - b)); }
  void round() noexcept {
    v0_ += v1_;
    v1_ = rotl(v1_, 13) ^ v0_;
    v0_ = rotl(v0_, 32);
    v2_ += v3_;
    v3_ = rotl(v3_, 16) ^ v2_;
    v0_ += v3_;
    v3_ = rotl(v3_, 21) ^ v0_;
    v2_ += v1_;
    v1_ = rotl(v1_, 17) ^ v2_;
    v2_ = rotl(v2_, 32);
  }
  void absorb(std::uint64_t m) noexcept {
    v3_ ^= m;
    round();
    round();
    v0_ ^= m;
  }

  std::uint64_t v0_, v1_, v2_, v3_;
  std::uint64_t tail_ = 0;
  std::size_t length_ = 0;
};

struct fingerprint_key {
  std::uint64_t k0 = 0, k1 = 0;
};

// Drawn at first use from the kernel. Where getrandom fails (or is missing), the address of
// the key, the time and the clock still differ between processes, which is all a tag needs:
// the key guards the password only against someone who can read this process's memory,
// where the password is too. No exception either way: the core builds without them.
inline const fingerprint_key& process_fingerprint_key() noexcept {
  static const fingerprint_key key = [] {
    fingerprint_key k;
    bool drawn = false;
#if __has_include(<sys/random.h>)
    drawn = ::getrandom(&k, sizeof k, 0) == static_cast<ssize_t>(sizeof k);
#endif
    if (!drawn) {
      k.k0 = reinterpret_cast<std::uintptr_t>(&k) ^ static_cast<std::uint64_t>(std::time(nullptr));
      k.k1 =
          static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) *
          0x9e3779b97f4a7c15ULL;
    }
    return k;
  }();
  return key;
}

// The user, a separator no user name holds, then the password: equal only for one login.
inline std::uint64_t fingerprint_of(const credential& c) noexcept {
  const fingerprint_key& key = process_fingerprint_key();
  siphash24 h(key.k0, key.k1);
  h.update(c.user);
  h.update(std::string_view("\0", 1));
  h.update(c.password.reveal());
  return h.finish();
}

}  // namespace detail
}  // namespace dualcred
