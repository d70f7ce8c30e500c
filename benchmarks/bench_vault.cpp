// One Vault KV v2 load through libcurl against the KV v2 test server (testing/kv2_server/) on
// loopback: an HTTP GET with keep-alive (curl_transport reuses its handles) and a JSON parse.
// The server is a Python stand-in, so this measures the client plus a slow server: a real
// Vault answers faster, making the client's share larger.

#include <string>

#include <benchmark/benchmark.h>
#include <dualcred/http/curl.hpp>
#include <dualcred/provider/vault.hpp>

#include <dualcred_testing/kv2_server.hpp>
#include "support/timed.hpp"

namespace {

kv2test::kv2_server* server = nullptr;

void load_vault(benchmark::State& state) {
  dualcred::vault_kv2_provider provider(dualcred::curl_transport{}, server->config(),
                                        dualcred::key_names::for_prefix("DB"));
  dualcred::bench::timed(state, [&] { return provider.load(); });
}

}  // namespace

BENCHMARK(load_vault)->Name("provider/vault")->Unit(benchmark::kMicrosecond)->UseRealTime();

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  kv2test::kv2_server kv2;  // stopped on return
  kv2test::seed_mutt(kv2);
  server = &kv2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
