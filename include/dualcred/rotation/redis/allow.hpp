#pragma once

// Which hosts a Redis rotation may log in to: the operator's allow list (host names and
// CIDR blocks, IPv4 and IPv6). No hiredis: the tool parses `--redis-allow` with it.

#include <arpa/inet.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "../../error.hpp"

namespace dualcred::rotation::redis {

/// Hosts and networks the operator allows (`--redis-allow HOST|CIDR[,...]`). A host that is
/// an IPv4 or IPv6 address matches by network (`10.0.0.0/8`, `fd00::/8`, or one address);
/// any other host matches a named host exactly (ASCII case and a final dot ignored), never
/// through DNS: a name that resolves into an allowed network is not allowed by that.
/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) match as the IPv4 address they carry.
///
///     auto allow = allow_list::parse("10.0.0.0/24,redis-a.example,fd00::/8");
///     allow.value().contains("10.0.0.7");  // true
class allow_list {
 public:
  /// A comma-separated list of entries (see `add`); `invalid_argument` naming the first bad
  /// entry.
  [[nodiscard]] static result<allow_list> parse(std::string_view spec) {
    allow_list out;
    std::size_t at = 0;
    for (;;) {
      const std::size_t comma = std::min(spec.find(',', at), spec.size());
      DUALCRED_TRY(out.add(spec.substr(at, comma - at)));
      if (comma == spec.size()) break;
      at = comma + 1;
    }
    return out;
  }

  /// One entry: an address, `ADDRESS/PREFIX`, or a host name (letters, digits, `-`, `_`,
  /// `.`, at most 253 characters). `[v6]` brackets are accepted around an address.
  [[nodiscard]] result<void> add(std::string_view entry) {
    const auto bad = [&](std::string_view why) {
      return fail(errc::invalid_argument,
                  fmt::format("allow list entry '{}': {}", printable(entry), why));
    };
    if (entry.empty()) return bad("empty (HOST or ADDRESS/PREFIX)");
    const std::size_t slash = entry.find('/');
    const auto net = address(entry.substr(0, slash));
    if (slash != std::string_view::npos) {
      if (!net) return bad("not an IPv4 or IPv6 address before the '/'");
      const std::string_view digits = entry.substr(slash + 1);
      const int max = net->v4 ? 32 : 128;
      int prefix = 0;
      if (digits.empty() || digits.size() > 3) return bad("a prefix length wants 0 to 32 / 128");
      for (const char c : digits) {
        if (c < '0' || c > '9') return bad("a prefix length wants 0 to 32 / 128");
        prefix = prefix * 10 + (c - '0');
      }
      if (prefix > max) return bad(fmt::format("a prefix longer than {}", max));
      // `10.0.0.1/8` is a typo for a host or for 10.0.0.0/8: which one is not ours to guess.
      if (!host_bits_clear(*net, prefix)) return bad("address bits set past the prefix");
      nets_.push_back({*net, prefix});
      text_.emplace_back(entry);
      return boost::outcome_v2::success();
    }
    if (net) {
      nets_.push_back({*net, net->v4 ? 32 : 128});
      text_.emplace_back(entry);
      return boost::outcome_v2::success();
    }
    std::string name = folded(entry);
    if (name.empty() || name.size() > 253 || name.front() == '-' || name.front() == '.')
      return bad("not a host name");
    for (const char c : name)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
        return bad("not a host name, an address or ADDRESS/PREFIX");
    names_.push_back(std::move(name));
    text_.emplace_back(entry);
    return boost::outcome_v2::success();
  }

  /// Whether `host` (as a server reported it, or as the operator named it) is allowed.
  [[nodiscard]] bool contains(std::string_view host) const {
    if (const auto ip = address(host)) {
      for (const auto& n : nets_)
        if (n.base.v4 == ip->v4 && same_prefix(n.base, *ip, n.prefix)) return true;
      return false;
    }
    const std::string name = folded(host);
    for (const auto& n : names_)
      if (n == name) return true;
    return false;
  }

  [[nodiscard]] bool empty() const noexcept { return text_.empty(); }

  /// The entries as given, comma-separated (for messages).
  [[nodiscard]] std::string describe() const {
    std::string out;
    for (const auto& t : text_) out += fmt::format("{}{}", out.empty() ? "" : ",", t);
    return out;
  }

 private:
  struct ip {
    bool v4 = false;
    std::array<std::uint8_t, 16> bytes{};
  };
  struct network {
    ip base;
    int prefix = 0;
  };

  // An IPv4 or IPv6 literal (IPv4-mapped IPv6 folded to IPv4); nullopt for anything else.
  static std::optional<ip> address(std::string_view text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
      text = text.substr(1, text.size() - 2);
    if (text.empty() || text.size() > 45) return std::nullopt;
    const std::string s(text);
    ip out;
    if (::inet_pton(AF_INET, s.c_str(), out.bytes.data()) == 1) {
      out.v4 = true;
      return out;
    }
    if (::inet_pton(AF_INET6, s.c_str(), out.bytes.data()) != 1) return std::nullopt;
    static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(out.bytes.data(), mapped, sizeof mapped) == 0) {
      std::memmove(out.bytes.data(), out.bytes.data() + 12, 4);
      std::memset(out.bytes.data() + 4, 0, 12);
      out.v4 = true;
    }
    return out;
  }

  static bool same_prefix(const ip& a, const ip& b, int prefix) {
    std::size_t i = 0;
    for (; prefix >= 8; prefix -= 8, ++i)
      if (a.bytes[i] != b.bytes[i]) return false;
    if (prefix == 0) return true;
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - prefix));
    return (a.bytes[i] & mask) == (b.bytes[i] & mask);
  }

  // No bit of `a` past the first `prefix` bits is set.
  static bool host_bits_clear(const ip& a, int prefix) {
    const int total = a.v4 ? 32 : 128;
    for (int bit = prefix; bit < total; ++bit)
      if ((a.bytes[static_cast<std::size_t>(bit / 8)] >> (7 - bit % 8)) & 1) return false;
    return true;
  }

  // Host names compare without ASCII case and without the root's final dot.
  static std::string folded(std::string_view name) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    std::string out(name);
    for (char& c : out)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
  }

  // An entry quoted in an error: control bytes and non-ASCII shown as '?', at most 64.
  static std::string printable(std::string_view s) {
    std::string out;
    for (const char c : s.substr(0, 64))
      out.push_back(
          static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e ? '?' : c);
    return out;
  }

  std::vector<network> nets_;
  std::vector<std::string> names_;
  std::vector<std::string> text_;
};

}  // namespace dualcred::rotation::redis
