#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "../error.hpp"
#include "../provider/assemble.hpp"
#include "../provider/key_names.hpp"
#include "../provider/secret_map.hpp"
#include "../secret.hpp"
#include "password.hpp"

namespace dualcred::rotation {

/// Times in the store: whole seconds, UTC.
using timestamp = std::chrono::sys_seconds;

/// `t` as RFC 3339 UTC: `2026-12-01T11:05:27Z`.
[[nodiscard]] inline std::string format_rfc3339(timestamp t) {
  const auto day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{t - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count());
}

/// An RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS`, optional fraction (dropped), then `Z` or
/// `+HH:MM`/`-HH:MM`); nullopt when it is not one or names no real date.
[[nodiscard]] inline std::optional<timestamp> parse_rfc3339(std::string_view s) {
  auto num = [&](std::size_t at, std::size_t len) -> std::optional<int> {
    if (at + len > s.size()) return std::nullopt;
    int v = 0;
    for (std::size_t i = at; i < at + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  auto at = [&](std::size_t i, std::string_view chars) {
    return i < s.size() && chars.find(s[i]) != std::string_view::npos;
  };
  const auto y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2),
             se = num(17, 2);
  if (!y || !mo || !d || !h || !mi || !se || !at(4, "-") || !at(7, "-") || !at(10, "Tt ") ||
      !at(13, ":") || !at(16, ":"))
    return std::nullopt;
  std::size_t i = 19;
  if (at(i, ".")) {
    ++i;
    const std::size_t digits = i;
    while (at(i, "0123456789")) ++i;
    if (i == digits) return std::nullopt;
  }
  int offset_min = 0;
  if (at(i, "Zz")) {
    ++i;
  } else if (at(i, "+-")) {
    const int sign = s[i] == '-' ? -1 : 1;
    const auto oh = num(i + 1, 2), om = num(i + 4, 2);
    if (!oh || !om || !at(i + 3, ":") || *oh > 23 || *om > 59) return std::nullopt;
    offset_min = sign * (*oh * 60 + *om);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size() || *h > 23 || *mi > 59 || *se > 60) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year(*y),
                                        std::chrono::month(static_cast<unsigned>(*mo)),
                                        std::chrono::day(static_cast<unsigned>(*d))};
  if (!ymd.ok()) return std::nullopt;
  return timestamp(std::chrono::sys_days(ymd)) + std::chrono::hours(*h) +
         std::chrono::minutes(*mi - offset_min) + std::chrono::seconds(*se);
}

/// A store's content (every key, read and written whole: the rotator changes only its own
/// keys and writes the others back as it read them, so one secret can hold several backends'
/// logins, `DB_*` and `REDIS_*`) and its revision, the token a check-and-set write must
/// present.
struct stored {
  secret_map data;
  std::uint64_t revision = 0;
};

/// Where a rotation stands. Each step moves it forward by one; the phase is what makes every
/// step idempotent and the order impossible to get wrong.
enum class phase {
  idle,          ///< nothing in flight; a NEXT, if any, is published but not on the backend
  applied,       ///< the backend accepts NEXT as well
  promoted,      ///< CURRENT is the old NEXT, PREVIOUS the old CURRENT, NEXT a fresh one
  verified,      ///< the new CURRENT logged in; PREVIOUS may be decommissioned
  rolling_back,  ///< CURRENT is the old PREVIOUS again, NEXT the credential rolled back from
};

[[nodiscard]] constexpr std::string_view to_string(phase p) noexcept {
  switch (p) {
    case phase::idle:
      return "idle";
    case phase::applied:
      return "applied";
    case phase::promoted:
      return "promoted";
    case phase::verified:
      return "verified";
    case phase::rolling_back:
      return "rolling_back";
  }
  return "idle";
}

[[nodiscard]] inline std::optional<phase> parse_phase(std::string_view text) noexcept {
  for (const phase p :
       {phase::idle, phase::applied, phase::promoted, phase::verified, phase::rolling_back})
    if (to_string(p) == text) return p;
  return std::nullopt;
}

/// The store keys of one backend's login. `for_prefix("DB")` gives `key_names::for_prefix`'s
/// `DB_USER`, `DB_PASS_CURRENT`, `DB_PASS_NEXT`, `DB_USER_NEXT`, plus `DB_PASS_PREVIOUS`,
/// `DB_USER_PREVIOUS`, `DB_ROTATION_PHASE`, `DB_ROTATED_AT` (when CURRENT was promoted, RFC
/// 3339 UTC), `DB_PHASE_SINCE` (when the phase last changed), `DB_PASSWORD_POLICY` (the
/// `password_policy` spec every rotator of these keys generates by), `DB_APPLIED_AT` (when
/// the backend took NEXT, until decommission: a single role's sessions that began before it
/// may hold the old password) and `DB_LAST_DRAIN` (the last decommission's drain, see
/// `drain_record`). Providers ignore the extra keys. An empty key name is neither read nor
/// written.
struct rotation_keys {
  key_names names;
  std::string previous;
  std::string user_previous;
  std::string phase;
  std::string rotated_at;
  std::string phase_since;
  std::string policy;
  std::string applied_at;
  std::string last_drain;

