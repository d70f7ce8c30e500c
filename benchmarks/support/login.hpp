#pragma once

// What the login benchmarks against a real server share: the one login they use, the timed
// connect through dual_credential, and a main() that starts the server around the run.

#include <utility>

#include <benchmark/benchmark.h>
#include <dualcred/dualcred.hpp>
#include <dualcred/provider/static.hpp>

#include "timed.hpp"

namespace dualcred::bench {

inline constexpr const char* login_user = "bench";
inline constexpr const char* login_password = "bench-password-a";

/// A connector's params pointing at `server`.
template <class Params, class Server>
Params params_for(const Server& server) {
  Params p;
  p.host = server.host();
  p.port = server.port();
  return p;
}

/// Times connect() through dual_credential over `connector` with `set`, after one untimed
/// connect; reports how many fallbacks each connect cost.
template <class Connector>
void connect_through(benchmark::State& state, Connector connector, credential_set set,
                     bool sticky) {
  options o;
  o.sticky = sticky;
  auto dc = make_dual_credential(std::move(connector), static_provider(std::move(set)), o);
  if (!dc) {
    state.SkipWithError(dc.error().detail.c_str());
    return;
  }
  if (!dc.value().connect()) state.SkipWithError("the first connect failed");
  timed(state, [&] { return static_cast<bool>(dc.value().connect()); });
  state.counters["fallbacks_per_op"] = static_cast<double>(dc.value().snapshot().fallbacks) /
                                       static_cast<double>(state.iterations() + 1);
}

/// The benchmarks' main(): starts a `Server`, lets `add_login` give it the login, points
/// `server` at it and runs the benchmarks named on the command line. The server stops on
/// return, even after a failed benchmark.
template <class Server, class AddLogin>
int run_against_server(int argc, char** argv, Server*& server, AddLogin add_login) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  Server started;
  add_login(started);
  server = &started;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  server = nullptr;
  return 0;
}

}  // namespace dualcred::bench
