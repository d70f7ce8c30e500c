#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "policy.hpp"

namespace dualcred {

/// A policy that writes each event as one line to a sink the caller owns:
///
///     auto log = dualcred::log_policy{[](std::string_view line) { syslog(LOG_INFO, "%.*s",
///         int(line.size()), line.data()); }};
///
/// Lines look like `dualcred: refused slot=current code=auth_rejected detail="..."`; events
/// never carry secrets, so neither do the lines. \requires `Sink` is callable with a
/// `std::string_view` from several threads at once.
template <class Sink>
struct log_policy : default_policy {
  Sink sink;

  explicit log_policy(Sink s) : sink(std::move(s)) {}

  void on_event(const event& e) noexcept {
#if defined(__cpp_exceptions)
    try {
#endif
      sink(std::string_view(fmt::format("dualcred: {}", e)));
#if defined(__cpp_exceptions)
    } catch (...) {
      // A failing log sink must not turn a good connect into a failed one.
    }
#endif
  }
};

template <class Sink>
log_policy(Sink) -> log_policy<Sink>;

}  // namespace dualcred
