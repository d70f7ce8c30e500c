#pragma once

#include <concepts>
#include <type_traits>
#include <utility>

#include "error.hpp"
#include "secret.hpp"

namespace dualcred {

namespace detail {
template <class T>
struct result_value {};
template <class T, class E, class P>
struct result_value<boost::outcome_v2::basic_result<T, E, P>> {
  using type = T;
};
template <class R>
concept result_of_error = requires {
  typename result_value<std::remove_cvref_t<R>>::type;
}
&&std::same_as<typename std::remove_cvref_t<R>::error_type, error>;
}  // namespace detail

/// \requires `p.load()` returns `result<credential_set>`.
/// dual_credential never calls `load` from two threads at once.
template <class P>
concept secret_provider = requires(P& p) {
  { p.load() } -> std::same_as<result<credential_set>>;
};

/// \requires `c(cred)` returns `result<Conn>` for a movable `Conn`.
/// It is called from many threads at once: keep it stateless or make it thread-safe.
template <class C>
concept connector = requires(C& c, const credential& cred) {
  { c(cred) } -> detail::result_of_error;
}
&&std::movable<typename detail::result_value<
    std::remove_cvref_t<std::invoke_result_t<C&, const credential&>>>::type>;

/// \requires `c.open()` returns `result<Conn>` and `c.authenticate(conn, cred)` returns
/// `result<void>`; a refused credential is then retried on the same open connection.
template <class C>
concept two_phase_connector = requires(C& c) {
  { c.open() } -> detail::result_of_error;
}
&&requires(C& c, typename detail::result_value<decltype(std::declval<C&>().open())>::type& conn,
           const credential& cred) {
  { c.authenticate(conn, cred) } -> std::same_as<result<void>>;
};

namespace detail {
// The connection of a connector that only connects asynchronously: <dualcred/asio/concepts.hpp>
// gives it a `type`, since only an I/O library can name what its operations complete with.
template <class C, class = void>
struct async_connection_of {};
}  // namespace detail

/// A connector with only asynchronous operations (see <dualcred/asio/concepts.hpp>, which
/// must be included for a type to qualify): `async_connect()` works with it, `connect()` not.
template <class C>
concept async_only_connector = !connector<C> && !two_phase_connector<C> && requires {
  typename detail::async_connection_of<C>::type;
};

namespace detail {
template <class C>
struct connection_of {
  using type = typename result_value<decltype(std::declval<C&>().open())>::type;
};
template <class C>
requires(connector<C> && !two_phase_connector<C>) struct connection_of<C> {
  using type = typename result_value<std::invoke_result_t<C&, const credential&>>::type;
};
template <class C>
requires async_only_connector<C>
struct connection_of<C> {
  using type = typename async_connection_of<C>::type;
};
}  // namespace detail

/// The connection a connector makes.
template <class C>
using connection_t = typename detail::connection_of<C>::type;

}  // namespace dualcred
