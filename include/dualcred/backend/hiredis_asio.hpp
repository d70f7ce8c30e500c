#pragma once

// The Redis connector on a Boost.Asio event loop: hiredis' async context driven by an
// executor (hiredis_asio_connection.hpp), logging in without blocking the loop. Needs
// hiredis 0.14 or later and Boost 1.81 (per-operation cancellation); link with the
// `dualcred-hiredis_asio` dependency.
//
//     dualcred::redis::async_connector rc(io.get_executor(), params);
//     auto conn = co_await rc.async_open(asio::use_awaitable);
//     if (conn) auto ok = co_await rc.async_authenticate(*conn, cred, asio::use_awaitable);

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>

#include "../detail/redact.hpp"
#include "../error.hpp"
#include "../secret.hpp"
#include "hiredis.hpp"
#include "hiredis_asio_connection.hpp"

namespace dualcred::redis {

namespace detail {

// What a cancelled operation completes with: the portable code, so no retry policy takes it
// for a refused credential.
inline error cancelled_error(std::string detail) {
  return error(std::make_error_code(std::errc::operation_canceled), std::move(detail));
}

template <class T>
result<T> failed(error e) {
  return boost::outcome_v2::failure(std::move(e));
}

// Resumes a composed operation from the executor's queue, never inside its initiation.
// `ex` by value: the caller's is usually a member of the operation `self` moves away.
template <class Self>
void resume_later(boost::asio::any_io_executor ex, Self&& self) {
  boost::asio::post(
      ex, [self = std::forward<Self>(self)]() mutable { self(boost::system::error_code()); });
}

// Connects through hiredis, then waits for the connect callback, the deadline or a
// cancellation, whichever comes first. Anything but success frees the context.
struct open_op {
  params p;
  boost::asio::any_io_executor ex;
  std::shared_ptr<waiter> w = std::make_shared<waiter>(ex);
  async_connection conn;
  std::optional<error> early;  // a failure found before any wait, completed after a post

  std::string where(std::string_view why) const {
    return fmt::format("Redis {}:{}: {}", p.host, p.port, why);
  }

  template <class Self>
  void operator()(Self& self) {
    // hiredis resolves a name with a blocking getaddrinfo: give addresses on a loop thread.
    redisAsyncContext* ac = redisAsyncConnect(p.host.c_str(), p.port);
    if (ac != nullptr && ac->err != 0) {
      // Refused at once (loopback), or a bad address: nothing to attach.
      early.emplace(errc::backend_unavailable,
                    where(fmt::format("connect failed: {}", ac->errstr)));
      redisAsyncFree(ac);
    } else if (auto attached = async_connection::attach(ac, ex); !attached) {
      early.emplace(attached.error().code, where(attached.error().detail));
    } else {
      conn = std::move(attached).value();
      conn.link()->connect_waiter = w;
      w->arm(p.timeout);
      return w->timer.async_wait(std::move(self));
    }
    resume_later(ex, std::move(self));
  }

  template <class Self>
  void operator()(Self& self, boost::system::error_code) {
    using R = result<async_connection>;
    if (early) return self.complete(failed<async_connection>(std::move(*early)));
    conn.link()->connect_waiter.reset();
    const bool done = w->done();
    if (w->result == outcome::ok && conn) return self.complete(R(std::move(conn)));
    // Still connecting: freeing the context is all it takes (hiredis calls no callback).
    conn.reset();
    if (done)
      return self.complete(
          R(fail(errc::backend_unavailable, where(fmt::format("connect failed: {}", w->text)))));
    if (self.cancelled() != boost::asio::cancellation_type::none)
      return self.complete(failed<async_connection>(cancelled_error(where("connect cancelled"))));
    self.complete(R(
        fail(errc::timeout, where(fmt::format("no connection within {} ms", p.timeout.count())))));
  }
};

// AUTH (when there is a password), then SELECT (when db is not 0), or PING when neither
// sent anything: the commands are formatted at initiation, each sent after the last one's
// reply. A deadline or a cancellation mid-command frees the connection: a command already
// sent cannot be taken back, and a reply arriving later would answer the next one.
struct authenticate_op {
  std::shared_ptr<asio_link> link;
  boost::asio::any_io_executor ex;
  std::chrono::milliseconds timeout;
  std::string where;  // "Redis host:port", for error details
  std::string user;   // for error details only
  secret password;    // to redact Redis's echo of a command
  formatted_command commands[2];
  std::string_view names[2];
  int next = 0;
  std::shared_ptr<waiter> w;

