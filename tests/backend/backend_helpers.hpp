#pragma once

// Small things the backend tests share: a listener that never answers (support/), a file
// writer, a policy that counts attempts, the checks every connector must pass alike, and the
// fixture servers, one of each per test program.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <dualcred/error.hpp>
#include <dualcred/policy.hpp>
#include <dualcred/secret.hpp>

#include <dualcred_testing/postgres.hpp>
#include <dualcred_testing/redis.hpp>

#include "support/listeners.hpp"

namespace backend_tests {

using dualcred::testing::silent_listener;

/// Replaces a file's contents in one rename, as a secret manager's agent would.
inline void write_file(const std::filesystem::path& path, const std::string& text) {
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
  }
  std::filesystem::rename(tmp, path);
}

/// The default policy, counting how often the connector was tried and refused.
struct counting_policy : dualcred::default_policy {
  std::atomic<int>* refused = nullptr;
  void on_event(const dualcred::event& e) noexcept {
    if (refused != nullptr && e.kind == dualcred::event_kind::refused) ++*refused;
  }
};

/// After the server moved the user to NEXT: the first connect falls back once, and the
/// following ones go straight to NEXT with no further refusal.
template <class DualCredential>
void check_one_fallback_then_sticky(DualCredential& db) {
  auto first = db.connect();
  REQUIRE_MESSAGE(first, first.error().detail);
  auto st = db.snapshot();
  CHECK(st.connects_via_next == 1);
  CHECK(st.fallbacks == 1);
  CHECK(st.preferred == dualcred::slot::next);
  CHECK(st.last_error == dualcred::errc::auth_rejected);
  for (int i = 0; i < 3; ++i) REQUIRE(db.connect());
  st = db.snapshot();
  CHECK(st.connects_via_next == 4);
  CHECK(st.fallbacks == 1);
}

/// A connect the server could not take: backend_unavailable after a single try, NEXT never
/// tried, and the password nowhere in the detail.
template <class Result, class DualCredential>
void check_unavailable_without_fallback(const Result& r, DualCredential& db, int tries,
                                        std::string_view password) {
  REQUIRE_FALSE(r);
  CHECK(r.error().is(dualcred::errc::backend_unavailable));
  CHECK(tries == 1);
  CHECK(db.snapshot().fallbacks == 0);
  CHECK(r.error().detail.find(password) == std::string::npos);
}

/// A connector aimed at a silent_listener with a 300 ms timeout gives up with `timeout`
/// within the bound, naming no password.
template <class Connector>
void check_silent_server_times_out(const Connector& connect, const char* password) {
  using namespace std::chrono_literals;
  const auto start = std::chrono::steady_clock::now();
  auto r = connect(dualcred::credential{"app", dualcred::secret(password)});
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(r);
  CHECK(r.error().is(dualcred::errc::timeout));
  CHECK(took >= 250ms);
  CHECK(took < 3s);
  CHECK(r.error().detail.find(password) == std::string::npos);
}

inline dualcred::testing::postgres_server& postgres() {
  return dualcred::testing::shared_postgres_server();
}
inline dualcred::testing::redis_server& redis() {
  return dualcred::testing::shared_redis_server();
}

}  // namespace backend_tests
