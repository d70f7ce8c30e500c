#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "detail/audit_hooks.hpp"
#include "detail/secret_storage.hpp"
#include "detail/secure_zero.hpp"

#ifndef DUALCRED_SECRET_DONTDUMP
/// 1 keeps every secret's bytes out of core dumps: each secret gets anonymous pages of its
/// own marked `MADV_DONTDUMP` (Linux 3.4+; elsewhere it does not compile). It costs a page of
/// memory per secret and a few system calls per secret made, copied or freed; connects do
/// not make secrets, so the happy path does not change. 0 (the default): ordinary heap.
/// Define it the same way in every translation unit (a project-wide compiler flag): it
/// changes how `secret` stores its bytes.
#define DUALCRED_SECRET_DONTDUMP 0
#endif

namespace dualcred {

/// A password or token. It owns its bytes and zeroes them when destroyed or moved from.
///
/// There is deliberately no implicit conversion to any string type (fmt would print it):
/// `reveal()` is the one, greppable, way to the bytes. Formatting with fmt or `operator<<`
/// prints `***`. Equality runs in time independent of where the bytes first differ.
/// With `DUALCRED_SECRET_DONTDUMP` set to 1, the bytes are left out of core dumps.
class secret {
 public:
  secret() noexcept = default;
  explicit secret(std::string_view bytes) : bytes_(bytes) { DUALCRED_AUDIT_SECRET(bytes); }
  explicit secret(const char* bytes) : secret(std::string_view(bytes)) {}
  /// Takes the string's bytes and scrubs the string, so no stray copy is left behind.
  explicit secret(std::string&& bytes) : secret(std::string_view(bytes)) {
    detail::secure_zero(bytes.data(), bytes.size());
    bytes.clear();
  }

  secret(const secret& other) : secret(other.reveal()) {}
  secret& operator=(const secret& other) {
    if (this != &other) *this = secret(other);
    return *this;
  }
  // Moves hand the buffer over; the old bytes are zeroed when a buffer is freed.
  secret(secret&& other) noexcept = default;
  secret& operator=(secret&& other) noexcept = default;
  ~secret() = default;

  /// The bytes. The view dies with this secret; never log or format it.
  [[nodiscard]] std::string_view reveal() const noexcept {
    return bytes_.data() ? std::string_view(bytes_.data(), bytes_.size()) : std::string_view();
  }
  /// The bytes of a value read as a secret that is not one: a store reads every value as a
  /// secret, and a user name or a rotation phase then becomes public text. Says so to the
  /// audit hook, so the test suite's leak policy does not count it as a password.
  [[nodiscard]] std::string_view reveal_public() const noexcept {
    DUALCRED_AUDIT_PUBLIC(reveal());
    return reveal();
  }
  /// The bytes, NUL-terminated, for C drivers (libpq, hiredis) that want a `const char*`.
  [[nodiscard]] const char* c_str() const noexcept { return bytes_.data() ? bytes_.data() : ""; }
  [[nodiscard]] std::size_t size() const noexcept { return bytes_.size(); }
  [[nodiscard]] bool empty() const noexcept { return bytes_.size() == 0; }

  /// Constant time for equal lengths; the length itself is not hidden.
  friend bool operator==(const secret& a, const secret& b) noexcept {
    if (a.size() != b.size()) return false;
    const auto* pa = reinterpret_cast<const volatile unsigned char*>(a.bytes_.data());
    const auto* pb = reinterpret_cast<const volatile unsigned char*>(b.bytes_.data());
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(pa[i] ^ pb[i]);
    return diff == 0;
  }

  friend std::ostream& operator<<(std::ostream& os, const secret&) { return os << "***"; }

 private:
  detail::secret_storage<DUALCRED_SECRET_DONTDUMP != 0> bytes_;
};

/// One login: a user name (not secret) and its password.
struct credential {
  std::string user;
  secret password;

  friend bool operator==(const credential&, const credential&) = default;
};

/// What a provider loads: CURRENT, the optional NEXT, and the source's revision.
/// Two sets with equal non-empty `version`s from one source hold equal values.
struct credential_set {
  credential current;
  std::optional<credential> next;
  std::string version;

  /// Equal credentials, whatever the version says.
  [[nodiscard]] bool same_credentials(const credential_set& other) const noexcept {
    return current == other.current && next == other.next;
  }
};

/// Which of the two credentials.
enum class slot { current, next };

[[nodiscard]] constexpr std::string_view to_string(slot s) noexcept {
  return s == slot::current ? "current" : "next";
}
[[nodiscard]] constexpr slot other(slot s) noexcept {
  return s == slot::current ? slot::next : slot::current;
}

}  // namespace dualcred

template <>
struct fmt::formatter<dualcred::secret> : fmt::formatter<std::string_view> {
  auto format(const dualcred::secret&, format_context& ctx) const -> decltype(ctx.out()) {
    return fmt::formatter<std::string_view>::format("***", ctx);
  }
};

template <>
struct fmt::formatter<dualcred::slot> : fmt::formatter<std::string_view> {
  auto format(dualcred::slot s, format_context& ctx) const -> decltype(ctx.out()) {
    return fmt::formatter<std::string_view>::format(dualcred::to_string(s), ctx);
  }
};

template <>
struct fmt::formatter<dualcred::credential> : fmt::formatter<std::string_view> {
  auto format(const dualcred::credential& c, format_context& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(), "{}:***", c.user);
  }
};
