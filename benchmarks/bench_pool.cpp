// What a borrow and return costs in dualcred's pool, beside the least a pool can do: a
// mutex-guarded free list (pop a connection, push it back). The pool additionally checks,
// under its lock, that the connection's credential is still in the published set (a
// lock-free read of the set) and its ages, and re-reads the provider when a refresh is due.
//
//   pool/free_list   the baseline: std::mutex + std::vector<int>
//   pool/borrow      connection_pool<...>::borrow() and the lease's return
//   .../threads:4    the same from 4 threads sharing one pool of 4
//
// The ratio is pool/borrow over pool/free_list at the same thread count. And what a tag
// costs on its own:
//
//   tag/connect          connect() and connect(credential_tag&) with a no-op connector
//   tag/holds_same_set   holds(tag) while the set that opened it is published
//   tag/holds_rotated    holds(tag) after a rotation: the fingerprints are compared

#include <mutex>
#include <vector>

#include <benchmark/benchmark.h>
#include <dualcred/dualcred.hpp>
#include <dualcred/pool/pool.hpp>
#include <dualcred/provider/static.hpp>

namespace {

struct noop_connector {
  dualcred::result<int> operator()(const dualcred::credential& c) const noexcept {
    return static_cast<int>(c.user.size());
  }
};

auto make_creds() {
  dualcred::credential_set set;
  set.current = {"app", dualcred::secret("current-password")};
  set.next = dualcred::credential{"app", dualcred::secret("next-password")};
  auto made =
      dualcred::make_dual_credential(noop_connector{}, dualcred::static_provider(std::move(set)));
  if (!made) std::abort();
  return std::move(made).value();
}
using creds_t = decltype(make_creds());

class free_list {
 public:
  explicit free_list(int n) {
    for (int i = 0; i < n; ++i) items_.push_back(i);
  }
  int take() {
    std::lock_guard lock(m_);
    const int v = items_.back();
    items_.pop_back();
    return v;
  }
  void give(int v) {
    std::lock_guard lock(m_);
    items_.push_back(v);
  }

 private:
  std::mutex m_;
  std::vector<int> items_;
};

constexpr int size = 4;

void bm_free_list(benchmark::State& state) {
  static free_list list(size);
  for (auto _ : state) {
    const int v = list.take();
    benchmark::DoNotOptimize(v);
    list.give(v);
  }
}
BENCHMARK(bm_free_list)->Name("pool/free_list")->Threads(1)->Threads(4)->UseRealTime();

void bm_pool(benchmark::State& state) {
  static creds_t creds = make_creds();
  static dualcred::pool::connection_pool<creds_t> pool(creds, [] {
    dualcred::pool::options o;
    o.max_size = size;
    return o;
  }());
  for (auto _ : state) {
    auto lease = pool.borrow();
    if (!lease) std::abort();
    benchmark::DoNotOptimize(lease.value().get());
  }
}
BENCHMARK(bm_pool)->Name("pool/borrow")->Threads(1)->Threads(4)->UseRealTime();

void bm_connect_untagged(benchmark::State& state) {
  auto creds = make_creds();
  for (auto _ : state) benchmark::DoNotOptimize(creds.connect());
}
BENCHMARK(bm_connect_untagged)->Name("tag/connect/untagged");

void bm_connect_tagged(benchmark::State& state) {
  auto creds = make_creds();
  dualcred::credential_tag tag;
  for (auto _ : state) {
    benchmark::DoNotOptimize(creds.connect(tag));
    benchmark::DoNotOptimize(tag);
  }
}
BENCHMARK(bm_connect_tagged)->Name("tag/connect/tagged");

void bm_holds(benchmark::State& state, bool rotated) {
  auto creds = make_creds();
  dualcred::credential_tag tag;
  if (!creds.connect(tag)) std::abort();
  if (rotated) {
    dualcred::credential_set next;
    next.current = {"app", dualcred::secret("next-password")};
    creds.provider().set(std::move(next));
    if (!creds.reload()) std::abort();
  }
  for (auto _ : state) benchmark::DoNotOptimize(creds.holds(tag));
}
BENCHMARK_CAPTURE(bm_holds, same_set, false)->Name("tag/holds_same_set");
BENCHMARK_CAPTURE(bm_holds, rotated, true)->Name("tag/holds_rotated");

}  // namespace

BENCHMARK_MAIN();
