#pragma once

// The scripted backend of support/scripted.hpp behind Asio operations, so one table of
// scenarios can run through connect() and async_connect() alike. Each operation judges at
// once and completes through a post, as a real I/O completion would.

#include <functional>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <dualcred/asio/concepts.hpp>

#include "support/scripted.hpp"

namespace dualcred::testing {

template <class Signature, class Token, class Compute>
auto complete_later(const boost::asio::any_io_executor& ex, Token&& token, Compute compute) {
  return boost::asio::async_initiate<Token, Signature>(
      [ex](auto handler, Compute compute) {
        auto r = compute();
        auto home = boost::asio::get_associated_executor(handler, ex);
        boost::asio::post(home, [h = std::move(handler), r = std::move(r)]() mutable {
          std::move(h)(std::move(r));
        });
      },
      token, std::move(compute));
}

// async_connect over a scripted_connector.
struct async_scripted_connector {
  scripted_backend* backend;
  boost::asio::any_io_executor ex;
  std::function<void(const credential&)> during_attempt = [](const credential&) {};

  [[nodiscard]] boost::asio::any_io_executor get_executor() const { return ex; }
  template <class Token>
  auto async_connect(const credential& c, Token&& token) {
    return complete_later<void(result<fake_conn>)>(ex, std::forward<Token>(token), [this, &c] {
      during_attempt(c);
      return scripted_connector{backend}(c);
    });
  }
};

// async_open/async_authenticate over a scripted_two_phase.
struct async_scripted_two_phase {
  scripted_backend* backend;
  boost::asio::any_io_executor ex;
  std::function<void(const credential&)> during_attempt = [](const credential&) {};

  [[nodiscard]] boost::asio::any_io_executor get_executor() const { return ex; }
  template <class Token>
  auto async_open(Token&& token) {
    return complete_later<void(result<fake_conn>)>(
        ex, std::forward<Token>(token), [this] { return scripted_two_phase{backend}.open(); });
  }
  template <class Token>
  auto async_authenticate(fake_conn& conn, const credential& c, Token&& token) {
    return complete_later<void(result<void>)>(ex, std::forward<Token>(token), [this, &conn, &c] {
      during_attempt(c);
      return scripted_two_phase{backend}.authenticate(conn, c);
    });
  }
};

static_assert(async_connector<async_scripted_connector>);
static_assert(two_phase_async_connector<async_scripted_two_phase>);
static_assert(!two_phase_async_connector<async_scripted_connector>);

}  // namespace dualcred::testing
