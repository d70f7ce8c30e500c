#pragma once

// The async connector concepts (the `asio` part): what dual_credential::async_connect needs
// of a connector. Header-only over Boost.Asio (Boost 1.81: per-operation cancellation).

#include <concepts>
#include <type_traits>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "../concepts.hpp"
#include "../error.hpp"
#include "../secret.hpp"

namespace dualcred {

namespace detail {
// `Conn` of an operation that completes with `void(result<Conn>)`: use_awaitable turns that
// signature into awaitable<result<Conn>>, which names it without running anything.
template <class A>
struct awaited_result {};
template <class T, class Executor>
struct awaited_result<boost::asio::awaitable<result<T>, Executor>> {
  using type = T;
};
template <class A>
using awaited_value_t = typename awaited_result<std::remove_cvref_t<A>>::type;
}  // namespace detail

/// \requires `c.async_connect(cred, token)` is an Asio asynchronous operation completing with
/// `void(dualcred::result<Conn>)` for a movable `Conn`, and `c.get_executor()` is the executor
/// its I/O runs on. `cred` stays valid until the operation completes. Operations of one
/// connector may run concurrently (many coroutines on one loop).
template <class C>
concept async_connector = requires(C& c, const credential& cred) {
  c.get_executor();
  typename detail::awaited_value_t<decltype(c.async_connect(cred, boost::asio::use_awaitable))>;
}
&&std::movable<detail::awaited_value_t<decltype(std::declval<C&>().async_connect(
    std::declval<const credential&>(), boost::asio::use_awaitable))>>;

/// \requires `c.async_open(token)` completes with `void(result<Conn>)` and
/// `c.async_authenticate(conn, cred, token)` with `void(result<void>)`; a refused credential is
/// then retried on the same open connection. `c.get_executor()` as for `async_connector`.
template <class C>
concept two_phase_async_connector = requires(C& c) {
  c.get_executor();
  typename detail::awaited_value_t<decltype(c.async_open(boost::asio::use_awaitable))>;
}
&&requires(
    C& c,
    detail::awaited_value_t<decltype(std::declval<C&>().async_open(boost::asio::use_awaitable))>&
        conn,
    const credential& cred) {
  {
    c.async_authenticate(conn, cred, boost::asio::use_awaitable)
    } -> std::same_as<boost::asio::awaitable<result<void>>>;
};

namespace detail {
template <class C>
struct async_connection_of<C, std::enable_if_t<two_phase_async_connector<C>>> {
  using type = awaited_value_t<decltype(std::declval<C&>().async_open(boost::asio::use_awaitable))>;
};
template <class C>
struct async_connection_of<C,
                           std::enable_if_t<async_connector<C> && !two_phase_async_connector<C>>> {
  using type = awaited_value_t<decltype(std::declval<C&>().async_connect(
      std::declval<const credential&>(), boost::asio::use_awaitable))>;
};

// async_connect's check of its connector, with a message that says what to write.
template <class Connector>
consteval bool check_async_connector() {
  static_assert(async_connector<Connector> || two_phase_async_connector<Connector>,
                "dualcred: for async_connect() the Connector must have `get_executor()` and "
                "`async_connect(const dualcred::credential&, Token&&)` completing with "
                "`void(dualcred::result<Connection>)`, or `async_open(Token&&)` completing with "
                "`void(result<Connection>)` and `async_authenticate(Connection&, const "
                "credential&, Token&&)` completing with `void(result<void>)`");
  return true;
}
}  // namespace detail

}  // namespace dualcred
