// Logging in to a real Redis 7 on loopback, each connect followed by closing the connection:
//
//   redis/plain           hiredis alone: redisConnectWithTimeout + AUTH
//   redis/happy           dual_credential over redis::connector, CURRENT accepted
//   redis/window_sticky   CURRENT refused, NEXT accepted, sticky: NEXT is tried first
//   redis/first_fallback  the same window, not sticky: every connect is a first fallback,
//                         AUTH refused then AUTH again on the same TCP connection
//   redis/reconnect       the same fallback through a one-phase connector: a new TCP
//                         connection for NEXT (what a connector that is not two-phase costs)

#include <hiredis/hiredis.h>

#include <memory>
#include <stdexcept>
#include <string>

#include <benchmark/benchmark.h>
#include <dualcred/backend/hiredis.hpp>
#include <dualcred/dualcred.hpp>
#include <dualcred/provider/static.hpp>

#include <dualcred_testing/redis.hpp>
#include "support/login.hpp"
#include "support/sets.hpp"
#include "support/timed.hpp"

namespace {

using dualcred::bench::set_of;
using dualcred::bench::timed;

dualcred::testing::redis_server* server = nullptr;

constexpr const char* user = dualcred::bench::login_user;
constexpr const char* password = dualcred::bench::login_password;

dualcred::redis::params params() {
  return dualcred::bench::params_for<dualcred::redis::params>(*server);
}

void plain(benchmark::State& state) {
  const timeval tv{5, 0};
  timed(state, [&] {
    redisContext* c = redisConnectWithTimeout(server->host().c_str(), server->port(), tv);
    if (c == nullptr || c->err != 0) {
      if (c != nullptr) redisFree(c);
      return false;
    }
    const char* argv[] = {"AUTH", user, password};
    auto* reply = static_cast<redisReply*>(redisCommandArgv(c, 3, argv, nullptr));
    const bool ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS;
    if (reply != nullptr) freeReplyObject(reply);
    redisFree(c);
    return ok;
  });
}

using dualcred::bench::connect_through;

// redis::connector used as a plain connector: one new connection per credential.
struct one_phase {
  dualcred::redis::connector inner;
  dualcred::result<dualcred::redis::connection> operator()(const dualcred::credential& c) const {
    return inner(c);
  }
};

void happy(benchmark::State& state) {
  connect_through(state, dualcred::redis::connector(params()), set_of(user, password), true);
}
void window_sticky(benchmark::State& state) {
  connect_through(state, dualcred::redis::connector(params()),
                  set_of(user, "old-password", password), true);
}
void first_fallback(benchmark::State& state) {
  connect_through(state, dualcred::redis::connector(params()),
                  set_of(user, "old-password", password), false);
}
void reconnect(benchmark::State& state) {
  connect_through(state, one_phase{dualcred::redis::connector(params())},
                  set_of(user, "old-password", password), false);
}

}  // namespace

BENCHMARK(plain)->Name("redis/plain")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(happy)->Name("redis/happy")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(window_sticky)->Name("redis/window_sticky")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(first_fallback)
    ->Name("redis/first_fallback")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK(reconnect)->Name("redis/reconnect")->Unit(benchmark::kMicrosecond)->UseRealTime();

int main(int argc, char** argv) {
  return dualcred::bench::run_against_server(
      argc, argv, server,
      [](dualcred::testing::redis_server& redis) { redis.set_user(user, {password}); });
}
