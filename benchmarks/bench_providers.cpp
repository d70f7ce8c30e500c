// What one provider load costs: the static provider (a copy, for reference), environment
// variables, a dotenv file and a directory of one file per key (a Kubernetes secret volume,
// read through its `..data` symlink).

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <benchmark/benchmark.h>
#include <dualcred/dualcred.hpp>
#include <dualcred/provider/env.hpp>
#include <dualcred/provider/file.hpp>
#include <dualcred/provider/static.hpp>
#include <dualcred_testing/temp_dir.hpp>

#include "support/timed.hpp"

namespace {

namespace fs = std::filesystem;

using dualcred::testing::temp_dir;

void write(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

template <class Provider>
void load_loop(benchmark::State& state, Provider& provider) {
  dualcred::bench::timed(state, [&] { return provider.load(); });
}

void load_static(benchmark::State& state) {
  dualcred::credential_set set;
  set.current = {"app", dualcred::secret("current-password-0123456789")};
  set.next = dualcred::credential{"app", dualcred::secret("next-password-0123456789")};
  dualcred::static_provider provider(std::move(set));
  load_loop(state, provider);
}

void load_env(benchmark::State& state) {
  ::setenv("BENCH_USER", "app", 1);
  ::setenv("BENCH_PASS_CURRENT", "current-password-0123456789", 1);
  ::setenv("BENCH_PASS_NEXT", "next-password-0123456789", 1);
  dualcred::env_provider provider(dualcred::key_names::for_prefix("BENCH"));
  load_loop(state, provider);
}

void load_dotenv(benchmark::State& state) {
  temp_dir dir("dualcred-bench");
  const fs::path file = dir.path() / "db.env";
  write(file,
        "# rotated by the runbook\n"
        "DB_USER=app\n"
        "DB_PASS_CURRENT=current-password-0123456789\n"
        "DB_PASS_NEXT=next-password-0123456789\n");
  dualcred::file_provider provider(file.string());
  load_loop(state, provider);
}

void load_directory(benchmark::State& state) {
  // The layout the kubelet writes: keys are symlinks through `..data` to a revision dir.
  temp_dir dir("dualcred-bench");
  const fs::path revision = dir.path() / "..2024_01_01_00_00_00.000000000";
  fs::create_directory(revision);
  write(revision / "DB_USER", "app\n");
  write(revision / "DB_PASS_CURRENT", "current-password-0123456789\n");
  write(revision / "DB_PASS_NEXT", "next-password-0123456789\n");
  fs::create_directory_symlink(revision.filename(), dir.path() / "..data");
  for (const char* key : {"DB_USER", "DB_PASS_CURRENT", "DB_PASS_NEXT"})
    fs::create_symlink(fs::path("..data") / key, dir.path() / key);
  dualcred::file_provider provider(dir.path().string());
  load_loop(state, provider);
}

}  // namespace

BENCHMARK(load_static)->Name("provider/static");
BENCHMARK(load_env)->Name("provider/env");
BENCHMARK(load_dotenv)->Name("provider/file_dotenv");
BENCHMARK(load_directory)->Name("provider/file_directory");

BENCHMARK_MAIN();