  [[nodiscard]] static rotation_keys for_prefix(std::string_view prefix) {
    const std::string p(prefix);
    return rotation_keys{key_names::for_prefix(prefix), p + "_PASS_PREVIOUS", p + "_USER_PREVIOUS",
                         p + "_ROTATION_PHASE",         p + "_ROTATED_AT",    p + "_PHASE_SINCE",
                         p + "_PASSWORD_POLICY",        p + "_APPLIED_AT",    p + "_LAST_DRAIN"};
  }
};

/// One backend's login as the store holds it.
struct rotation_state {
  credential current;
  std::optional<credential> next;
  std::optional<credential> previous;  ///< the CURRENT before the last promote, for rollback
  rotation::phase phase = phase::idle;
  std::uint64_t revision = 0;             ///< the store revision this was read at
  std::optional<timestamp> rotated_at;    ///< when CURRENT was promoted (or provisioned)
  std::optional<timestamp> phase_since;   ///< when `phase` began
  std::optional<password_policy> policy;  ///< the store's password policy
  std::optional<timestamp> applied_at;    ///< when the backend took NEXT (until decommission)
  std::optional<std::string> last_drain;  ///< the last drain (`format_drain_record`)
};

/// Reads `keys` out of `data` by the providers' rules (`provider::assemble`): CURRENT and its
/// user are required (`not_found`); an empty value, one that is not a line of text, or an
/// unknown phase is `malformed`. Errors name keys and `source`, never values.
[[nodiscard]] inline result<rotation_state> parse_state(const secret_map& data,
                                                        const rotation_keys& keys,
                                                        std::string_view source) {
  auto lookup = [&](const std::string& key) -> result<std::optional<secret>> {
    const auto it = data.find(key);
    if (it == data.end()) return std::optional<secret>();
    return std::optional<secret>(secret(it->second.reveal()));
  };
  DUALCRED_TRY(set, provider::assemble(keys.names, source, lookup));
  rotation_state st;
  st.current = std::move(set.current);
  st.next = std::move(set.next);
  DUALCRED_TRY(previous, provider::lookup_value(keys.previous, source, lookup));
  DUALCRED_TRY(user_previous, provider::lookup_value(keys.user_previous, source, lookup));
  if (previous)
    st.previous =
        credential{user_previous ? std::string(user_previous->reveal_public()) : st.current.user,
                   std::move(*previous)};

  DUALCRED_TRY(ph, provider::lookup_value(keys.phase, source, lookup));
  if (ph) {
    const auto parsed = parse_phase(ph->reveal_public());
    if (!parsed)
      return fail(errc::malformed,
                  fmt::format("{} in {} is not a rotation phase (idle, applied, promoted, "
                              "verified, rolling_back)",
                              keys.phase, source));
    st.phase = *parsed;
  }
  for (auto [key, into] :
       {std::pair{&keys.rotated_at, &st.rotated_at}, std::pair{&keys.phase_since, &st.phase_since},
        std::pair{&keys.applied_at, &st.applied_at}}) {
    if (key->empty()) continue;
    DUALCRED_TRY(text, provider::lookup_value(*key, source, lookup));
    if (!text) continue;
    *into = parse_rfc3339(text->reveal_public());
    if (!*into)
      return fail(errc::malformed,
                  fmt::format("{} in {} is not an RFC 3339 time (e.g. 2026-12-01T11:05:27Z)", *key,
                              source));
  }
  if (!keys.last_drain.empty()) {
    DUALCRED_TRY(drain, provider::lookup_value(keys.last_drain, source, lookup));
    if (drain) st.last_drain = std::string(drain->reveal_public());
  }
  if (!keys.policy.empty()) {
    DUALCRED_TRY(spec, provider::lookup_value(keys.policy, source, lookup));
    if (spec) {
      auto parsed = parse_password_policy(spec->reveal_public());
      if (!parsed)
        return fail(errc::malformed,
                    fmt::format("{} in {}: {}", keys.policy, source, parsed.error().detail));
      st.policy = std::move(parsed).value();
    }
  }
  return st;
}

/// Writes `st` into `data` under `keys`, leaving every other key as it was. A user key equal
/// to CURRENT's user is dropped (absent means "the same user"), and so is an `idle` phase.
inline void store_state(secret_map& data, const rotation_keys& keys, const rotation_state& st) {
  auto put = [&](const std::string& key, std::optional<std::string_view> value) {
    if (key.empty()) return;
    if (value)
      data.insert_or_assign(key, secret(*value));
    else
      data.erase(key);
  };
  const std::string& user = st.current.user;
  const bool default_user = !keys.names.default_user.empty() && user == keys.names.default_user &&
                            !data.contains(keys.names.user);
  put(keys.names.user, default_user ? std::nullopt : std::optional<std::string_view>(user));
  put(keys.names.current, st.current.password.reveal());
  put(keys.names.next, st.next ? std::optional(st.next->password.reveal()) : std::nullopt);
  put(keys.names.user_next, st.next && st.next->user != user
                                ? std::optional<std::string_view>(st.next->user)
                                : std::nullopt);
  put(keys.previous, st.previous ? std::optional(st.previous->password.reveal()) : std::nullopt);
  put(keys.user_previous, st.previous && st.previous->user != user
                              ? std::optional<std::string_view>(st.previous->user)
                              : std::nullopt);
  // The phase, the times and the policy are public text (status shows them), though the
  // store holds every value as a secret.
  auto put_public = [&](const std::string& key, std::optional<std::string_view> value) {
    put(key, value);
    if (auto it = data.find(key); value && it != data.end()) (void)it->second.reveal_public();
  };
  put_public(keys.phase,
             st.phase == phase::idle ? std::nullopt : std::optional(to_string(st.phase)));
  // Times and the policy are kept when unknown (a store written before they existed).
  if (st.rotated_at) put_public(keys.rotated_at, format_rfc3339(*st.rotated_at));
  if (st.phase_since) put_public(keys.phase_since, format_rfc3339(*st.phase_since));
  if (st.policy) put_public(keys.policy, st.policy->to_spec());
  // Only while a rotation is under way: decommission (or a rollback) ends what it dates.
  put_public(keys.applied_at,
             st.applied_at ? std::optional(format_rfc3339(*st.applied_at)) : std::nullopt);
  if (st.last_drain) put_public(keys.last_drain, *st.last_drain);
}

}  // namespace dualcred::rotation

template <>
struct fmt::formatter<dualcred::rotation::phase> : fmt::formatter<std::string_view> {
  auto format(dualcred::rotation::phase p, format_context& ctx) const -> decltype(ctx.out()) {
    return fmt::formatter<std::string_view>::format(dualcred::rotation::to_string(p), ctx);
  }
};
