#pragma once

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "../detail/secure_zero.hpp"
#include "../error.hpp"
#include "../secret.hpp"

namespace dualcred::rotation {

/// The characters of generated passwords by default: safe unquoted in a libpq conninfo, a
/// URL, a dotenv file, a shell and a Redis ACL rule.
inline constexpr std::string_view password_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The character classes of a `password_policy`, in the order a spec names them.
enum class char_class : unsigned char { lower, upper, digit, symbol };

inline constexpr std::array<std::string_view, 4> char_class_names = {"lower", "upper", "digit",
                                                                     "symbol"};
/// Each class's characters: ASCII letters, digits, and every printable ASCII punctuation
/// character (no space).
inline constexpr std::array<std::string_view, 4> char_class_chars = {
    "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789",
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"};

/// What generated passwords look like: `length` characters, drawn from the classes that have
/// a minimum (`min[c]` set: at least that many of class `c`; unset: the class is not used),
/// never one of `exclude`. Written and read as a spec (`to_spec`, `parse_password_policy`):
/// `length=24,lower=1,upper=1,digit=2,symbol=0,exclude=@:/`, so a store can hold it as text.
struct password_policy {
  std::size_t length = 32;
  std::array<std::optional<std::size_t>, 4> min{0, 0, 0, std::nullopt};
  std::string exclude;

  /// Letters and digits, no minimum: the default of `generate_password(length)`.
  [[nodiscard]] static password_policy defaults(std::size_t length = 32) {
    password_policy p;
    p.length = length;
    return p;
  }

  [[nodiscard]] bool uses(char_class c) const noexcept {
    return min[static_cast<std::size_t>(c)].has_value();
  }

  /// Class `c`'s characters less `exclude` (empty when the class is not used).
  [[nodiscard]] std::string chars_of(char_class c) const {
    std::string out;
    if (!uses(c)) return out;
    for (const char ch : char_class_chars[static_cast<std::size_t>(c)])
      if (exclude.find(ch) == std::string::npos) out.push_back(ch);
    return out;
  }

  /// Every character a password may hold.
  [[nodiscard]] std::string alphabet() const {
    std::string out;
    for (std::size_t c = 0; c < 4; ++c) out += chars_of(static_cast<char_class>(c));
    return out;
  }

  /// The canonical spec: `length` first, each used class in order, `exclude` last (only the
  /// characters that are in a used class, each once).
  [[nodiscard]] std::string to_spec() const {
    std::string out = fmt::format("length={}", length);
    for (std::size_t c = 0; c < 4; ++c)
      if (min[c]) out += fmt::format(",{}={}", char_class_names[c], *min[c]);
    std::string ex;
    for (std::size_t c = 0; c < 4; ++c)
      if (min[c])
        for (const char ch : char_class_chars[c])
          if (exclude.find(ch) != std::string::npos) ex.push_back(ch);
    if (!ex.empty()) out += ",exclude=" + ex;
    return out;
  }

  friend bool operator==(const password_policy& a, const password_policy& b) {
    return a.to_spec() == b.to_spec();
  }
};

/// Length bounds of a policy, and the least strength it may have: the entropy of what
/// `generate_password` draws (`policy_bits`) of at least this many bits.
inline constexpr std::size_t min_policy_length = 8;
inline constexpr std::size_t max_policy_length = 1024;
inline constexpr double min_policy_bits = 64;

/// The entropy, in bits, of a password `generate_password(p)` draws: each class's minimum
/// draws `min * log2(class size after exclude)` and the other characters `log2(alphabet
/// size)` each. The shuffle is not counted: which positions hold the required characters adds
/// a little, and leaving it out keeps the figure a lower bound. 0 when a class with a minimum
/// or the alphabet is empty, or the minimums exceed the length (`check_policy` refuses those).
[[nodiscard]] inline double policy_bits(const password_policy& p) {
  double bits = 0;
  std::size_t required = 0;
  for (std::size_t c = 0; c < 4; ++c) {
    if (!p.min[c] || *p.min[c] == 0) continue;
    const std::size_t n = p.chars_of(static_cast<char_class>(c)).size();
    if (n == 0) return 0;
    bits += static_cast<double>(*p.min[c]) * std::log2(static_cast<double>(n));
    required += *p.min[c];
  }
  const std::size_t n = p.alphabet().size();
  if (required > p.length || n == 0) return 0;
  return bits + static_cast<double>(p.length - required) * std::log2(static_cast<double>(n));
}

namespace detail {
// Bits rounded down to one decimal, so a figure just under the floor never prints as it.
inline double bits_floor(double bits) {
  return std::floor(bits * 10) / 10;
}

// Where a weak policy's bits come from: each minimum's draws, then the free characters.
inline std::string policy_bits_breakdown(const password_policy& p) {
  std::string out;
  std::size_t required = 0;
  for (std::size_t c = 0; c < 4; ++c) {
    if (!p.min[c] || *p.min[c] == 0) continue;
    const std::size_t n = p.chars_of(static_cast<char_class>(c)).size();
    required += *p.min[c];
    out += fmt::format(
        "{}={} draws {} from the {} {} character{} left ({:.1f} bits), ", char_class_names[c],
        *p.min[c], *p.min[c], n, char_class_names[c], n == 1 ? "" : "s",
        bits_floor(static_cast<double>(*p.min[c]) * std::log2(static_cast<double>(n))));
  }
  const std::size_t n = p.alphabet().size();
  const std::size_t rest = p.length - required;
  return out +
         fmt::format("the other {} from all {} ({:.1f} bits)", rest, n,
                     bits_floor(static_cast<double>(rest) * std::log2(static_cast<double>(n))));
}
}  // namespace detail

/// Whether passwords of `p` can exist and are strong enough: the length within bounds, the
/// minimums summing to at most the length, a class with a minimum above 0 not wholly
/// excluded, at least `min_policy_bits` (`policy_bits`). `invalid_argument` says which rule
/// failed, and for a weak policy, its bits and where they come from.
[[nodiscard]] inline result<void> check_policy(const password_policy& p) {
  if (p.length < min_policy_length || p.length > max_policy_length)
    return fail(errc::invalid_argument,
                fmt::format("password policy: length must be {} to {}, not {}", min_policy_length,
                            max_policy_length, p.length));
  std::size_t sum = 0;
  for (std::size_t c = 0; c < 4; ++c) {
    if (!p.min[c]) continue;
    if (*p.min[c] > p.length)
      return fail(errc::invalid_argument,
                  fmt::format("password policy: {}={} is more than the length {}",
                              char_class_names[c], *p.min[c], p.length));
    sum += *p.min[c];
    if (*p.min[c] > 0 && p.chars_of(static_cast<char_class>(c)).empty())
      return fail(errc::invalid_argument,
                  fmt::format("password policy: {}={} but exclude removes every {} character",
                              char_class_names[c], *p.min[c], char_class_names[c]));
  }
  if (sum > p.length)
    return fail(errc::invalid_argument,
                fmt::format("password policy: the class minimums add up to {}, more than the "
                            "length {}",
                            sum, p.length));
  if (p.alphabet().empty())
    return fail(errc::invalid_argument, "password policy: no character is left to use");
  const double bits = policy_bits(p);
  if (bits < min_policy_bits)
    return fail(
        errc::invalid_argument,
        fmt::format("password policy: the policy gives {:.1f} bits of entropy; at least "
                    "{:.0f} are needed ({}): make it longer, lower the minimums of small "
                    "classes, or exclude fewer characters",
                    detail::bits_floor(bits), min_policy_bits, detail::policy_bits_breakdown(p)));
  return boost::outcome_v2::success();
}

/// Reads a spec: a comma-separated list of `length=N`, `lower=N`, `upper=N`, `digit=N`,
/// `symbol=N` (a class named is used, with at least N of it; a class not named is not used;
/// with no class named: lower, upper and digit, no minimum) and a final `exclude=CHARS`
/// (everything after `exclude=`, commas too, is never used). The policy must pass
/// `check_policy`. Errors (`invalid_argument`) name the item that is wrong.
[[nodiscard]] inline result<password_policy> parse_password_policy(std::string_view spec) {
  password_policy p;
  p.min = {std::nullopt, std::nullopt, std::nullopt, std::nullopt};
  bool have_length = false;
  bool any_class = false;
  while (!spec.empty()) {
    if (spec.starts_with("exclude=")) {
      const std::string_view chars = spec.substr(8);
      for (const char ch : chars)
        if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e)
          return fail(errc::invalid_argument,
                      "password policy: exclude= holds a character that is not printable ASCII");
      p.exclude.assign(chars);
      break;
    }
    const std::size_t comma = spec.find(',');
    const std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (comma != std::string_view::npos && spec.empty())
      return fail(errc::invalid_argument, "password policy: a trailing comma");
    const std::size_t eq = item.find('=');
    const std::string_view name = item.substr(0, eq);
    if (eq == std::string_view::npos || item.size() > 32)
      return fail(errc::invalid_argument,
                  "password policy: each item is NAME=VALUE (length, lower, upper, digit, "
                  "symbol, and exclude last)");
    const std::string_view value = item.substr(eq + 1);
    std::size_t n = 0;
    bool digits_only = !value.empty() && value.size() <= 5;
    for (const char ch : value) {
      if (ch < '0' || ch > '9') digits_only = false;
      if (digits_only) n = n * 10 + static_cast<std::size_t>(ch - '0');
    }
    if (!digits_only)
      return fail(errc::invalid_argument,
                  fmt::format("password policy: {}= wants a whole number, 0 to 99999", name));
    if (name == "length") {
      if (have_length) return fail(errc::invalid_argument, "password policy: length given twice");
      have_length = true;
      p.length = n;
      continue;
    }
    std::size_t c = 0;
    while (c < 4 && char_class_names[c] != name) ++c;
    if (c == 4)
      return fail(errc::invalid_argument,
                  fmt::format("password policy: unknown item '{}' (length, lower, upper, digit, "
                              "symbol, exclude)",
                              name));
    if (p.min[c])
      return fail(errc::invalid_argument,
                  fmt::format("password policy: {} given twice", char_class_names[c]));
    p.min[c] = n;
    any_class = true;
  }
  if (!any_class) p.min = {0, 0, 0, std::nullopt};
  DUALCRED_TRY(check_policy(p));
  return p;
}

/// Whether `password` fits `p`: its length, only characters of the alphabet, each class's
/// minimum. On failure, says which rule (never the password).
[[nodiscard]] inline result<void> check_password(std::string_view password,
                                                 const password_policy& p) {
  if (password.size() != p.length)
    return fail(errc::invalid_argument,
                fmt::format("the password has {} characters, the policy wants {}", password.size(),
                            p.length));
  const std::string alphabet = p.alphabet();
  std::array<std::size_t, 4> count{};
  for (const char ch : password) {
    if (alphabet.find(ch) == std::string::npos)
      return fail(errc::invalid_argument,
                  "the password holds a character the policy does not allow");
    for (std::size_t c = 0; c < 4; ++c)
      if (char_class_chars[c].find(ch) != std::string_view::npos) ++count[c];
  }
  for (std::size_t c = 0; c < 4; ++c)
    if (p.min[c] && count[c] < *p.min[c])
      return fail(errc::invalid_argument,
                  fmt::format("the password has {} {} characters, the policy wants at least {}",
                              count[c], char_class_names[c], *p.min[c]));
  return boost::outcome_v2::success();
}

namespace detail {

// Uniform integers from getrandom(2), buffered; the buffer is scrubbed on destruction.
class csprng {
 public:
  csprng() = default;
  csprng(const csprng&) = delete;
  csprng& operator=(const csprng&) = delete;
  ~csprng() { dualcred::detail::secure_zero(pool_, sizeof pool_); }

