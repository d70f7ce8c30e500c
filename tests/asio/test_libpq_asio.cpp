// The PostgreSQL async connector against a real server (testing/): logins, the blocking
// adapter's classification, the connect timeout against a silent server, and cancellation
// leaving no descriptor or connection behind.
#include <dualcred/asio/connect.hpp>
#include <dualcred/backend/libpq_asio.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <dualcred/provider/static.hpp>
#include <dualcred_testing/postgres.hpp>

#include "support/scripted.hpp"

namespace test_libpq_asio {

TEST_SUITE_BEGIN("libpq_asio");

using namespace dualcred;
using namespace std::chrono_literals;
namespace net = boost::asio;

namespace {

dualcred::testing::postgres_server& server() {
  return dualcred::testing::shared_postgres_server();
}

pg::params server_params() {
  pg::params p;
  p.host = server().host();
  p.port = server().port();
  p.dbname = "postgres";
  p.connect_timeout = 10s;
  return p;
}

long open_descriptors() {
  long n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// Runs `body` as a coroutine on a fresh loop until everything on it is done.
template <class Body>
void on_loop(net::io_context& io, Body body) {
  net::co_spawn(io, std::move(body), net::detached);
  io.run();
}

}  // namespace

TEST_CASE("a login: the connection works; a wrong password is classified as the blocking one") {
  server().create_login_role("async_app", "async-right-7c1");
  net::io_context io;
  pg::async_connector async(io.get_executor(), server_params());
  const pg::connector blocking(server_params());
  const credential right{"async_app", secret("async-right-7c1")};
  const credential wrong{"async_app", secret("async-wrong-2b9")};
  std::optional<result<pg::connection>> ok, refused;
  on_loop(io, [&]() -> net::awaitable<void> {
    ok.emplace(co_await async.async_connect(right, net::use_awaitable));
    refused.emplace(co_await async.async_connect(wrong, net::use_awaitable));
  });
  REQUIRE(ok);
  REQUIRE_MESSAGE(*ok, ok->error().detail);
  CHECK(PQstatus(ok->value().get()) == CONNECTION_OK);
  REQUIRE(refused);
  REQUIRE_FALSE(*refused);
  const auto same = blocking(wrong);
  REQUIRE_FALSE(same);
  CHECK(refused->error().code == same.error().code);
  CHECK(refused->error().is(errc::auth_rejected));
  CHECK(refused->error().detail == same.error().detail);
}

TEST_CASE("async_connect on PostgreSQL: CURRENT refused, NEXT logs in, counted as the blocking") {
  server().create_login_role("async_rot", "async-next-5d2");
  net::io_context io;
  auto dc = make_dual_credential(pg::async_connector(io.get_executor(), server_params()),
                                 static_provider(dualcred::testing::make_set(
                                     "async-current-9a0", "async-next-5d2", "", "async_rot")));
  REQUIRE(dc);
  std::optional<result<pg::connection>> first, second;
  on_loop(io, [&]() -> net::awaitable<void> {
    first.emplace(co_await dc.value().async_connect(net::use_awaitable));
    second.emplace(co_await dc.value().async_connect(net::use_awaitable));
  });
  REQUIRE(first);
  REQUIRE_MESSAGE(*first, first->error().detail);
  REQUIRE(second);
  CHECK(*second);
  const status s = dc.value().snapshot();
  CHECK(s.connects_via_next == 2);
  CHECK(s.fallbacks == 1);
  CHECK(s.preferred == slot::next);
}

TEST_CASE("a server that accepts and says nothing: connect_timeout ends the login, nothing left") {
  net::io_context io;
  // Listens, never accepts: the kernel completes the handshake, libpq waits for an answer.
  net::ip::tcp::acceptor silent(io, {net::ip::make_address("127.0.0.1"), 0});
  pg::params p = server_params();
  p.port = silent.local_endpoint().port();
  p.connect_timeout = 200ms;
  pg::async_connector async(io.get_executor(), p);
  const credential cred{"nobody", secret("silent-pass-4e8")};
  const long before = open_descriptors();
  std::optional<result<pg::connection>> got;
  on_loop(io, [&]() -> net::awaitable<void> {
    got.emplace(co_await async.async_connect(cred, net::use_awaitable));
  });
  REQUIRE(got);
  REQUIRE_FALSE(*got);
  CHECK(got->error().is(errc::timeout));
  CHECK(open_descriptors() == before);
}

TEST_CASE("async_connect's own timeout during a PostgreSQL login: errc::timeout, nothing left") {
  net::io_context io;
  net::ip::tcp::acceptor silent(io, {net::ip::make_address("127.0.0.1"), 0});
  pg::params p = server_params();
  p.port = silent.local_endpoint().port();
  auto dc = make_dual_credential(pg::async_connector(io.get_executor(), p),
                                 static_provider(dualcred::testing::make_set("a-4f1", "b-8c2")));
  REQUIRE(dc);
  const long before = open_descriptors();
  std::optional<result<pg::connection>> got;
  on_loop(io, [&]() -> net::awaitable<void> {
    got.emplace(co_await dc.value().async_connect(100ms, net::use_awaitable));
  });
  REQUIRE(got);
  REQUIRE_FALSE(*got);
  CHECK(got->error().is(errc::timeout));
  CHECK(open_descriptors() == before);
  CHECK(dc.value().snapshot().connects_via_current == 0);
}

TEST_SUITE_END();

}  // namespace test_libpq_asio
