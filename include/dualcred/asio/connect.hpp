#pragma once

// dual_credential::async_connect and dualcred::async_connect (the `asio` part): the CURRENT/
// NEXT fallback for connectors whose logins are Asio operations, on C++20 coroutines. The
// rules are connect()'s own (detail/connect_plan.hpp); this header only carries each step
// out without blocking: logins as the connector's operations, provider loads on another
// executor.

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

#include <fmt/format.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "../dual_credential.hpp"
#include "concepts.hpp"
#include "detail/off_loop.hpp"
#include "detail/spawn.hpp"

// g++ 12 at -O2 inlines Asio's coroutine-frame allocation (aligned_alloc) and its operator
// delete (free) and calls the pair mismatched (-Wmismatched-new-delete), a false positive a
// user building with -Werror would otherwise inherit from the coroutines below.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace dualcred {

/// How one async connect runs.
struct async_options {
  /// Above zero: the connect, reloads included, ends with `errc::timeout` after this long;
  /// whatever it had open is closed.
  std::chrono::milliseconds timeout{0};
  /// Where provider loads run (they block). None: two threads the library owns.
  std::optional<boost::asio::any_io_executor> reload_executor = {};
};

/// The error an async connect completes with when cancelled.
[[nodiscard]] inline error cancelled_connect() {
  return error(std::make_error_code(std::errc::operation_canceled), "the connect was cancelled");
}

namespace detail {

template <class Connector, class Provider, class Policy>
struct async_connect_impl<dual_credential<Connector, Provider, Policy>> {
  using credentials = dual_credential<Connector, Provider, Policy>;
  using state = typename credentials::state;
  using connection_type = typename credentials::connection_type;
  using result_type = result<connection_type>;
  using executor = boost::asio::any_io_executor;
  static_assert(check_async_connector<Connector>());
  static constexpr bool two_phase = two_phase_async_connector<Connector>;

  template <class Token>
  static auto start_for(credentials& creds, async_options o, Token&& token) {
    return start(creds.s_, std::move(o), std::forward<Token>(token));
  }

  template <class Token>
  static auto start(std::shared_ptr<state> st, async_options o, Token&& token) {
    const executor ex = st->connector.get_executor();
    const executor reload = o.reload_executor.value_or(library_reload_threads().get_executor());
    return async_spawn_result<result_type>(
        ex,
        // Without a timeout, no race and no frame for it.
        [st = std::move(st), reload, timeout = o.timeout] {
          return timeout.count() > 0 ? bounded(st, reload, timeout) : run(st, reload);
        },
        std::forward<Token>(token));
  }

 private:
  // run() raced against the timeout; the loser is cancelled and awaited, so nothing it had
  // open outlives this.
  // (co_spawn wants values it can default-construct: hence the optional, always engaged.)
  static boost::asio::awaitable<std::optional<result_type>> bounded(
      std::shared_ptr<state> st, executor reload, std::chrono::milliseconds timeout) {
    using namespace boost::asio::experimental::awaitable_operators;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, timeout);
    auto connect = run(std::move(st), std::move(reload));
    auto expiry = timer.async_wait(boost::asio::use_awaitable);
    auto winner = co_await (std::move(connect) || std::move(expiry));
    if (winner.index() == 0) co_return std::move(std::get<0>(winner));
    co_return result_type(boost::outcome_v2::failure(error(
        errc::timeout, fmt::format("the connect did not finish within {} ms", timeout.count()))));
  }

  static bool cancelled(const boost::asio::cancellation_state& cs) {
    return cs.cancelled() != boost::asio::cancellation_type::none;
  }

  // connect()'s steps, carried out without blocking. Its read sections live on the shared
  // shard: coroutines on one thread suspend inside theirs and end them out of order, which an
  // owned shard (where sections of one thread nest) does not allow.
  static boost::asio::awaitable<std::optional<result_type>> run(std::shared_ptr<state> st,
                                                                executor reload) {
    co_await boost::asio::this_coro::throw_if_cancelled(false);
    co_await boost::asio::this_coro::reset_cancellation_state(
        boost::asio::enable_total_cancellation());
    const executor home = co_await boost::asio::this_coro::executor;
    // Each call's work is a named object moved in: g++ 12 destroys a temporary with a
    // destructor in a co_await expression twice (and a lambda holding `st` drops it twice).
    if (st->refresh_on_connect.load(std::memory_order_relaxed) && st->loader.refresh_due()) {
      auto refresh = [st] { return st->loader.refresh_if_due(), true; };
      co_await async_off_loop<bool>(reload, home, std::move(refresh), boost::asio::use_awaitable);
    }
    const shard_ref shard(st->shards, thread_index_registry::shared);
    typename credentials::template plan_type<> plan(*st, shard, st->loader.loads_started());
    std::optional<connection_type> open_conn;  // a two-phase connector's, across refusals
    published_sets::read_guard guard(st->loader.read(shard).hand_over());
    result_type r = boost::outcome_v2::failure(error{});
    for (next_step step = plan.begin(guard.get()); step != next_step::done;) {
      if (cancelled(co_await boost::asio::this_coro::cancellation_state)) {
        r = boost::outcome_v2::failure(cancelled_connect());
        break;
      }
      switch (step) {
        case next_step::attempt:
          r = co_await attempt(*st, plan, open_conn);
          // A login that ended because it was cancelled is no refusal to fall back on.
          if (!r && cancelled(co_await boost::asio::this_coro::cancellation_state)) {
            r = boost::outcome_v2::failure(cancelled_connect());
            co_return r;
          }
          step = plan.attempted(r);
          break;
        case next_step::reload:
          guard.release();  // the reload must not keep the refused set from being freed
          {
            auto load = [st, started = plan.started()] {
              return st->loader.shared_reload(started);
            };
            auto load_error = co_await async_off_loop<std::optional<error>>(
                reload, home, std::move(load), boost::asio::use_awaitable);
            step = plan.reloaded(std::move(load_error));
          }
          break;
        case next_step::read:
          guard.assign(st->loader.read(shard).hand_over());
          step = plan.read(guard.get(), r);
          break;
        case next_step::done:
          break;
      }
    }
    co_return r;
  }

  template <class Plan>
  static boost::asio::awaitable<result_type> attempt(state& st, Plan& plan,
                                                     std::optional<connection_type>& open_conn) {
    if constexpr (two_phase) {
      if (!open_conn) {
        auto opened = co_await st.connector.async_open(boost::asio::use_awaitable);
        if (!opened) co_return std::move(opened).as_failure();
        open_conn.emplace(std::move(opened).value());
      }
      auto authed = co_await st.connector.async_authenticate(*open_conn, plan.credential_to_try(),
                                                             boost::asio::use_awaitable);
      if (!authed) {
        if (!plan.keeps_open_after(authed.error())) open_conn.reset();
        co_return std::move(authed).as_failure();
      }
      result_type out(std::move(*open_conn));
      open_conn.reset();
      co_return out;
    } else {
      co_return co_await st.connector.async_connect(plan.credential_to_try(),
                                                    boost::asio::use_awaitable);
    }
  }
};

}  // namespace detail

/// `creds.async_connect(token)` with every option: the timeout and the executor provider
/// loads run on. `creds` must outlive the operation.
template <class Connector, class Provider, class Policy, class Token>
auto async_connect(dual_credential<Connector, Provider, Policy>& creds, async_options o,
                   Token&& token) {
  return detail::async_connect_impl<dual_credential<Connector, Provider, Policy>>::start_for(
      creds, std::move(o), std::forward<Token>(token));
}

}  // namespace dualcred

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