  // Uniform in [0, n), 0 < n <= 2^32, by rejection: values at or past the largest multiple
  // of n are drawn again, so no residue is likelier than another.
  result<std::uint32_t> below(std::uint32_t n) {
    const std::uint64_t span = std::uint64_t{1} << 32;
    const std::uint64_t limit = span - span % n;
    for (;;) {
      if (pos_ + 4 > sizeof pool_) {
        DUALCRED_TRY(refill());
      }
      std::uint32_t v = 0;
      for (int i = 0; i < 4; ++i) v = (v << 8) | pool_[pos_++];
      if (v < limit) return static_cast<std::uint32_t>(v % n);
    }
  }

 private:
  result<void> refill() {
    std::size_t got = 0;
    while (got < sizeof pool_) {
      const ssize_t n = ::getrandom(pool_ + got, sizeof pool_ - got, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail(errc::provider_unavailable,
                    fmt::format("getrandom() failed: {}", std::generic_category().message(errno)));
      }
      got += static_cast<std::size_t>(n);
    }
    pos_ = 0;
    return boost::outcome_v2::success();
  }

  unsigned char pool_[256];
  std::size_t pos_ = sizeof pool_;
};

}  // namespace detail

/// A fresh password of policy `p` from the OS CSPRNG (getrandom(2)): each class's minimum
/// drawn from that class (after exclude), the rest from the whole alphabet, then shuffled
/// (Fisher-Yates), every draw uniform by rejection sampling (no modulo bias). A policy
/// `check_policy` refuses is `invalid_argument`.
[[nodiscard]] inline result<secret> generate_password(const password_policy& p) {
  DUALCRED_TRY(check_policy(p));
  const std::string alphabet = p.alphabet();
  detail::csprng rng;
  std::string out;
  out.reserve(p.length);  // no reallocation, so no stray copy to scrub
  auto fail_scrubbed = [&](const error& e) {
    dualcred::detail::secure_zero(out.data(), out.size());
    return boost::outcome_v2::failure(e);
  };
  auto draw = [&](std::string_view from) -> result<void> {
    auto i = rng.below(static_cast<std::uint32_t>(from.size()));
    if (!i) return std::move(i).as_failure();
    out.push_back(from[i.value()]);
    return boost::outcome_v2::success();
  };
  for (std::size_t c = 0; c < 4; ++c) {
    if (!p.min[c] || *p.min[c] == 0) continue;
    const std::string chars = p.chars_of(static_cast<char_class>(c));
    for (std::size_t k = 0; k < *p.min[c]; ++k)
      if (auto ok = draw(chars); !ok) return fail_scrubbed(ok.error());
  }
  while (out.size() < p.length)
    if (auto ok = draw(alphabet); !ok) return fail_scrubbed(ok.error());
  for (std::size_t i = out.size() - 1; i > 0; --i) {
    auto j = rng.below(static_cast<std::uint32_t>(i + 1));
    if (!j) return fail_scrubbed(j.error());
    std::swap(out[i], out[j.value()]);
  }
  return secret(std::move(out));
}

/// A fresh password of `length` letters and digits (`password_policy::defaults`): 32
/// characters carry 190 bits. Lengths below 16 or above 1024 are `invalid_argument`.
[[nodiscard]] inline result<secret> generate_password(std::size_t length = 32) {
  if (length < 16 || length > 1024)
    return fail(errc::invalid_argument,
                fmt::format("a generated password must be 16 to 1024 characters, not {}", length));
  return generate_password(password_policy::defaults(length));
}

}  // namespace dualcred::rotation
