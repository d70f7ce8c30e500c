// Logging in to a real Redis 7 on loopback from an Asio loop, against the blocking connector
// in the same run. Each login is open + AUTH user password, then the connection is closed:
//
//   redis_asio/blocking            redis::connector open() + authenticate(), on the calling
//                                  thread (threads:2: two threads, each its own logins)
//   redis_asio/async_one           async_connector, one login at a time on one loop thread
//   redis_asio/async_in_flight/N   N logins in flight at once as coroutines on one loop
//                                  thread; items/s is logins per second per loop thread

#include <hiredis/hiredis.h>

#include <string>

#include <benchmark/benchmark.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <dualcred/backend/hiredis.hpp>
#include <dualcred/backend/hiredis_asio.hpp>

#include <dualcred_testing/redis.hpp>
#include "support/login.hpp"
#include "support/timed.hpp"

namespace {

namespace asio = boost::asio;
using dualcred::bench::timed;

dualcred::testing::redis_server* server = nullptr;

constexpr const char* user = dualcred::bench::login_user;
constexpr const char* password = dualcred::bench::login_password;

dualcred::redis::params params() {
  return dualcred::bench::params_for<dualcred::redis::params>(*server);
}

const dualcred::credential& login() {
  static const dualcred::credential cred{user, dualcred::secret(password)};
  return cred;
}

void blocking(benchmark::State& state) {
  const dualcred::redis::connector c(params());
  timed(state, [&]() -> dualcred::result<void> {
    DUALCRED_TRY(conn, c.open());
    return c.authenticate(conn, login());
  });
}

// One login as a coroutine; counts successes and keeps the first failure's detail.
asio::awaitable<void> one_login(const dualcred::redis::async_connector& c, int& ok,
                                std::string& failure) {
  auto conn = co_await c.async_open(asio::use_awaitable);
  if (!conn) {
    failure = conn.error().detail;
    co_return;
  }
  auto r = co_await c.async_authenticate(conn.value(), login(), asio::use_awaitable);
  if (!r) {
    failure = r.error().detail;
    co_return;
  }
  ++ok;
}

void async_one(benchmark::State& state) {
  asio::io_context io;
  const dualcred::redis::async_connector c(io.get_executor(), params());
  timed(state, [&] {
    int ok = 0;
    std::string failure;
    asio::co_spawn(io, one_login(c, ok, failure), asio::detached);
    io.restart();
    io.run();
    return ok == 1;
  });
}

void async_in_flight(benchmark::State& state) {
  const auto n = static_cast<int>(state.range(0));
  asio::io_context io;
  const dualcred::redis::async_connector c(io.get_executor(), params());
  for (auto _ : state) {
    int ok = 0;
    std::string failure;
    for (int i = 0; i < n; ++i) asio::co_spawn(io, one_login(c, ok, failure), asio::detached);
    io.restart();
    io.run();
    if (ok != n) {
      state.SkipWithError(failure.c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
}

}  // namespace

BENCHMARK(blocking)->Name("redis_asio/blocking")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(blocking)
    ->Name("redis_asio/blocking")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime()
    ->Threads(2);
BENCHMARK(async_one)->Name("redis_asio/async_one")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(async_in_flight)
    ->Name("redis_asio/async_in_flight")
    ->Arg(16)
    ->Arg(128)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

int main(int argc, char** argv) {
  return dualcred::bench::run_against_server(
      argc, argv, server,
      [](dualcred::testing::redis_server& redis) { redis.set_user(user, {password}); });
}
