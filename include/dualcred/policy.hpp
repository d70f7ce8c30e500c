#pragma once

#include <string_view>
#include <system_error>

#include <fmt/format.h>

#include "detail/json.hpp"
#include "error.hpp"
#include "secret.hpp"

namespace dualcred {

/// What dual_credential tells its policy about. Events happen off the happy path only.
enum class event_kind {
  refused,        ///< a slot's credential was refused (`which`, `code`, `detail`)
  fell_back,      ///< the other slot's credential then succeeded (`which` is the one used)
  all_refused,    ///< every slot was refused, even after any reload
  reloaded,       ///< the provider was read; `version` is the set now in use
  reload_failed,  ///< the provider failed; the previous set stays in use
};

[[nodiscard]] constexpr std::string_view to_string(event_kind k) noexcept {
  switch (k) {
    case event_kind::refused:
      return "refused";
    case event_kind::fell_back:
      return "fell_back";
    case event_kind::all_refused:
      return "all_refused";
    case event_kind::reloaded:
      return "reloaded";
    case event_kind::reload_failed:
      return "reload_failed";
  }
  return "unknown";
}

/// One event. The views live only during the call; no field ever holds a secret.
struct event {
  event_kind kind;
  slot which = slot::current;
  std::error_code code{};
  std::string_view detail{};
  std::string_view version{};
};

/// The policy dual_credential uses unless told otherwise: the standard fallback rule and
/// no observer. Write your own by deriving from it and hiding either member:
///
///     struct my_policy : dualcred::default_policy {
///       void on_event(const dualcred::event& e) noexcept { metrics.count(e.kind); }
///     };
///
/// \requires `on_event` is safe to call from several threads at once and does not throw.
struct default_policy {
  /// Whether `e` means "this credential was refused", so the other one is worth a try.
  [[nodiscard]] bool should_fall_back(const error& e) const noexcept { return is_auth_failure(e); }
  void on_event(const event&) noexcept {}
};

}  // namespace dualcred

/// `refused slot=current code=auth_rejected detail="..."`: one logfmt line.
template <>
struct fmt::formatter<dualcred::event> {
  constexpr auto parse(format_parse_context& ctx) -> decltype(ctx.begin()) { return ctx.begin(); }
  auto format(const dualcred::event& e, format_context& ctx) const -> decltype(ctx.out()) {
    auto out = fmt::format_to(ctx.out(), "{} slot={}", dualcred::to_string(e.kind), e.which);
    if (e.code) out = fmt::format_to(out, " code={}", dualcred::detail::error_name(e.code));
    if (!e.version.empty()) {
      out = fmt::format_to(out, " version=\"");
      out = dualcred::detail::write_json_escaped(out, e.version);
      *out++ = '"';
    }
    if (!e.detail.empty()) {
      out = fmt::format_to(out, " detail=\"");
      out = dualcred::detail::write_json_escaped(out, e.detail);
      *out++ = '"';
    }
    return out;
  }
};
