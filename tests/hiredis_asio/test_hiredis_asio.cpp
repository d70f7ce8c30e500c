// The Redis async connector (hiredis on Boost.Asio) against a real Redis 7 this program
// starts. Each test runs its loop with io_context::run(), which returns only once no wait is
// left: a wait the adapter leaked after a connection was freed would hang the test.
#include <doctest/doctest.h>

#include <chrono>
#include <concepts>
#include <cstdlib>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <dualcred/backend/hiredis_asio.hpp>

#include <dualcred_testing/process.hpp>
#include <dualcred_testing/redis.hpp>

#include "support/listeners.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_hiredis_asio {

TEST_SUITE_BEGIN("hiredis_asio");

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace redis = dualcred::redis;
using dualcred::credential;
using dualcred::errc;
using dualcred::result;
using dualcred::secret;

namespace {

// The two-phase async connector's shape (async_open, async_authenticate, get_executor),
// written out here until the concept itself is in concepts.hpp.
template <class C>
concept async_two_phase_shape = requires(const C& c, typename C::connection_type& conn,
                                         const credential& cred) {
  { c.get_executor() } -> std::convertible_to<asio::any_io_executor>;
  c.async_open([](result<typename C::connection_type>) {});
  c.async_authenticate(conn, cred, [](result<void>) {});
};
static_assert(async_two_phase_shape<redis::async_connector>);

dualcred::testing::redis_server& server() {
  return dualcred::testing::shared_redis_server();
}

redis::params params_for(int port, std::chrono::milliseconds timeout = 5s) {
  redis::params p;
  p.host = "127.0.0.1";
  p.port = port;
  p.timeout = timeout;
  return p;
}

// Credentials below are named locals: g++ 12 destroys a temporary that lives across a
// co_await twice.

// Runs `body` as a coroutine on a fresh loop until the loop has no work left; rethrows.
template <class Body>
void run_loop(Body body) {
  asio::io_context io;
  std::exception_ptr failed;
  asio::co_spawn(io, body(io), [&](std::exception_ptr e) { failed = e; });
  io.run();
  if (failed) std::rethrow_exception(failed);
}

// Checks `done()` every 10 ms on the loop, at most `tries` times, until it holds.
// (std::function: g++ rejects a coroutine frame holding a lambda's type, which has no linkage.)
asio::awaitable<void> poll_until(std::function<bool()> done, int tries) {
  asio::steady_timer tick(co_await asio::this_coro::executor);
  for (int i = 0; i < tries && !done(); ++i) {
    tick.expires_after(10ms);
    co_await tick.async_wait(asio::use_awaitable);
  }
}

// hiredis' own async API on the connection, as a service would use it after the login:
// `command` (no arguments to quote) and its reply's text.
asio::awaitable<std::string> ask(redis::async_connection& conn, const char* command) {
  struct state {
    std::string text = "<no reply>";
    bool done = false;
  };
  auto st = std::make_shared<state>();
  redisAsyncCommand(
      conn.get(),
      [](redisAsyncContext*, void* r, void* p) {
        const std::unique_ptr<std::shared_ptr<state>> s(static_cast<std::shared_ptr<state>*>(p));
        const auto* reply = static_cast<const redisReply*>(r);
        if (reply != nullptr && reply->str != nullptr) (*s)->text.assign(reply->str, reply->len);
        (*s)->done = true;
      },
      new std::shared_ptr<state>(st), command);
  co_await poll_until([&] { return st->done; }, 500);
  co_return st->text;
}

// An open connection the server has taken: `default` without a password sends PING.
asio::awaitable<result<redis::async_connection>> open_and_ping(const redis::async_connector& rc) {
  auto conn = co_await rc.async_open(asio::use_awaitable);
  REQUIRE(conn);
  const credential nobody{"default", secret()};
  REQUIRE(co_await rc.async_authenticate(conn.value(), nobody, asio::use_awaitable));
  co_return conn;
}

asio::awaitable<std::string> whoami(redis::async_connection& conn) {
  co_return co_await ask(conn, "ACL WHOAMI");
}

using dualcred::testing::full_listener;
using dualcred::testing::silent_listener;

long long clients_now() {
  return server().info_number("clients", "connected_clients");
}

// Clients the server has open, the admin's included; waits for earlier closes to land.
long long settled_clients(long long expected) {
  long long n = 0;
  for (int i = 0; i < 200; ++i) {
    n = server().info_number("clients", "connected_clients");
    if (n == expected) break;
    std::this_thread::sleep_for(10ms);
  }
  return n;
}

bool is_cancelled(const dualcred::error& e) {
  return e.code == std::make_error_code(std::errc::operation_canceled);
}

}  // namespace