  template <class Self>
  void operator()(Self& self, boost::system::error_code = {}) {
    if (next > 0) {
      auto r = finish_step(self.cancelled() != boost::asio::cancellation_type::none);
      if (!r) return self.complete(std::move(r));
    }
    if (next == 2 || commands[next].empty())
      return self.complete(result<void>(boost::outcome_v2::success()));
    w = std::make_shared<waiter>(ex);
    ++next;
    const bool sent = link != nullptr && link->send(commands[next - 1].view(), w);
    // hiredis copied it into its output buffer: the password need not stay here.
    commands[next - 1].reset();
    if (!sent) {
      w->finish(outcome::io_error, "the connection is closed");
      return resume_later(ex, std::move(self));
    }
    w->arm(timeout);
    w->timer.async_wait(std::move(self));
  }

  result<void> finish_step(bool cancelled) {
    const std::string_view name = names[next - 1];
    if (w->result == outcome::ok) return boost::outcome_v2::success();
    if (!w->done()) {
      link->free();
      if (cancelled)
        return failed<void>(
            cancelled_error(fmt::format("{}: {} as '{}' cancelled", where, name, user)));
      return fail(errc::timeout, fmt::format("{}: no reply to {} as '{}' within {} ms", where, name,
                                             user, timeout.count()));
    }
    const bool refused = w->result == outcome::error_reply;
    return fail(refused ? classify_reply_error(w->text) : errc::backend_unavailable,
                dualcred::detail::redact(fmt::format("{}: {} as '{}' {}: {}", where, name, user,
                                                     refused ? "refused" : "failed", w->text),
                                         password.reveal()));
  }
};

}  // namespace detail

/// Logs in to Redis from an Asio event loop: the asynchronous two-phase connector, so a
/// refused password is retried on the same connection. `async_open` connects;
/// `async_authenticate` sends `AUTH user pass` (`AUTH pass` for the `default` user or an
/// empty one), then `SELECT db`. Errors are classified as the blocking `connector` does
/// (`classify_reply_error`). Both take any completion token (`use_awaitable`, a callback,
/// `use_future`) and honour a terminal cancellation: the operation completes with
/// `std::errc::operation_canceled` and the connection it worked on is closed.
/// `params::timeout` bounds the connect and each reply; `params::host` should be an
/// address, as hiredis resolves a name with a blocking lookup.
class async_connector {
 public:
  using executor_type = boost::asio::any_io_executor;
  using connection_type = async_connection;

  async_connector(executor_type ex, params p) : ex_(std::move(ex)), p_(std::move(p)) {}

  [[nodiscard]] executor_type get_executor() const noexcept { return ex_; }
  [[nodiscard]] const params& config() const noexcept { return p_; }

  /// Completes with `void(result<async_connection>)`.
  template <class Token>
  auto async_open(Token&& token) const {
    return boost::asio::async_compose<Token, void(result<async_connection>)>(
        detail::open_op{p_, ex_, std::make_shared<detail::waiter>(ex_), {}, {}}, token, ex_);
  }

  /// Completes with `void(result<void>)`. `cred` is read before this returns. Destroying
  /// `conn` meanwhile closes it: the operation then completes with `backend_unavailable`.
  template <class Token>
  auto async_authenticate(async_connection& conn, const credential& cred, Token&& token) const {
    const bool default_user = cred.user.empty() || cred.user == "default";
    const std::string_view pw = cred.password.reveal();
    detail::authenticate_op op{};
    op.link = conn.link();
    op.ex = ex_;
    op.timeout = p_.timeout;
    op.where = fmt::format("Redis {}:{}", p_.host, p_.port);
    op.user = cred.user.empty() ? std::string("default") : cred.user;
    op.password = cred.password;
    int n = 0;
    if (!pw.empty()) {
      const char* argv[] = {"AUTH", cred.user.data(), pw.data()};
      std::size_t lens[] = {4, cred.user.size(), pw.size()};
      if (default_user) {
        argv[1] = pw.data();
        lens[1] = pw.size();
      }
      op.commands[n] = detail::formatted_command(default_user ? 2 : 3, argv, lens);
      op.names[n++] = "AUTH";
    }
    const std::string db = std::to_string(p_.db);
    if (p_.db != 0 || n == 0) {
      const char* argv[] = {"SELECT", db.data()};
      const std::size_t lens[] = {6, db.size()};
      // Nothing else to send: check that this user may talk to the server at all.
      op.commands[n] = p_.db != 0 ? detail::formatted_command(2, argv, lens)
                                  : detail::formatted_command(1, argv_ping(), lens_ping());
      op.names[n++] = p_.db != 0 ? "SELECT" : "PING";
    }
    return boost::asio::async_compose<Token, void(result<void>)>(std::move(op), token, ex_);
  }

 private:
  static const char** argv_ping() noexcept {
    static const char* argv[] = {"PING"};
    return argv;
  }
  static const std::size_t* lens_ping() noexcept {
    static const std::size_t lens[] = {4};
    return lens;
  }

  executor_type ex_;
  params p_;
};

}  // namespace dualcred::redis
