// A small Asio server whose handlers log in to PostgreSQL and Redis through dualcred without
// blocking the loop: each line a client sends costs one `co_await creds.async_connect(...)`
// per backend, and the reply names the slots that logged in. Run `dualcred-rotate` against the
// same role and ACL user meanwhile: every request keeps working through the rotation.
//
//   export DB_HOST=127.0.0.1 DB_PORT=5432 DB_NAME=postgres
//   export DB_USER=app DB_PASS_CURRENT=... DB_PASS_NEXT=...
//   export REDIS_HOST=127.0.0.1 REDIS_PORT=6379
//   export REDIS_USER=app REDIS_PASS_CURRENT=... REDIS_PASS_NEXT=...
//   ./asio_server 7000          # then: nc 127.0.0.1 7000, and type lines
//   ./asio_server --once        # one request, then exit (what the tests run)
#include <chrono>
#include <cstdlib>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <dualcred/asio/connect.hpp>
#include <dualcred/backend/hiredis_asio.hpp>
#include <dualcred/backend/libpq_asio.hpp>
#include <dualcred/provider/env.hpp>

namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

using pg_creds = dualcred::dual_credential<dualcred::pg::async_connector, dualcred::env_provider>;
using redis_creds =
    dualcred::dual_credential<dualcred::redis::async_connector, dualcred::env_provider>;

struct backends {
  pg_creds& pg;
  redis_creds& redis;
};

// One request: a PostgreSQL and a Redis login through the CURRENT/NEXT fallback, answered in
// one line. The connections close when they go out of scope.
net::awaitable<std::string> serve_one(backends b) {
  auto pg = co_await b.pg.async_connect(5s, net::use_awaitable);
  if (!pg) co_return "error: " + pg.error().detail + "\n";
  auto redis = co_await b.redis.async_connect(5s, net::use_awaitable);
  if (!redis) co_return "error: " + redis.error().detail + "\n";
  const auto p = b.pg.snapshot();
  const auto r = b.redis.snapshot();
  co_return fmt::format(
      "ok: PostgreSQL {} as {} (current {}, next {}); Redis (current {}, next {})\n",
      PQserverVersion(pg.value().get()), PQuser(pg.value().get()), p.connects_via_current,
      p.connects_via_next, r.connects_via_current, r.connects_via_next);
}

net::awaitable<void> session(net::ip::tcp::socket socket, backends b) {
  net::streambuf in;
  for (;;) {
    auto [ec, n] =
        co_await net::async_read_until(socket, in, '\n', net::as_tuple(net::use_awaitable));
    if (ec) co_return;
    in.consume(n);
    const std::string reply = co_await serve_one(b);
    auto [wec, written] =
        co_await net::async_write(socket, net::buffer(reply), net::as_tuple(net::use_awaitable));
    if (wec) co_return;
  }
}

net::awaitable<void> listen(net::ip::tcp::acceptor acceptor, backends b) {
  for (;;) {
    auto socket = co_await acceptor.async_accept(net::use_awaitable);
    net::co_spawn(acceptor.get_executor(), session(std::move(socket), b), net::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string arg = argc > 1 ? argv[1] : "7000";
  dualcred::pg::params where;
  where.host = env_or("DB_HOST", "127.0.0.1");
  where.port = std::atoi(env_or("DB_PORT", "5432").c_str());
  where.dbname = env_or("DB_NAME", "postgres");
  where.connect_timeout = 5s;
  where.application_name = "dualcred-asio-example";

  net::io_context io(1);
  net::thread_pool proofs(1);  // libpq's SCRAM proofs run here, not on the loop
  auto pg = dualcred::make_dual_credential(
      dualcred::pg::async_connector(io.get_executor(), where, proofs.get_executor()),
      dualcred::env_provider());
  dualcred::redis::params redis_where;
  redis_where.host = env_or("REDIS_HOST", "127.0.0.1");
  redis_where.port = std::atoi(env_or("REDIS_PORT", "6379").c_str());
  redis_where.timeout = 5s;
  auto redis = dualcred::make_dual_credential(
      dualcred::redis::async_connector(io.get_executor(), redis_where),
      dualcred::env_provider(dualcred::key_names::for_prefix("REDIS")));
  if (!pg || !redis) {
    fmt::print(stderr, "cannot read the login: {}\n",
               !pg ? pg.error().detail : redis.error().detail);
    return 1;
  }
  const backends b{pg.value(), redis.value()};
  int exit_code = 0;
  if (arg == "--once") {
    net::co_spawn(io, serve_one(b), [&](std::exception_ptr e, std::string reply) {
      fmt::print("{}", e ? std::string("error: exception\n") : reply);
      exit_code = e || reply.starts_with("error") ? 1 : 0;
    });
  } else {
    net::ip::tcp::acceptor acceptor(io, {net::ip::make_address("127.0.0.1"),
                                         static_cast<unsigned short>(std::atoi(arg.c_str()))});
    fmt::print("listening on 127.0.0.1:{}\n", acceptor.local_endpoint().port());
    net::co_spawn(io, listen(std::move(acceptor), b), net::detached);
  }
  io.run();
  return exit_code;
}
