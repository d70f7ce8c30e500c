// Async connects (dualcred/asio/), each a coroutine's co_await on one loop thread:
//
//   async/bare           an in-process async connector alone: its operation completes
//                        through a post, as an I/O completion would
//   async/happy          the same connector through dual_credential::async_connect, CURRENT
//                        accepted: the ratio happy/bare is async_connect's overhead
//   pg/async_loop        real PostgreSQL (SCRAM) on loopback: 16 coroutines logging in on one
//                        loop thread (the SCRAM proofs on that thread too); items/s is
//                        connects per second per loop thread
//   pg/blocking/threads:2  dual_credential::connect() from two threads, for comparison

#include <libpq-fe.h>

#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <dualcred/asio/connect.hpp>
#include <dualcred/backend/libpq.hpp>
#include <dualcred/backend/libpq_asio.hpp>
#include <dualcred/provider/static.hpp>

#include <dualcred_testing/postgres.hpp>
#include "support/sets.hpp"

namespace {

namespace net = boost::asio;
using dualcred::bench::set_of;

struct token_conn {
  int id = 0;
};

// Completes through a post: the cheapest honest async operation.
struct posting_connector {
  net::any_io_executor ex;
  [[nodiscard]] net::any_io_executor get_executor() const { return ex; }
  template <class Token>
  auto async_connect(const dualcred::credential&, Token&& token) {
    return net::async_initiate<Token, void(dualcred::result<token_conn>)>(
        [ex = ex](auto handler) {
          auto home = net::get_associated_executor(handler, ex);
          net::post(home, [h = std::move(handler)]() mutable {
            std::move(h)(dualcred::result<token_conn>(token_conn{1}));
          });
        },
        token);
  }
};

void bare(benchmark::State& state) {
  net::io_context io(1);
  posting_connector c{io.get_executor()};
  const dualcred::credential cred{"app", dualcred::secret("pw")};
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        for (auto _ : state) {
          auto r = co_await c.async_connect(cred, net::use_awaitable);
          benchmark::DoNotOptimize(r);
        }
      },
      net::detached);
  io.run();
}

void happy(benchmark::State& state) {
  net::io_context io(1);
  auto dc = dualcred::make_dual_credential(posting_connector{io.get_executor()},
                                           dualcred::static_provider(set_of("app", "pw")));
  if (!dc) return state.SkipWithError(dc.error().detail.c_str());
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        for (auto _ : state) {
          auto r = co_await dc.value().async_connect(net::use_awaitable);
          benchmark::DoNotOptimize(r);
        }
      },
      net::detached);
  io.run();
}

dualcred::testing::postgres_server* server = nullptr;
constexpr const char* user = "bench";
constexpr const char* password = "bench-password-a";

dualcred::pg::params params() {
  dualcred::pg::params p;
  p.host = server->host();
  p.port = server->port();
  p.dbname = "postgres";
  return p;
}

void pg_async_loop(benchmark::State& state) {
  constexpr int coroutines = 16;
  net::io_context io(1);
  auto dc =
      dualcred::make_dual_credential(dualcred::pg::async_connector(io.get_executor(), params()),
                                     dualcred::static_provider(set_of(user, password)));
  if (!dc) return state.SkipWithError(dc.error().detail.c_str());
  long failed = 0;
  for (auto _ : state) {
    // One iteration: `coroutines` connects at once on the loop, each closed at once.
    for (int i = 0; i < coroutines; ++i)
      net::co_spawn(
          io,
          [&]() -> net::awaitable<void> {
            auto r = co_await dc.value().async_connect(net::use_awaitable);
            if (!r) ++failed;
          },
          net::detached);
    io.restart();
    io.run();
  }
  if (failed > 0) state.SkipWithError("an async connect failed");
  state.SetItemsProcessed(state.iterations() * coroutines);
}

std::unique_ptr<dualcred::dual_credential<dualcred::pg::connector, dualcred::static_provider>>
    blocking_creds;

void pg_blocking(benchmark::State& state) {
  long failed = 0;
  for (auto _ : state)
    if (!blocking_creds->connect()) ++failed;
  if (failed > 0) state.SkipWithError("a connect failed");
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(bare)->Name("async/bare");
BENCHMARK(happy)->Name("async/happy");
BENCHMARK(pg_async_loop)->Name("pg/async_loop")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(pg_blocking)
    ->Name("pg/blocking")
    ->Threads(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  dualcred::testing::postgres_server pg;  // stopped on return, even after a failed benchmark
  pg.create_login_role(user, password);
  server = &pg;
  auto dc = dualcred::make_dual_credential(dualcred::pg::connector(params()),
                                           dualcred::static_provider(set_of(user, password)));
  if (!dc) return 1;
  blocking_creds = std::make_unique<decltype(blocking_creds)::element_type>(std::move(dc).value());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  blocking_creds.reset();
  return 0;
}
