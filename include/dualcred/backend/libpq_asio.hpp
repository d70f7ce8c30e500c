#pragma once

// The PostgreSQL async connector (the `libpq_asio` part): libpq's non-blocking login driven by
// socket readiness on an Asio executor. Link with libpq; needs the asio part (Boost 1.81).

#include <fcntl.h>

#include <chrono>
#include <memory>
#include <optional>
#include <utility>
#include <variant>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "../asio/concepts.hpp"
#include "../asio/detail/off_loop.hpp"
#include "../asio/detail/spawn.hpp"
#include "libpq.hpp"

namespace dualcred::pg {

/// Logs in to PostgreSQL without blocking its executor: a `dualcred::async_connector` for
/// `dual_credential::async_connect`, making the blocking adapter's `pg::connection`.
///
/// The login is the blocking `pg::connector`'s own (the same parameters, the same SQLSTATE
/// classification and error details); only the waits differ: `PQconnectPoll` runs each time
/// libpq's socket is ready, and `params::connect_timeout` bounds the whole login. Cancelling
/// the operation (its slot, or a timeout around it) closes the half-open connection.
///
/// libpq resolves a host *name* inside `PQconnectStartParams`, blocking: give a numeric
/// address (or `hostaddr` in `params::extra`) to keep the loop free of DNS.
///
/// Each `PQconnectPoll` runs to its end where it is called, and the one that answers the
/// server's SCRAM challenge computes the proof: several milliseconds of CPU (4096 rounds of
/// HMAC-SHA-256). Given `poll_executor` (a thread pool), every poll runs there and the loop
/// only waits for the socket; without it the polls run on the loop, which then pauses for
/// each proof (and for each queued behind it).
class async_connector {
 public:
  async_connector(boost::asio::any_io_executor ex, params p,
                  std::optional<boost::asio::any_io_executor> poll_executor = std::nullopt)
      : ex_(std::move(ex)),
        login_(std::make_shared<const connector>(std::move(p))),
        poll_ex_(std::move(poll_executor)) {}

  [[nodiscard]] boost::asio::any_io_executor get_executor() const { return ex_; }
  [[nodiscard]] const params& config() const noexcept { return login_->config(); }

  /// Completes with `void(dualcred::result<pg::connection>)`; `cred` must stay valid until then.
  template <class Token>
  auto async_connect(const credential& cred, Token&& token) {
    return dualcred::detail::async_spawn_result<result<connection>>(
        ex_, [login = login_, c = &cred, poll_ex = poll_ex_] { return run(login, c, poll_ex); },
        std::forward<Token>(token));
  }

 private:
  using step_result = std::optional<result<void>>;  // optional: co_spawn default-constructs

  using poll_executor = std::optional<boost::asio::any_io_executor>;

  static boost::asio::awaitable<std::optional<result<connection>>> run(
      std::shared_ptr<const connector> login, const credential* cred, poll_executor poll_ex) {
    co_await boost::asio::this_coro::throw_if_cancelled(false);
    auto started = login->start_login(*cred);
    if (!started) co_return std::move(started).as_failure();
    connection conn = std::move(started).value();
    const auto timeout = login->config().connect_timeout;
    step_result polled;
    if (timeout.count() <= 0) {
      auto polling = poll(conn, *login, *cred, poll_ex);
      polled = co_await std::move(polling);
    } else {
      using namespace boost::asio::experimental::awaitable_operators;
      boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, timeout);
      // Named, then moved in: g++ 12 destroys temporaries in a co_await expression twice.
      auto polling = poll(conn, *login, *cred, poll_ex);
      auto expiry = timer.async_wait(boost::asio::use_awaitable);
      auto winner = co_await (std::move(polling) || std::move(expiry));
      if (winner.index() != 0) co_return boost::outcome_v2::failure(login->timed_out(*cred));
      polled = std::move(std::get<0>(winner));
    }
    if (!polled || !*polled) {
      co_return boost::outcome_v2::failure(
          polled ? std::move(*polled).error()
                 : error(errc::backend_unavailable, login->describe(*cred, "no outcome")));
    }
    co_return std::move(conn);
  }

  // PQconnectPoll each time the socket is ready for what libpq asked. The socket may be
  // another one after a poll (libpq moves on to the next address, or retries without SSL),
  // so it is read again each time, and waited on through a duplicate that this step owns and
  // closes: the reactor never holds a descriptor libpq has closed or reused.
  static boost::asio::awaitable<step_result> poll(connection& conn, const connector& login,
                                                  const credential& cred, poll_executor poll_ex) {
    const auto ex = co_await boost::asio::this_coro::executor;
    PostgresPollingStatusType state = PGRES_POLLING_WRITING;
    for (;;) {
      if (state == PGRES_POLLING_OK) co_return result<void>(boost::outcome_v2::success());
      if (state == PGRES_POLLING_FAILED)
        co_return result<void>(boost::outcome_v2::failure(login.failure(conn, cred)));
      const int fd = PQsocket(conn.get());
      if (fd < 0) co_return result<void>(boost::outcome_v2::failure(login.failure(conn, cred)));
      const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (own < 0)
        co_return result<void>(
            fail(errc::backend_unavailable, login.describe(cred, "dup() failed")));
      boost::asio::posix::stream_descriptor socket(ex, own);
      const auto wait = state == PGRES_POLLING_READING
                            ? boost::asio::posix::stream_descriptor::wait_read
                            : boost::asio::posix::stream_descriptor::wait_write;
      auto [ec] =
          co_await socket.async_wait(wait, boost::asio::as_tuple(boost::asio::use_awaitable));
      if (ec)
        co_return result<void>(
            fail(errc::backend_unavailable, login.describe(cred, "the login was cancelled")));
      state = co_await step(conn, ex, poll_ex);
    }
  }

  // One PQconnectPoll, on `poll_ex` when given. Not cancellable once begun: the connection
  // must outlive the call, so a cancelled login waits for (at most) this one step.
  static boost::asio::awaitable<PostgresPollingStatusType> step(connection& conn,
                                                                boost::asio::any_io_executor home,
                                                                const poll_executor& poll_ex) {
    if (!poll_ex) co_return PQconnectPoll(conn.get());
    auto work = [c = conn.get()] { return PQconnectPoll(c); };
    // An empty slot: this step ignores the login's cancellation.
    co_return co_await dualcred::detail::async_off_loop<PostgresPollingStatusType>(
        *poll_ex, std::move(home), std::move(work),
        boost::asio::bind_cancellation_slot(boost::asio::cancellation_slot(),
                                            boost::asio::use_awaitable));
  }

  boost::asio::any_io_executor ex_;
  std::shared_ptr<const connector> login_;  // shared with logins in flight
  poll_executor poll_ex_;
};

}  // namespace dualcred::pg
