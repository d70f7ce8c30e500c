// The chaos soak (tests/chaos) restarts PostgreSQL mid-rotation, so a password change
// the rotator goes on to record in the store must survive a crash of PostgreSQL right after it.
// With synchronous_commit = off (the test servers' setting, and a common one for speed), a
// commit returns before its WAL is on disk, so a crash could undo an ALTER ROLE the store
// already records: after promote, every client is refused (single role: the role keeps its old
// password; alternating: NEXT's role has none), or a decommissioned password comes back.
#include <chrono>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <dualcred/rotation/pg/admin.hpp>

#include <dualcred_testing/postgres.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_pg_durable {

TEST_SUITE_BEGIN("rotation_pg_durable");

using namespace std::chrono_literals;
using namespace dualcred;
using namespace dualcred::rotation;

TEST_CASE("PostgreSQL admins: a password change survives a crash right after it") {
  testing::postgres_server pg;  // its own: it is crashed
  REQUIRE(pg.exec("SHOW synchronous_commit")[0][0] == "off");
  // Nothing may write the asynchronous commit out before the crash: the WAL writer sleeps
  // 10 s (and does not hibernate, which would let a commit wake it), the background writer
  // writes no pages, autovacuum commits nothing.
  pg.exec("ALTER SYSTEM SET wal_writer_delay = '10s'");
  pg.exec("ALTER SYSTEM SET bgwriter_lru_maxpages = 0");
  pg.exec("ALTER SYSTEM SET autovacuum = off");
  pg.exec("SELECT pg_reload_conf()");
  std::this_thread::sleep_for(500ms);  // the WAL writer's current 200 ms nap ends

  dualcred::rotation::pg::admin_config c;
  c.admin_conninfo = secret(pg.admin_conninfo());
  c.clients.host = pg.host();
  c.clients.port = pg.port();
  c.clients.dbname = "postgres";
  c.clients.connect_timeout = 10s;
  const dualcred::rotation::pg::single_role_admin single(c);
  const dualcred::rotation::pg::alternating_roles_admin alternating(c, "durable_a", "durable_b");
  pg.exec("CREATE ROLE durable_a LOGIN");
  pg.exec("CREATE ROLE durable_b LOGIN");

  // Three rounds: a commit record that happens to fill a WAL page wakes the WAL writer, so
  // one round alone could pass on the old code by luck.
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    const std::string role = "durable_" + std::to_string(round);
    const credential old_login{role, secret("old-password-" + std::to_string(round))};
    const credential new_login{role, secret("new-password-" + std::to_string(round))};
    pg.create_login_role(role, std::string(old_login.password.reveal()));
    const credential a{"durable_a", secret("a-password-" + std::to_string(round))};
    pg.set_password("durable_a", std::string(a.password.reveal()));
    pg.exec("CHECKPOINT");  // what came before is on disk

    REQUIRE(single.accept(new_login));  // apply, single role
    REQUIRE(alternating.revoke(a));     // decommission, alternating roles
    pg.crash();
    pg.start();
    CHECK_MESSAGE(single.verify(new_login), "the new password was lost in the crash");
    CHECK_MESSAGE(!single.verify(old_login), "the replaced password logs in again");
    CHECK_MESSAGE(!alternating.verify(a), "the revoked password logs in again");
  }
}

TEST_SUITE_END();

}  // namespace test_pg_durable
