#include <dualcred/provider/static.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "support/scripted.hpp"

TEST_SUITE_BEGIN("provider_static");

using namespace dualcred;
using dualcred::testing::make_set;

TEST_CASE("static_provider returns what it holds; set swaps it") {
  static_provider p(make_set("a", "b", "v1"));
  auto first = p.load();
  REQUIRE(first);
  CHECK(first.value().current.password.reveal() == "a");
  CHECK(first.value().next->password.reveal() == "b");
  CHECK(first.value().version == "v1");
  p.set(make_set("c", std::nullopt));
  auto second = p.load();
  CHECK(second.value().current.password.reveal() == "c");
  CHECK(!second.value().next);
  CHECK(second.value().version == "static-2");
}

TEST_CASE("static_provider: set is safe while other threads load") {
  static_provider p(make_set("a", "a-next"));
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i)
    readers.emplace_back([&] {
      while (!stop) {
        auto s = p.load().value();
        // Each set pairs x with x-next: a torn read would mix them.
        const auto cur = s.current.password.reveal();
        if (std::string(cur) + "-next" != s.next->password.reveal()) torn.fetch_add(1);
      }
    });
  for (int i = 0; i < 2000; ++i)
    p.set(make_set("k" + std::to_string(i), "k" + std::to_string(i) + "-next"));
  stop = true;
  for (auto& r : readers) r.join();
  CHECK(torn == 0);
}

TEST_SUITE_END();