TEST_CASE("open and AUTH user password, then SELECT, through use_awaitable") {
  const std::string pw = "async 'quoted' \"double\" \\back slash";
  server().set_user("async_happy", {pw});
  const long long before = clients_now();
  run_loop([&](asio::io_context& io) -> asio::awaitable<void> {
    auto p = params_for(server().port());
    p.db = 2;
    redis::async_connector rc(io.get_executor(), p);
    auto conn = co_await rc.async_open(asio::use_awaitable);
    REQUIRE(conn);
    const credential happy{"async_happy", secret(pw)};
    auto ok = co_await rc.async_authenticate(conn.value(), happy, asio::use_awaitable);
    REQUIRE_MESSAGE(ok, (ok ? "" : ok.error().detail));
    CHECK(co_await whoami(conn.value()) == "async_happy");
    const std::string info = co_await ask(conn.value(), "CLIENT INFO");
    CHECK_MESSAGE(info.find(" db=2 ") != std::string::npos, info);
    CHECK(settled_clients(before + 1) == before + 1);
  });
  CHECK(settled_clients(before) == before);
}

TEST_CASE("the default user sends AUTH password; no password sends PING") {
  run_loop([&](asio::io_context& io) -> asio::awaitable<void> {
    redis::async_connector rc(io.get_executor(), params_for(server().port()));
    auto conn = co_await rc.async_open(asio::use_awaitable);
    REQUIRE(conn);
    // `default` has no password: AUTH with one is a configuration error, not a refusal.
    const credential default_with_password{"", secret("some-password")};
    auto r =
        co_await rc.async_authenticate(conn.value(), default_with_password, asio::use_awaitable);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(errc::invalid_argument));
    CHECK(r.error().detail.find("some-password") == std::string::npos);
    const credential default_without{"default", secret()};
    auto ping = co_await rc.async_authenticate(conn.value(), default_without, asio::use_awaitable);
    CHECK(ping);
    CHECK(co_await whoami(conn.value()) == "default");
  });
}

TEST_CASE("a refused AUTH is auth_rejected; NEXT then succeeds on the same connection") {
  server().set_user("async_next", {"the-next-password"});
  const long long received = server().info_number("stats", "total_connections_received");
  run_loop([&](asio::io_context& io) -> asio::awaitable<void> {
    redis::async_connector rc(io.get_executor(), params_for(server().port()));
    auto conn = co_await rc.async_open(asio::use_awaitable);
    REQUIRE(conn);
    const credential current_cred{"async_next", secret("the-old-password")};
    auto current = co_await rc.async_authenticate(conn.value(), current_cred, asio::use_awaitable);
    REQUIRE_FALSE(current);
    CHECK(current.error().is(errc::auth_rejected));
    CHECK(current.error().detail.find("the-old-password") == std::string::npos);
    REQUIRE(conn.value());
    const credential next_cred{"async_next", secret("the-next-password")};
    auto next = co_await rc.async_authenticate(conn.value(), next_cred, asio::use_awaitable);
    REQUIRE_MESSAGE(next, (next ? "" : next.error().detail));
    CHECK(co_await whoami(conn.value()) == "async_next");
  });
  // One TCP connection for both attempts (the admin's reconnects would count too: none here).
  CHECK(server().info_number("stats", "total_connections_received") == received + 1);
}

