#pragma once

#include <exception>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>

#include "../../error.hpp"

namespace dualcred::detail {

// What an exception that escaped a coroutine becomes: an operation completing with a
// result has no other way to report it (bad_alloc, say).
[[nodiscard]] inline error error_from_exception(const std::exception_ptr& e) {
  if (!e) return error(errc::backend_unavailable, "the operation ended without an outcome");
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return error(errc::backend_unavailable, fmt::format("the operation failed: {}", x.what()));
  } catch (...) {
  }
  return error(errc::backend_unavailable, "the operation failed: unknown exception");
}

// Runs the coroutine `make()` returns (an awaitable<std::optional<Result>>, always engaged:
// co_spawn wants a value it can default-construct) on `ex`, as an Asio operation completing
// with `void(Result)` for any completion token. The token's cancellation slot reaches the
// coroutine, and the completion runs on the token's executor.
template <class Result, class Make, class Token>
auto async_spawn_result(boost::asio::any_io_executor ex, Make make, Token&& token) {
  return boost::asio::async_initiate<Token, void(Result)>(
      [](auto handler, boost::asio::any_io_executor ex, Make make) {
        auto slot = boost::asio::get_associated_cancellation_slot(handler);
        auto home = boost::asio::get_associated_executor(handler, ex);
        boost::asio::co_spawn(
            ex, make(),
            boost::asio::bind_cancellation_slot(
                slot, boost::asio::bind_executor(
                          home, [h = std::move(handler)](std::exception_ptr e,
                                                         std::optional<Result> r) mutable {
                            if (e || !r)
                              r.emplace(boost::outcome_v2::failure(error_from_exception(e)));
                            std::move(h)(std::move(*r));
                          })));
      },
      token, std::move(ex), std::move(make));
}

}  // namespace dualcred::detail
