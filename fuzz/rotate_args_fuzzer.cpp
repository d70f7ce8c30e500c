// dualcred-rotate's command line (tools/dualcred-rotate/cli.hpp) and its numeric and
// duration arguments (args.hpp). The input, split at NUL bytes, is an argv for the parser:
// it never crashes, a usage error never quotes a word that is not a flag, and a
// configuration it returns holds only values within each flag's bounds. The same bytes as
// one number: accepted only within its bounds, only when the text is plain decimal, and as
// what a long double reading of the same text says (within a millisecond, for durations).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

#include <variant>
#include <vector>

#include "args.hpp"
#include "cli.hpp"
#include <dualcred/rotation/detail/printable.hpp>

using namespace dualcred_rotate;
using std::chrono::milliseconds;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

void integers(std::string_view text) {
  constexpr std::int64_t big = std::numeric_limits<std::int64_t>::max();
  for (const auto& [lo, hi] :
       {std::pair<std::int64_t, std::int64_t>{1, 65535}, {16, 1024}, {0, big}, {0, 0}}) {
    const auto v = parse_integer(text, lo, hi);
    if (!v) continue;
    check(all_digits(text));
    check(*v >= lo && *v <= hi);
    // The same number, written back, is the text without its leading zeros.
    std::string_view digits = text;
    while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
    check(std::to_string(*v) == digits);
  }
}

void durations(std::string_view text) {
  for (const auto& [lo, hi] :
       {std::pair<milliseconds, milliseconds>{milliseconds(0), std::chrono::hours(1)},
        {milliseconds(1), std::chrono::hours(24)},
        {milliseconds(0), milliseconds::max()}}) {
    const auto d = parse_duration(text, lo, hi);
    if (!d) continue;
    check(*d >= lo && *d <= hi);
    // Plain decimal with an optional unit, and the value a long double reading gives.
    std::string_view number = text;
    long double unit = 1000;
    switch (number.back()) {
      case 's':
        number.remove_suffix(1);
        break;
      case 'm':
        unit = 60'000, number.remove_suffix(1);
        break;
      case 'h':
        unit = 3'600'000, number.remove_suffix(1);
        break;
      case 'd':
        unit = 86'400'000, number.remove_suffix(1);
        break;
      default:
        break;
    }
    const std::size_t dot = number.find('.');
    check(all_digits(number.substr(0, dot)));
    if (dot != std::string_view::npos) check(all_digits(number.substr(dot + 1)));
    const std::string copy(number);
    const long double expected = std::strtold(copy.c_str(), nullptr) * unit;
    check(std::isfinite(expected));
    // The parse is exact (rounded down); the long double reading carries its own rounding,
    // a few ulps at 4e10 ms, so a bound of exactly 1 ms would flag the reference, not the parse.
    const long double slack = 1.0L + std::fabs(expected) * 1e-15L;
    check(std::fabs(expected - static_cast<long double>(d->count())) <= slack);
  }
}

// A word with a byte no fixed message has (\x01 to \x08) that is not a flag must never be
// quoted back: it may be a password typed in the wrong place. A flag's name may be ("unknown
// option --x", "--x=...: ..."), so the names are taken out of the message first. A password
// policy is not secret: its errors point at the part of the spec that is wrong.
bool quotes_a_value(std::string message, const std::vector<std::string_view>& args) {
  if (message.starts_with("--password-policy: ")) return false;
  std::vector<std::string_view> names;  // longest first: "--file" is inside "--file\bx"
  for (const auto f : args)
    if (f.starts_with("--")) names.push_back(f.substr(0, f.find('=')));
  std::sort(names.begin(), names.end(), [](auto x, auto y) { return x.size() > y.size(); });
  for (const auto name : names)
    for (auto at = message.find(name); at != std::string::npos; at = message.find(name))
      message.erase(at, name.size());
  for (const auto a : args) {
    if (a.starts_with("--")) continue;
    bool marked = false;
    for (const char c : a) marked |= c >= '\x01' && c <= '\x08';
    if (marked && message.find(a) != std::string::npos) return true;
  }
  return false;
}

// What the tool prints of any text: no byte a terminal acts on, and nothing lost (each
// escape is longer than the byte it stands for, so the output never shrinks).
void escaped(std::string_view text) {
  const std::string out = printable(text);
  check(out.size() >= text.size());
  for (const char c : out) {
    const auto u = static_cast<unsigned char>(c);
    check(u >= 0x20 && u != 0x7f);
  }
}

void command_line(std::string_view text) {
  std::vector<std::string_view> args;
  for (std::size_t at = 0; at <= text.size() && args.size() < 64;) {
    const std::size_t end = std::min(text.find('\0', at), text.size());
    args.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  static const environment env =
      environment::read([](const char*) -> const char* { return nullptr; });
  const auto r = parse_command_line(args, env);
  if (const auto* bad = std::get_if<usage_error>(&r)) {
    check(!bad->message.empty());
    check(!quotes_a_value(bad->message, args));
    return;
  }
  if (const auto* help = std::get_if<help_request>(&r)) {
    check(help->text.find("Exit codes") != std::string::npos);
    return;
  }
  const config& c = std::get<config>(r);
  check(c.pg_port >= 1 && c.pg_port <= 65535 && c.redis_port >= 1 && c.redis_port <= 65535);
  check(c.settle <= std::chrono::hours(1) && c.fleet_timeout >= milliseconds(1));
  check(c.password_length >= 16 && c.password_length <= 1024);
  check(c.store != store_kind::file || !c.file.empty());
  check(c.store != store_kind::vault || !c.vault_path.empty());
  check(c.strategy != pg_strategy::alternating || c.backend != backend_kind::postgres ||
        (!c.pg_roles.first.empty() && !c.pg_roles.second.empty()));
  check(c.backend != backend_kind::redis || !c.redis_topology.allow.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  integers(text);
  durations(text);
  command_line(text);
  escaped(text);
  return 0;
}
