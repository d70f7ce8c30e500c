#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "../error.hpp"
#include "../provider/detail/assemble.hpp"
#include "../provider/key_names.hpp"
#include "../provider/secret_map.hpp"
#include "../secret.hpp"

namespace dualcred::rotation {

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
/// `DB_USER_PREVIOUS` and `DB_ROTATION_PHASE`. Providers ignore the extra keys.
struct rotation_keys {
  key_names names;
  std::string previous;
  std::string user_previous;
  std::string phase;

  [[nodiscard]] static rotation_keys for_prefix(std::string_view prefix) {
    const std::string p(prefix);
    return rotation_keys{key_names::for_prefix(prefix), p + "_PASS_PREVIOUS", p + "_USER_PREVIOUS",
                         p + "_ROTATION_PHASE"};
  }
};

/// One backend's login as the store holds it.
struct rotation_state {
  credential current;
  std::optional<credential> next;
  std::optional<credential> previous;  ///< the CURRENT before the last promote, for rollback
  rotation::phase phase = phase::idle;
  std::uint64_t revision = 0;  ///< the store revision this was read at
};

/// Reads `keys` out of `data` by the providers' rules (`detail::assemble`): CURRENT and its
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
  DUALCRED_TRY(set, dualcred::detail::assemble(keys.names, source, lookup));
  rotation_state st;
  st.current = std::move(set.current);
  st.next = std::move(set.next);
  DUALCRED_TRY(previous, dualcred::detail::lookup_value(keys.previous, source, lookup));
  DUALCRED_TRY(user_previous, dualcred::detail::lookup_value(keys.user_previous, source, lookup));
  if (previous)
    st.previous = credential{user_previous ? std::string(user_previous->reveal()) : st.current.user,
                             std::move(*previous)};

  DUALCRED_TRY(ph, dualcred::detail::lookup_value(keys.phase, source, lookup));
  if (ph) {
    const auto parsed = parse_phase(ph->reveal());
    if (!parsed)
      return fail(errc::malformed,
                  fmt::format("{} in {} is not a rotation phase (idle, applied, promoted, "
                              "verified, rolling_back)",
                              keys.phase, source));
    st.phase = *parsed;
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
  put(keys.phase, st.phase == phase::idle ? std::nullopt : std::optional(to_string(st.phase)));
}

}  // namespace dualcred::rotation

template <>
struct fmt::formatter<dualcred::rotation::phase> : fmt::formatter<std::string_view> {
  auto format(dualcred::rotation::phase p, format_context& ctx) const -> decltype(ctx.out()) {
    return fmt::formatter<std::string_view>::format(dualcred::rotation::to_string(p), ctx);
  }
};
