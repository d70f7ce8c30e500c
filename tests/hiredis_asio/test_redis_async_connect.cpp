// The Redis async connector under dual_credential::async_connect: it models the two-phase
// async connector, so a refused CURRENT is followed by NEXT on the same TCP connection.
#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <dualcred/asio/concepts.hpp>
#include <dualcred/asio/connect.hpp>
#include <dualcred/backend/hiredis_asio.hpp>
#include <dualcred/provider/static.hpp>

#include <dualcred_testing/redis.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_redis_async_connect {

TEST_SUITE_BEGIN("redis_async_connect");

using namespace std::chrono_literals;
namespace asio = boost::asio;
using namespace dualcred;

static_assert(two_phase_async_connector<redis::async_connector>);

namespace {
// A dual_credential over the Redis async connector on `io`, holding user's CURRENT and NEXT.
auto async_creds(asio::io_context& io, const std::string& user, const std::string& current,
                 const std::string& next) {
  credential_set set;
  set.current = {user, secret(current)};
  set.next = credential{user, secret(next)};
  redis::params where;
  where.port = testing::shared_redis_server().port();
  return make_dual_credential(redis::async_connector(io.get_executor(), where),
                              static_provider(std::move(set)));
}

// One async_connect on a fresh loop; the connection is dropped on the loop, so run() returns.
template <class Creds>
std::optional<error> connect_once(asio::io_context& io, Creds& creds) {
  std::optional<error> failed;
  bool ran = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto conn = co_await creds.async_connect(5s, asio::use_awaitable);
        ran = true;
        if (!conn) failed = conn.error();
      },
      asio::detached);
  io.run();
  REQUIRE(ran);
  return failed;
}
}  // namespace

TEST_CASE("CURRENT refused, NEXT accepted on the same connection, counted as a fallback") {
  auto& server = testing::shared_redis_server();
  server.set_user("async_dc_user", {"async-dc-next"});
  const long long received = server.info_number("stats", "total_connections_received");
  asio::io_context io;
  auto creds = async_creds(io, "async_dc_user", "async-dc-old", "async-dc-next");
  REQUIRE(creds);
  const auto failed = connect_once(io, creds.value());
  REQUIRE_MESSAGE(!failed, (failed ? failed->detail : ""));
  const auto s = creds.value().snapshot();
  CHECK(s.connects_via_next == 1);
  CHECK(s.fallbacks == 1);
  CHECK(server.info_number("stats", "total_connections_received") == received + 1);
}

TEST_CASE("both refused: all_rejected through the async path, no password in the error") {
  auto& server = testing::shared_redis_server();
  server.set_user("async_dc_refused", {"async-dc-real"});
  asio::io_context io;
  auto creds = async_creds(io, "async_dc_refused", "async-dc-bad1", "async-dc-bad2");
  REQUIRE(creds);
  const auto failed = connect_once(io, creds.value());
  REQUIRE(failed);
  CHECK(failed->is(errc::all_rejected));
  CHECK(failed->detail.find("async-dc-bad") == std::string::npos);
  CHECK(creds.value().snapshot().all_rejected == 1);
}

TEST_SUITE_END();

}  // namespace test_redis_async_connect
