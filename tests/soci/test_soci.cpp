// SOCI sessions, SOCI's connection_pool and the failover callback through dualcred, on the
// test PostgreSQL; 10 rotations under threads that use pooled and new sessions.
#include <dualcred/backend/soci.hpp>

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

#include <dualcred_testing/temp_dir.hpp>
#include "rotation/rotation_helpers.hpp"
#include "rotation/soak.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_soci {

TEST_SUITE_BEGIN("soci");

using namespace std::chrono_literals;
using namespace dualcred;
using namespace dualcred::rotation;
using rotation_tests::pg_fixture;
using rotation_tests::pg_params;
using rotation_tests::set_of;

namespace {
std::string whoami(soci::session& s) {
  std::string user;
  s << "SELECT current_user", soci::into(user);
  return user;
}

auto static_creds(credential_set set) {
  options o;
  o.min_reload_interval = 0ms;
  auto made = make_dual_credential(dualcred::soci_pg::probe_connector(pg_params()),
                                   static_provider(std::move(set)), o);
  REQUIRE(made);
  return std::move(made).value();
}
}  // namespace

TEST_CASE("conninfo: values quoted, nothing empty written") {
  dualcred::pg::params p;
  p.host = "h";
  p.port = 5433;
  p.connect_timeout = 1500ms;
  p.extra = {{"options", "-c x='1'"}};
  const auto cs = dualcred::soci_pg::conninfo(p, {"a b", secret(R"(p'w\)")});
  CHECK(
      cs.reveal() ==
      R"(host='h' port='5433' connect_timeout='2' options='-c x=\'1\'' user='a b' password='p\'w\\' )");
}

TEST_CASE("a session through the fallback: CURRENT refused, NEXT works") {
  const std::string pw = "soci-" + testing::random_token(12);
  pg_fixture().create_login_role("soci_fallback", pw);
  auto creds = static_creds(set_of("soci_fallback", "wrong", pw));
  auto s = dualcred::soci_pg::open_session(creds);
  REQUIRE_MESSAGE(s, s.error().detail);
  CHECK(whoami(*s.value()) == "soci_fallback");
  CHECK(creds.snapshot().fallbacks == 1);
  // Both refused: the dual_credential's error, not an exception.
  auto bad = static_creds(set_of("soci_fallback", "bad1", "bad2"));
  auto refused = dualcred::soci_pg::open_session(bad);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == errc::all_rejected);
}

TEST_CASE("failover: after the server drops the session, SOCI reconnects with NEXT") {
  const std::string a = "soci-a-" + testing::random_token(12);
  const std::string b = "soci-b-" + testing::random_token(12);
  auto& pg = pg_fixture();
  pg.create_login_role("soci_failover", a);
  auto creds = static_creds(set_of("soci_failover", a, std::nullopt));
  auto s = dualcred::soci_pg::open_session(creds);
  REQUIRE(s);
  dualcred::soci_pg::failover<decltype(creds)> cb(creds);
  s.value()->set_failover_callback(cb);
  CHECK(whoami(*s.value()) == "soci_failover");

  // The password moves on while the session lives; CURRENT is now refused.
  pg.set_password("soci_failover", b);
  creds.provider().set(set_of("soci_failover", a, b));
  REQUIRE(creds.reload());
  pg.exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = "
      "'soci_failover'");
  CHECK_THROWS_AS(whoami(*s.value()), soci::soci_error);  // the statement that found it lost
  CHECK(cb.supplied() == 1);
  CHECK(cb.last_slot() == slot::next);
  CHECK(creds.snapshot().fallbacks == 1);
  CHECK(whoami(*s.value()) == "soci_failover");  // reconnected with NEXT
}

TEST_CASE("soak: SOCI pool and new sessions, 4 threads, 10 single-role rotations") {
  testing::temp_dir dir;
  const std::string path = rotation_tests::seed_single(dir, "soci_soak");
  auto creds =
      rotation_tests::reading_file_store(dualcred::soci_pg::probe_connector(pg_params()), path);
  constexpr std::size_t pool_size = 4;
  soci::connection_pool pool(pool_size);
  REQUIRE(dualcred::soci_pg::open_pool(pool, pool_size, creds));
  rotation_tests::single_role_soak("soci soak", path, creds, 4, [&](rotation_tests::tally& t) {
    try {
      soci::session pooled(pool);
      auto fresh = dualcred::soci_pg::open_session(creds);
      if (!fresh) return t.fail(fresh.error().detail);
      if (whoami(pooled) == "soci_soak" && whoami(*fresh.value()) == "soci_soak")
        ++t.ok;
      else
        t.fail("a session as another user");
    } catch (const std::exception& e) {
      t.fail(e.what());
    }
  });
}

TEST_SUITE_END();

}  // namespace test_soci
