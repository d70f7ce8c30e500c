// pqxx::connections through dualcred: refusals classified by the libpq adapter, a reconnect
// that logs in through the fallback again, and 10 rotations under connecting threads.
#include <dualcred/backend/libpqxx.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/provider/static.hpp>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/fleet/http_check.hpp>
#include <dualcred/rotation/pg/admin.hpp>
#include <pqxx/nontransaction>

#include <dualcred_testing/temp_dir.hpp>
#include "rotation/rotation_helpers.hpp"
#include "rotation/soak.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_libpqxx {

TEST_SUITE_BEGIN("libpqxx");

using namespace std::chrono_literals;
using namespace dualcred;
using namespace dualcred::rotation;
using rotation_tests::pg_fixture;
using rotation_tests::pg_params;
using rotation_tests::set_of;

namespace {
std::string select_one(dualcred::libpqxx::connection& c) {
  pqxx::nontransaction tx(c);
  return tx.exec("SELECT current_user").at(0).at(0).c_str();
}

}  // namespace

TEST_CASE("CURRENT refused, NEXT works: a pqxx::connection through the fallback") {
  const std::string pw = "pqxx-" + testing::random_token(12);
  pg_fixture().create_login_role("pqxx_fallback", pw);
  auto creds = make_dual_credential(dualcred::pg::connector(pg_params()),
                                    static_provider(set_of("pqxx_fallback", "wrong", pw)));
  REQUIRE(creds);
  auto conn = dualcred::libpqxx::connect(creds.value());
  REQUIRE_MESSAGE(conn, conn.error().detail);
  CHECK(select_one(*conn.value()) == "pqxx_fallback");
  CHECK(creds.value().snapshot().fallbacks == 1);
}

TEST_CASE("both refused: the dual_credential's all_rejected, classified by SQLSTATE, no throw") {
  pg_fixture().create_login_role("pqxx_refused", "pqxx-" + testing::random_token(12));
  auto creds = make_dual_credential(dualcred::pg::connector(pg_params()),
                                    static_provider(set_of("pqxx_refused", "bad1", "bad2")));
  REQUIRE(creds);
  auto conn = dualcred::libpqxx::connect(creds.value());
  REQUIRE_FALSE(conn);
  CHECK(conn.error().code == errc::all_rejected);
  CHECK(creds.value().snapshot().all_rejected == 1);
}

TEST_CASE("libpqxx's reconnect after the server dropped it logs in through the fallback") {
  const std::string a = "pqxx-a-" + testing::random_token(12);
  const std::string b = "pqxx-b-" + testing::random_token(12);
  auto& pg = pg_fixture();
  pg.create_login_role("pqxx_reconnect", a);
  options o;
  o.min_reload_interval = 0ms;
  auto creds = make_dual_credential(dualcred::pg::connector(pg_params()),
                                    static_provider(set_of("pqxx_reconnect", a, std::nullopt)), o);
  REQUIRE(creds);
  auto conn = dualcred::libpqxx::connect(creds.value());
  REQUIRE(conn);
  CHECK(select_one(*conn.value()) == "pqxx_reconnect");
  // CURRENT is refused from now on; NEXT holds the new password.
  pg.set_password("pqxx_reconnect", b);
  creds.value().provider().set(set_of("pqxx_reconnect", a, b));
  REQUIRE(creds.value().reload());
  pg.exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = "
      "'pqxx_reconnect'");
  CHECK_THROWS(select_one(*conn.value()));  // the query that finds the connection gone
  CHECK(select_one(*conn.value()) == "pqxx_reconnect");
  CHECK(creds.value().snapshot().fallbacks == 1);
}

TEST_CASE("a pqxx::connection made without connect() refuses instead of logging in") {
  CHECK_THROWS_AS(dualcred::libpqxx::connection(), pqxx::broken_connection);
}

TEST_CASE("soak: 4 threads opening pqxx::connections through 10 single-role rotations") {
  testing::temp_dir dir;
  const std::string path = rotation_tests::seed_single(dir, "pqxx_soak");
  auto creds = rotation_tests::reading_file_store(dualcred::pg::connector(pg_params()), path);
  rotation_tests::single_role_soak("libpqxx soak", path, creds, 4, [&](rotation_tests::tally& t) {
    auto c = dualcred::libpqxx::connect(creds);
    if (!c) return t.fail(c.error().detail);
    try {
      if (select_one(*c.value()) == "pqxx_soak")
        ++t.ok;
      else
        t.fail("connected as another user");
    } catch (const std::exception& e) {
      t.fail(e.what());
    }
  });
}

TEST_SUITE_END();

}  // namespace test_libpqxx