TEST_CASE("a connection the server drops is freed by hiredis; a login on it fails cleanly") {
  run_loop([&](asio::io_context& io) -> asio::awaitable<void> {
    redis::async_connector rc(io.get_executor(), params_for(server().port()));
    // A PING first: the server has accepted the connection before the kill.
    auto conn = co_await open_and_ping(rc);
    server().must({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
    co_await poll_until([&] { return !conn.value(); }, 200);
    CHECK_FALSE(conn.value());
    const credential anyone{"app", secret("dropped-password")};
    auto r = co_await rc.async_authenticate(conn.value(), anyone, asio::use_awaitable);
    REQUIRE_FALSE(r);
    CHECK_MESSAGE(r.error().is(errc::backend_unavailable), r.error().detail);
  });
}

TEST_CASE("disconnect closes gracefully: hiredis frees the context, no wait is left") {
  const long long before = clients_now();
  run_loop([&](asio::io_context& io) -> asio::awaitable<void> {
    redis::async_connector rc(io.get_executor(), params_for(server().port()));
    auto conn = co_await open_and_ping(rc);
    conn.value().disconnect();
    co_await poll_until([&] { return !conn.value(); }, 200);
    CHECK_FALSE(conn.value());
  });
  CHECK(settled_clients(before) == before);
}

TEST_CASE("callbacks and use_future work as completion tokens") {
  server().set_user("async_tokens", {"tokens-password"});
  asio::io_context io;
  redis::async_connector rc(io.get_executor(), params_for(server().port()));
  std::optional<result<redis::async_connection>> opened;
  rc.async_open([&](result<redis::async_connection> r) { opened.emplace(std::move(r)); });
  while (!opened && io.run_one() > 0) {
  }
  REQUIRE(opened);
  REQUIRE(*opened);
  auto& conn = opened->value();
  auto fut = rc.async_authenticate(conn, credential{"async_tokens", secret("tokens-password")},
                                   asio::use_future);
  while (fut.wait_for(0s) != std::future_status::ready && io.run_one() > 0) {
  }
  auto r = fut.get();
  CHECK(r);
  conn.reset();
  CHECK_FALSE(conn);
  io.run();  // nothing left: returns at once
}

TEST_CASE("nothing listening: backend_unavailable") {
  const int port = dualcred::testing::free_port();
  run_loop([&](asio::io_context& io) -> asio::awaitable<void> {
    redis::async_connector rc(io.get_executor(), params_for(port));
    auto conn = co_await rc.async_open(asio::use_awaitable);
    REQUIRE_FALSE(conn);
    CHECK(conn.error().is(errc::backend_unavailable));
    CHECK(conn.error().detail.find(std::to_string(port)) != std::string::npos);
    CHECK_MESSAGE(conn.error().detail.find("refused") != std::string::npos, conn.error().detail);
  });
}

TEST_CASE("a connect nobody answers times out within the timeout") {
  full_listener hang;
  run_loop([&](asio::io_context& io) -> asio::awaitable<void> {
    redis::async_connector rc(io.get_executor(), params_for(hang.port(), 300ms));
    const auto start = std::chrono::steady_clock::now();
    auto conn = co_await rc.async_open(asio::use_awaitable);
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(conn);
    CHECK_MESSAGE(conn.error().is(errc::timeout), conn.error().detail);
    CHECK(took >= 300ms);
    CHECK(took < 1300ms);
  });
}

TEST_CASE("a reply that never comes times out and closes the connection") {
  silent_listener quiet;
  run_loop([&](asio::io_context& io) -> asio::awaitable<void> {
    redis::async_connector rc(io.get_executor(), params_for(quiet.port(), 300ms));
    auto conn = co_await rc.async_open(asio::use_awaitable);
    REQUIRE(conn);
    const credential anyone{"app", secret("silent-password")};
    auto r = co_await rc.async_authenticate(conn.value(), anyone, asio::use_awaitable);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(errc::timeout));
    CHECK_FALSE(conn.value());
  });
}

namespace {

TEST_CASE("destroying a connection mid-AUTH completes the login with backend_unavailable") {
  silent_listener quiet;
  run_loop([&](asio::io_context& io) -> asio::awaitable<void> {
    redis::async_connector rc(io.get_executor(), params_for(quiet.port(), 0ms));
    auto conn = co_await rc.async_open(asio::use_awaitable);
    REQUIRE(conn);
    auto owned = std::make_unique<redis::async_connection>(std::move(conn).value());
    asio::steady_timer later(io, 50ms);
    later.async_wait([&](const boost::system::error_code&) { owned.reset(); });
    const credential anyone{"app", secret("freed-password")};
    auto r = co_await rc.async_authenticate(*owned, anyone, asio::use_awaitable);
    REQUIRE_FALSE(r);
    CHECK_MESSAGE(r.error().is(errc::backend_unavailable), r.error().detail);
    CHECK(owned == nullptr);
  });
}

// Starts `op` with a cancellation slot, emits a terminal cancellation after `delay`.
// (A std::function: g++ 12 rejects a lambda's type as a field of a coroutine frame.)
asio::awaitable<void> cancel_after(
    std::chrono::milliseconds delay,
    std::function<asio::awaitable<void>(asio::cancellation_slot)> op) {
  asio::cancellation_signal signal;
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  timer.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) signal.emit(asio::cancellation_type::terminal);
  });
  co_await op(signal.slot());
  timer.cancel();
}

}  // namespace

