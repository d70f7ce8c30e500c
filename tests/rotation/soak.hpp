#pragma once

// What the soaks of the PostgreSQL drop-in parts share: a fleet check that reads a
// dual_credential's status in-process, a file store seeded with one login role, and
// single-role rotations of its DB credentials run under threads that keep logging in.

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/fleet/http_check.hpp>
#include <dualcred/rotation/pg/admin.hpp>
#include <dualcred/rotation/stores/file.hpp>

#include <dualcred_testing/temp_dir.hpp>
#include "rotation_helpers.hpp"

namespace rotation_tests {

/// A fleet of one instance, `name`, whose status is `creds`' own, read without HTTP.
template <class Creds>
dualcred::rotation::fleet_check in_process_fleet(Creds& creds, std::string name) {
  return dualcred::rotation::fleet::http_check{
      {std::move(name)},
      [&creds](const std::string&, std::chrono::milliseconds) -> dualcred::result<std::string> {
        return fmt::format("{}", creds.snapshot());
      },
      std::chrono::seconds(10),
      std::chrono::milliseconds(10),
      {}};
}

/// A login role `role` with a fresh password, and a dotenv store at `dir`/db.env holding it
/// as CURRENT; returns the store's path.
inline std::string seed_single(const dualcred::testing::temp_dir& dir, const std::string& role) {
  const std::string pw = "seed-" + dualcred::testing::random_token(16);
  pg_fixture().create_login_role(role, pw);
  return dir.write("db.env", "DB_USER=" + role + "\nDB_PASS_CURRENT=" + pw + "\n");
}

/// A client dual_credential over `connector` reading the file store at `path`.
template <class Connector>
auto reading_file_store(Connector connector, const std::string& path) {
  using store = dualcred::rotation::stores::file_store;
  auto made = dualcred::make_dual_credential(std::move(connector),
                                             dualcred::rotation::store_provider<store>(store(path)),
                                             client_options());
  REQUIRE(made);
  return std::move(made).value();
}

/// Runs `cycles()` single-role rotations of the DB credentials in the file store at `path`
/// (watched by `creds`) while `threads` threads each call `round(t)` until they are done,
/// `round` counting into `t`; then expects no failed round and more rounds than rotations.
template <class Creds, class Round>
void single_role_soak(const char* what, const std::string& path, Creds& creds, int threads,
                      Round round) {
  using store = dualcred::rotation::stores::file_store;
  std::atomic<bool> stop{false};
  tally t;
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i)
    workers.emplace_back([&] {
      while (!stop) round(t);
    });
  dualcred::rotation::rotator_options o;
  o.instances = in_process_fleet(creds, "threads");
  dualcred::rotation::rotator r(store(path), dualcred::rotation::pg::single_role_admin(pg_admin()),
                                dualcred::rotation::rotation_keys::for_prefix("DB"), o);
  const auto start = std::chrono::steady_clock::now();
  const int n = cycles();
  for (int i = 0; i < n; ++i) {
    auto done = r.run_all();
    REQUIRE_MESSAGE(done, done.error().detail);
  }
  stop = true;
  for (auto& w : workers) w.join();
  t.report(what);
  MESSAGE(what << ": " << n << " rotations, " << t.ok.load() << " rounds, " << t.failed.load()
               << " failed, "
               << std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count()
               << " ms");
  CHECK(t.failed == 0);
  CHECK(t.ok > n);
}

}  // namespace rotation_tests