TEST_CASE("a terminal cancellation during the connect completes at once and leaks nothing") {
  full_listener hang;
  run_loop([&](asio::io_context& io) -> asio::awaitable<void> {
    redis::async_connector rc(io.get_executor(), params_for(hang.port(), 0ms));
    co_await cancel_after(50ms, [&](asio::cancellation_slot slot) -> asio::awaitable<void> {
      auto conn = co_await rc.async_open(asio::bind_cancellation_slot(slot, asio::use_awaitable));
      REQUIRE_FALSE(conn);
      CHECK_MESSAGE(is_cancelled(conn.error()), conn.error().detail);
    });
  });
}

TEST_CASE("awaitable_operators: a timer winning || cancels the open") {
  using namespace asio::experimental::awaitable_operators;
  full_listener hang;
  run_loop([&](asio::io_context& io) -> asio::awaitable<void> {
    redis::async_connector rc(io.get_executor(), params_for(hang.port(), 0ms));
    asio::steady_timer deadline(io, 50ms);
    auto winner =
        co_await (rc.async_open(asio::use_awaitable) || deadline.async_wait(asio::use_awaitable));
    // `||` waits for the loser to finish after cancelling it: an open that ignored the
    // cancellation would hang here.
    CHECK(winner.index() == 1);
  });
}

TEST_CASE("a terminal cancellation during AUTH closes the connection and leaks nothing") {
  server().set_user("async_cancel", {"cancel-password"});
  const long long before = clients_now();
  silent_listener quiet;
  run_loop([&](asio::io_context& io) -> asio::awaitable<void> {
    redis::async_connector rc(io.get_executor(), params_for(quiet.port(), 0ms));
    auto conn = co_await rc.async_open(asio::use_awaitable);
    REQUIRE(conn);
    co_await cancel_after(50ms, [&](asio::cancellation_slot slot) -> asio::awaitable<void> {
      const credential cancelled{"async_cancel", secret("cancel-password")};
      auto r = co_await rc.async_authenticate(
          conn.value(), cancelled, asio::bind_cancellation_slot(slot, asio::use_awaitable));
      REQUIRE_FALSE(r);
      CHECK_MESSAGE(is_cancelled(r.error()), r.error().detail);
    });
    CHECK_FALSE(conn.value());
    // The same against the real server, cancelled as soon as AUTH is on its way.
    redis::async_connector real(io.get_executor(), params_for(server().port()));
    auto c2 = co_await real.async_open(asio::use_awaitable);
    REQUIRE(c2);
    co_await cancel_after(0ms, [&](asio::cancellation_slot slot) -> asio::awaitable<void> {
      const credential cancelled_early{"async_cancel", secret("cancel-password")};
      auto r = co_await real.async_authenticate(
          c2.value(), cancelled_early, asio::bind_cancellation_slot(slot, asio::use_awaitable));
      CHECK((r || is_cancelled(r.error())));
    });
  });
  CHECK(settled_clients(before) == before);
}

TEST_CASE("concurrent opens and AUTHs from coroutines on one loop thread all succeed") {
  // DUALCRED_ASYNC_CLIENTS scales it (1,000 by default).
  const char* env = std::getenv("DUALCRED_ASYNC_CLIENTS");
  const int clients = env != nullptr && *env != '\0' ? std::atoi(env) : 1000;
  server().set_user("async_many", {"many-password"});
  int ok = 0;
  std::vector<std::string> failures;
  asio::io_context io;
  redis::async_connector rc(io.get_executor(), params_for(server().port(), 10s));
  for (int i = 0; i < clients; ++i)
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto conn = co_await rc.async_open(asio::use_awaitable);
          if (!conn) co_return failures.push_back(conn.error().detail);
          const credential many{"async_many", secret("many-password")};
          auto r = co_await rc.async_authenticate(conn.value(), many, asio::use_awaitable);
          if (!r) co_return failures.push_back(r.error().detail);
          ++ok;
        },
        asio::detached);
  io.run();
  CHECK(ok == clients);
  CHECK(failures.empty());
  if (!failures.empty()) FAIL_CHECK(failures.front());
}

TEST_SUITE_END();

}  // namespace test_hiredis_asio
