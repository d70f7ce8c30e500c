// The runbook on PostgreSQL, both strategies: a single role whose password is replaced, and
// two login roles sharing one group role's grants. Stores: a dotenv file (single role) and
// a Kubernetes-style directory (alternating roles), read by file_provider, and the store
// itself through store_provider for the fleet check.
#include <chrono>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <dualcred/provider/file.hpp>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/fleet/http_check.hpp>
#include <dualcred/rotation/pg/admin.hpp>

#include <dualcred_testing/temp_dir.hpp>
#include "rotation_helpers.hpp"
#include "soak.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_postgres {

TEST_SUITE_BEGIN("rotation_postgres");

using namespace std::chrono_literals;
using namespace dualcred;
using namespace dualcred::rotation;
using rotation_tests::pg_fixture;
using rotation_tests::pg_params;
using rotation_tests::seed_single;

namespace {

using rotation_tests::pg_admin;

std::string random_pw() {
  return "seed-" + testing::random_token(16);
}

// A group role with the grants, two login roles in it, and a directory store for role_a.
std::string seed_alternating(const testing::temp_dir& dir, const std::string& stem) {
  const std::string group = stem + "_group", a = stem + "_a", b = stem + "_b";
  const std::string pw = random_pw();
  auto& pg = pg_fixture();
  pg.exec("DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '" + group +
          "') THEN CREATE ROLE " + group + " NOLOGIN; END IF; END$$");
  pg.create_login_role(a, pw);
  pg.create_login_role(b, random_pw());
  pg.exec("ALTER ROLE " + b + " PASSWORD NULL");
  pg.exec("GRANT " + group + " TO " + a + ", " + b);
  pg.exec("CREATE TABLE IF NOT EXISTS " + stem + "_data (n int)");
  pg.exec("GRANT SELECT ON " + stem + "_data TO " + group);
  const std::string d = dir / "secrets";
  std::filesystem::create_directory(d);
  dir.write("secrets/DB_USER", a);
  dir.write("secrets/DB_PASS_CURRENT", pw);
  return d;
}

// Without a fleet: the clients' refresh interval (50 ms) plus a connect under load.
rotator_options settled() {
  rotator_options o;
  o.settle = 400ms;
  return o;
}

bool logs_in(const credential& c) {
  return static_cast<bool>(dualcred::pg::connector(pg_params())(c));
}

using rotation_tests::state_of;

// Four client threads share one dual_credential reading the store (its version is the
// store revision), and the rotator waits for it as a fleet of one: NEXT is on every instance
// before the backend switches, the promoted CURRENT before the old one goes. No settle: a
// single role refuses the old password from apply on, and the fleet check alone (which counts
// connects still in flight with an older set) keeps that safe, however long a login takes
// under load or TSan. With `stall`, each login first waits a random time up to it, holding
// the set it read: a slow login that lives across a backend change.
template <class Admin>
void soak(const std::string& path, Admin admin, const std::string& name, int n,
          std::chrono::milliseconds stall = 0ms) {
  auto stalled_login = [stall,
                        login = dualcred::pg::connector(pg_params())](const credential& cred) {
    if (stall.count() > 0) {
      thread_local std::minstd_rand rng(
          static_cast<unsigned>(std::hash<std::thread::id>{}(std::this_thread::get_id())));
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % stall.count()));
    }
    return login(cred);
  };
  auto dc = make_dual_credential(stalled_login,
                                 store_provider<dualcred::rotation::stores::file_store>(
                                     dualcred::rotation::stores::file_store(path)),
                                 rotation_tests::client_options());
  REQUIRE(dc);
  auto& creds = dc.value();
  rotation_tests::clients<std::remove_reference_t<decltype(creds)>> c(creds, 4);
  rotator_options o;
  o.instances = rotation_tests::in_process_fleet(creds, "client-threads");
  rotator r(dualcred::rotation::stores::file_store(path), std::move(admin),
            rotation_keys::for_prefix("DB"), o);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    auto done = r.run_all();
    REQUIRE_MESSAGE(done, done.error().detail);
  }
  std::this_thread::sleep_for(100ms);
  c.stop();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  c.counts.report(name.c_str());
  MESSAGE(name << " soak: " << n << " cycles, " << c.counts.ok.load() << " connects, "
               << c.counts.failed.load() << " failed, " << ms << " ms; "
               << fmt::format("{}", creds.snapshot()));
  CHECK(c.counts.failed == 0);
  CHECK(c.counts.ok > n);
  const auto st = state_of(path);
  CHECK(st.revision == static_cast<std::uint64_t>(1 + 4 * n));
  CHECK(st.phase == phase::idle);
  CHECK(logs_in(st.current));
  REQUIRE(st.previous);
  CHECK_FALSE(logs_in(*st.previous));
}

}  // namespace

TEST_CASE("soak: PostgreSQL single role under 4 client threads, zero failed connects") {
  testing::temp_dir dir;
  soak(seed_single(dir, "soak_single"), dualcred::rotation::pg::single_role_admin(pg_admin()),
       "postgres single", rotation_tests::cycles());
}

TEST_CASE("soak: PostgreSQL single role, logins that stall up to 600 ms, zero failed connects") {
  // Each stall holds the set read before it across the backend's change of password. A
  // stress test: the fleet check waits such connects out, and a refused one still retries
  // newer sets, so this passes even without the fleet check (the deterministic test of it
  // is in test_dual_credential.cpp, "snapshot: a connect in flight ...").
  testing::temp_dir dir;
  soak(seed_single(dir, "soak_stall"), dualcred::rotation::pg::single_role_admin(pg_admin()),
       "postgres single, stalled logins", 3, 600ms);
}

TEST_CASE("soak: PostgreSQL alternating roles under 4 client threads, zero failed connects") {
  testing::temp_dir dir;
  const std::string path = seed_alternating(dir, "soak_alt");
  soak(path,
       dualcred::rotation::pg::alternating_roles_admin(pg_admin(), "soak_alt_a", "soak_alt_b"),
       "postgres alternating", rotation_tests::cycles());
  // Both roles read the group's table; the live one is whichever CURRENT names.
  const auto st = state_of(path);
  CHECK((st.current.user == "soak_alt_a" || st.current.user == "soak_alt_b"));
  auto conn = dualcred::pg::connector(pg_params())(st.current);
  REQUIRE(conn);
  std::unique_ptr<PGresult, void (*)(PGresult*)> res(
      PQexec(conn.value().get(), "SELECT count(*) FROM soak_alt_data"), PQclear);
  CHECK(PQresultStatus(res.get()) == PGRES_TUPLES_OK);
}

TEST_CASE("alternating roles: NEXT names the other role, the old one is decommissioned") {
  testing::temp_dir dir;
  const std::string path = seed_alternating(dir, "alt");
  rotator r(dualcred::rotation::stores::file_store(path),
            dualcred::rotation::pg::alternating_roles_admin(pg_admin(), "alt_a", "alt_b"),
            rotation_keys::for_prefix("DB"));
  REQUIRE(r.prepare());
  auto st = r.state().value();
  REQUIRE(st.next);
  CHECK(st.next->user == "alt_b");
  REQUIRE(r.apply());
  CHECK(logs_in(st.current));  // the old role keeps working untouched
  CHECK(logs_in(*st.next));
  REQUIRE(r.promote());
  REQUIRE(r.verify());
  st = r.state().value();
  CHECK(st.current.user == "alt_b");
  CHECK(st.previous->user == "alt_a");
  CHECK(st.next->user == "alt_a");
  REQUIRE(r.decommission());
  CHECK_FALSE(logs_in(*st.previous));
  CHECK(logs_in(st.current));
  // The file provider sees CURRENT as alt_b and NEXT as alt_a (DB_USER_NEXT).
  auto set = file_provider(path).load();
  REQUIRE(set);
  CHECK(set.value().current.user == "alt_b");
  CHECK(set.value().next->user == "alt_a");
  // A current user that is neither role is refused before anything is written.
  rotator wrong(dualcred::rotation::stores::file_store(path),
                dualcred::rotation::pg::alternating_roles_admin(pg_admin(), "x_a", "x_b"),
                rotation_keys::for_prefix("DB"));
  auto e = wrong.apply();
  REQUIRE_FALSE(e);
  CHECK(e.error().is(errc::invalid_argument));
  CHECK(e.error().detail.find("alt_b") != std::string::npos);
}

TEST_CASE("the plaintext never reaches the server: only a SCRAM verifier is sent") {
  testing::temp_dir dir;
  const std::string path = seed_single(dir, "scram_only");
  auto& pg = pg_fixture();
  pg.exec("ALTER ROLE postgres SET log_statement = 'all'");
  rotator r(dualcred::rotation::stores::file_store(path),
            dualcred::rotation::pg::single_role_admin(pg_admin()), rotation_keys::for_prefix("DB"));
  REQUIRE(r.prepare());
  const std::string next(r.state().value().next->password.reveal());
  REQUIRE(r.apply());
  pg.exec("ALTER ROLE postgres RESET log_statement");
  std::ifstream in(pg.log_path());
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(log.find("ALTER ROLE \"scram_only\" PASSWORD 'SCRAM-SHA-256$") != std::string::npos);
  CHECK(log.find(next) == std::string::npos);
  const auto rows = pg.exec("SELECT rolpassword FROM pg_authid WHERE rolname = 'scram_only'");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0][0].starts_with("SCRAM-SHA-256$4096:"));
  CHECK(logs_in(credential{"scram_only", secret(next)}));
}

TEST_CASE("crash-resume, single role: stopped after each step, resumed, consistent") {
  const step steps[] = {step::prepare, step::apply, step::promote, step::verify,
                        step::decommission};
  testing::temp_dir dir;
  const std::string path = seed_single(dir, "resume_single");
  auto dc = make_dual_credential(dualcred::pg::connector(pg_params()), file_provider(path),
                                 rotation_tests::client_options());
  REQUIRE(dc);
  rotation_tests::clients<std::remove_reference_t<decltype(dc.value())>> c(dc.value(), 2);
  for (int stop_after = 0; stop_after < 5; ++stop_after) {
    CAPTURE(stop_after);
    {
      rotator first(dualcred::rotation::stores::file_store(path),
                    dualcred::rotation::pg::single_role_admin(pg_admin()),
                    rotation_keys::for_prefix("DB"), settled());
      for (int i = 0; i <= stop_after; ++i) REQUIRE(first.run(steps[i]));
    }
    std::this_thread::sleep_for(60ms);
    rotator again(dualcred::rotation::stores::file_store(path),
                  dualcred::rotation::pg::single_role_admin(pg_admin()),
                  rotation_keys::for_prefix("DB"), settled());
    auto rest = again.run_all();
    REQUIRE_MESSAGE(rest, rest.error().detail);
    const auto st = state_of(path);
    CHECK(st.phase == phase::idle);
    CHECK(logs_in(st.current));
    std::this_thread::sleep_for(60ms);
  }
  c.stop();
  c.counts.report("resume");
  CHECK(c.counts.failed == 0);
}

TEST_CASE("rollback after promote, single role: clients keep connecting throughout") {
  testing::temp_dir dir;
  const std::string path = seed_single(dir, "rollback_single");
  const credential original = state_of(path).current;
  auto dc = make_dual_credential(dualcred::pg::connector(pg_params()), file_provider(path),
                                 rotation_tests::client_options());
  REQUIRE(dc);
  rotation_tests::clients<std::remove_reference_t<decltype(dc.value())>> c(dc.value(), 4);
  // Four threads logging in on a loaded machine: one connect (two SCRAM attempts) can take
  // longer than 400 ms, so give connects in flight a full second before each backend change.
  rotator_options o = settled();
  o.settle = 1000ms;
  rotator r(dualcred::rotation::stores::file_store(path),
            dualcred::rotation::pg::single_role_admin(pg_admin()), rotation_keys::for_prefix("DB"),
            o);
  REQUIRE(r.prepare());
  REQUIRE(r.apply());
  REQUIRE(r.promote());
  const credential promoted = r.state().value().current;
  std::this_thread::sleep_for(150ms);
  auto back = r.rollback();
  REQUIRE_MESSAGE(back, back.error().detail);
  std::this_thread::sleep_for(200ms);
  c.stop();
  c.counts.report("rollback");
  CHECK(c.counts.failed == 0);
  CHECK(c.counts.ok > 0);
  const auto st = state_of(path);
  CHECK(st.current == original);
  CHECK(logs_in(original));
  CHECK_FALSE(logs_in(promoted));
}

TEST_CASE("rollback after decommission, alternating roles: the old role logs in again") {
  testing::temp_dir dir;
  const std::string path = seed_alternating(dir, "rb_alt");
  const credential original = state_of(path).current;
  rotator r(dualcred::rotation::stores::file_store(path),
            dualcred::rotation::pg::alternating_roles_admin(pg_admin(), "rb_alt_a", "rb_alt_b"),
            rotation_keys::for_prefix("DB"));
  REQUIRE(r.run_all());
  CHECK_FALSE(logs_in(original));
  const credential promoted = r.state().value().current;
  auto back = r.rollback();
  REQUIRE_MESSAGE(back, back.error().detail);
  CHECK(logs_in(original));
  CHECK_FALSE(logs_in(promoted));
  CHECK(state_of(path).current == original);
}

TEST_CASE("bad input: an admin without CREATEROLE, an unreachable server, a missing role") {
  testing::temp_dir dir;
  const std::string path = seed_single(dir, "victim");
  const auto before = state_of(path);
  pg_fixture().create_login_role("weak_admin", "weak-admin-pw");
  SUBCASE("admin lacks privilege") {
    dualcred::rotation::pg::admin_config cfg = pg_admin();
    cfg.admin_conninfo = secret(
        fmt::format("host=127.0.0.1 port={} dbname=postgres user=weak_admin password=weak-admin-pw",
                    pg_fixture().port()));
    rotator r(dualcred::rotation::stores::file_store(path),
              dualcred::rotation::pg::single_role_admin(std::move(cfg)),
              rotation_keys::for_prefix("DB"));
    REQUIRE(r.prepare());
    const std::string next(r.state().value().next->password.reveal());
    auto e = r.apply();
    REQUIRE_FALSE(e);
    CHECK(e.error().is(errc::permission_denied));
    CHECK(e.error().site == failure_site::backend);
    CHECK(e.error().what == condition::admin_refused);
    CHECK(e.error().detail.find("42501") != std::string::npos);
    CHECK(e.error().detail.find("weak-admin-pw") == std::string::npos);
    CHECK(e.error().detail.find(next) == std::string::npos);
    CHECK(e.error().detail.find("SCRAM") == std::string::npos);
    CHECK(state_of(path).phase == phase::idle);
    CHECK(logs_in(before.current));
  }
  SUBCASE("admin login refused") {
    dualcred::rotation::pg::admin_config cfg = pg_admin();
    cfg.admin_conninfo = secret(fmt::format(
        "host=127.0.0.1 port={} dbname=postgres user=weak_admin password=not-the-password",
        pg_fixture().port()));
    rotator r(dualcred::rotation::stores::file_store(path),
              dualcred::rotation::pg::single_role_admin(std::move(cfg)),
              rotation_keys::for_prefix("DB"));
    REQUIRE(r.prepare());
    auto e = r.apply();
    REQUIRE_FALSE(e);
    CHECK(e.error().is(errc::auth_rejected));
    CHECK(e.error().detail.find("not-the-password") == std::string::npos);
  }
  SUBCASE("a malformed admin conninfo: a fixed message quoting none of it, no connect") {
    const std::string bad[] = {
        fmt::format("host=127.0.0.1 port={} user=weak_admin password=Hunter2 SuperSecretTail",
                    pg_fixture().port()),
        fmt::format("postgresql://rotator:Hunter2%zzSecret@127.0.0.1:{}/postgres",
                    pg_fixture().port()),
    };
    for (const std::string& conninfo : bad) {
      CAPTURE(&conninfo - bad);  // not the text: it holds the password
      dualcred::rotation::pg::admin_config cfg = pg_admin();
      cfg.admin_conninfo = secret(conninfo);
      rotator r(dualcred::rotation::stores::file_store(path),
                dualcred::rotation::pg::single_role_admin(std::move(cfg)),
                rotation_keys::for_prefix("DB"));
      REQUIRE(r.prepare());
      auto e = r.apply();
      REQUIRE_FALSE(e);
      CHECK(e.error().is(errc::invalid_argument));  // the tool's usage error, exit 2
      CHECK(e.error().site == failure_site::backend);
      CHECK(e.error().what == condition::bad_configuration);
      for (const char* piece : {"Hunter2", "SuperSecretTail", "zzSecret", "rotator", "weak_admin"})
        CHECK(e.error().detail.find(piece) == std::string::npos);
      CHECK(e.error().detail.find("admin conninfo cannot be parsed") != std::string::npos);
      CHECK(state_of(path).phase == phase::idle);
    }
  }
  SUBCASE("a password with a NUL byte is refused, not cut short") {
    const credential cut{"victim", secret(std::string("before\0after", 12))};
    for (const auto& e :
         {dualcred::rotation::pg::single_role_admin(pg_admin()).accept(cut),
          dualcred::rotation::pg::alternating_roles_admin(pg_admin(), "victim", "other")
              .accept(cut)}) {
      REQUIRE_FALSE(e);
      CHECK(e.error().is(errc::invalid_argument));
      CHECK(e.error().detail.find("NUL") != std::string::npos);
      CHECK(e.error().detail.find("before") == std::string::npos);
    }
    CHECK(logs_in(before.current));
    CHECK_FALSE(logs_in(credential{"victim", secret("before")}));
  }
  SUBCASE("server unreachable") {
    dualcred::rotation::pg::admin_config cfg = pg_admin();
    const int port = testing::free_port();
    cfg.admin_conninfo = secret(fmt::format("host=127.0.0.1 port={} user=x password=pw-x", port));
    cfg.clients.port = port;
    rotator r(dualcred::rotation::stores::file_store(path),
              dualcred::rotation::pg::single_role_admin(std::move(cfg)),
              rotation_keys::for_prefix("DB"));
    auto e = r.run_all();
    REQUIRE_FALSE(e);
    CHECK(e.error().is(errc::backend_unavailable));
    CHECK(e.error().site == failure_site::backend);
    CHECK(e.error().what == condition::backend_unreachable);
    CHECK(e.error().detail.find("pw-x") == std::string::npos);
  }
  SUBCASE("the role does not exist") {
    const std::string p = dir.write("ghost.env", "DB_USER=ghost_role\nDB_PASS_CURRENT=ghost-pw\n");
    rotator r(dualcred::rotation::stores::file_store(p),
              dualcred::rotation::pg::single_role_admin(pg_admin()),
              rotation_keys::for_prefix("DB"));
    auto e = r.run_all();
    REQUIRE_FALSE(e);
    CHECK(e.error().is(errc::not_found));
    CHECK(e.error().detail.find("ghost_role") != std::string::npos);
  }
  SUBCASE("verify fails when the backend lost the new password") {
    rotator r(dualcred::rotation::stores::file_store(path),
              dualcred::rotation::pg::single_role_admin(pg_admin()),
              rotation_keys::for_prefix("DB"));
    REQUIRE(r.prepare());
    REQUIRE(r.apply());
    REQUIRE(r.promote());
    pg_fixture().set_password("victim", "someone-else-changed-it");
    auto e = r.verify();
    REQUIRE_FALSE(e);
    CHECK(e.error().is(errc::auth_rejected));
    CHECK(e.error().site == failure_site::verify);
    CHECK(e.error().what == condition::login_refused);
    CHECK(state_of(path).phase == phase::promoted);  // not marked verified
    auto d = r.decommission();
    REQUIRE_FALSE(d);
    CHECK(d.error().site == failure_site::order);
    CHECK(d.error().what == condition::out_of_order);
  }
}

TEST_CASE("NEXT equal to CURRENT: apply refuses, naming the keys; the role keeps CURRENT") {
  testing::temp_dir dir;
  const std::string path = seed_single(dir, "samepw");
  const auto st = state_of(path);
  std::ofstream(path, std::ios::app) << "DB_PASS_NEXT=" << st.current.password.reveal() << "\n";
  rotator r(dualcred::rotation::stores::file_store(path),
            dualcred::rotation::pg::single_role_admin(pg_admin()), rotation_keys::for_prefix("DB"),
            settled());
  auto e = r.run_all();
  REQUIRE_FALSE(e);
  CHECK(e.error().site == failure_site::order);
  CHECK(e.error().detail.find("DB_PASS_NEXT equals DB_PASS_CURRENT") != std::string::npos);
  CHECK(e.error().detail.find(st.current.password.reveal()) == std::string::npos);
  CHECK(logs_in(st.current));
}

TEST_CASE("alternating roles: decommission never revokes the role CURRENT logs in with") {
  // A store an older rotator could leave: PREVIOUS is CURRENT, role and password.
  testing::temp_dir dir;
  const std::string d = seed_alternating(dir, "held");
  const auto st = state_of(d);
  dir.write("secrets/DB_PASS_PREVIOUS", std::string(st.current.password.reveal()));
  dir.write("secrets/DB_USER_PREVIOUS", st.current.user);
  dir.write("secrets/DB_USER_NEXT", "held_b");
  dir.write("secrets/DB_PASS_NEXT", "next-" + testing::random_token(12));
  dir.write("secrets/DB_ROTATION_PHASE", "verified");
  rotator r(dualcred::rotation::stores::file_store(d),
            dualcred::rotation::pg::alternating_roles_admin(pg_admin(), "held_a", "held_b"),
            rotation_keys::for_prefix("DB"));
  auto done = r.decommission();
  REQUIRE_MESSAGE(done, done.error().detail);
  CHECK(logs_in(st.current));
}

TEST_CASE("awkward role names and operator-seeded passwords: whole rotations and a rollback") {
  using server_t = dualcred::testing::postgres_server;
  const std::string passwords[] = {">starts with gt",      "<starts with lt",
                                   "#starts-with-hash",    R"(has "double" and 'single')",
                                   "  spaces  around  ",   "back\\slash=equals",
                                   "SCRAM-SHA-256$4096:x", "-- ; DROP ROLE x"};
  SUBCASE("single role") {
    const std::string roles[] = {R"(Mixed "Case" O'Role)", "UPPER ROLE", "x; DROP"};
    for (std::size_t i = 0; i < std::size(passwords); ++i) {
      const std::string& role = roles[i % std::size(roles)];
      CAPTURE(role);
      CAPTURE(i);  // not the password
      testing::temp_dir dir;
      pg_fixture().create_login_role(role, passwords[i]);
      const credential seeded{role, secret(passwords[i])};
      REQUIRE(logs_in(seeded));
      const std::string path = dir / "db.env";
      secret_map v;
      v.emplace("DB_USER", secret(role));
      v.emplace("DB_PASS_CURRENT", secret(passwords[i]));
      REQUIRE(dualcred::rotation::stores::file_store(path).write(v, 0));
      rotator r(dualcred::rotation::stores::file_store(path),
                dualcred::rotation::pg::single_role_admin(pg_admin()),
                rotation_keys::for_prefix("DB"));
      auto all = r.run_all();
      REQUIRE_MESSAGE(all, all.error().detail);
      CHECK(logs_in(state_of(path).current));
      CHECK_FALSE(logs_in(seeded));
      auto back = r.rollback();
      REQUIRE_MESSAGE(back, back.error().detail);
      CHECK(state_of(path).current == seeded);
      CHECK(logs_in(seeded));
    }
  }
  SUBCASE("alternating roles") {
    const std::string group = R"(Grp "G" 'x')", a = R"(Alt "A" O'x)", b = "alt B; --";
    auto& server = pg_fixture();
    server.exec("DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = " +
                server_t::quote_literal(group) + ") THEN CREATE ROLE " +
                server_t::quote_ident(group) + " NOLOGIN; END IF; END$$");
    for (std::size_t i = 0; i < std::size(passwords); ++i) {
      CAPTURE(i);  // not the password
      testing::temp_dir dir;
      server.create_login_role(a, passwords[i]);
      server.create_login_role(b, "unused-" + testing::random_token(8));
      server.exec("ALTER ROLE " + server_t::quote_ident(b) + " PASSWORD NULL");
      server.exec("GRANT " + server_t::quote_ident(group) + " TO " + server_t::quote_ident(a) +
                  ", " + server_t::quote_ident(b));
      const credential seeded{a, secret(passwords[i])};
      const std::string path = dir / "db.env";
      secret_map v;
      v.emplace("DB_USER", secret(a));
      v.emplace("DB_PASS_CURRENT", secret(passwords[i]));
      REQUIRE(dualcred::rotation::stores::file_store(path).write(v, 0));
      rotator r(dualcred::rotation::stores::file_store(path),
                dualcred::rotation::pg::alternating_roles_admin(pg_admin(), a, b),
                rotation_keys::for_prefix("DB"));
      auto all = r.run_all();
      REQUIRE_MESSAGE(all, all.error().detail);
      CHECK(state_of(path).current.user == b);
      CHECK(logs_in(state_of(path).current));
      CHECK_FALSE(logs_in(seeded));  // decommissioned: PASSWORD NULL
      auto back = r.rollback();
      REQUIRE_MESSAGE(back, back.error().detail);
      CHECK(state_of(path).current == seeded);
      CHECK(logs_in(seeded));
    }
  }
}

TEST_CASE("fleet-aware decommission waits until every instance has the promoted version") {
  testing::temp_dir dir;
  const std::string path = seed_alternating(dir, "fleet");
  // Three instances reading the store itself: their status version is the store revision.
  using creds_t = dual_credential<dualcred::pg::connector,
                                  store_provider<dualcred::rotation::stores::file_store>>;
  std::vector<std::unique_ptr<creds_t>> instances;
  for (int i = 0; i < 3; ++i) {
    dualcred::options o;
    o.refresh_interval = i == 2 ? 0ms : 50ms;  // instance 2 never refreshes by itself
    auto dc = make_dual_credential(dualcred::pg::connector(pg_params()),
                                   store_provider<dualcred::rotation::stores::file_store>(
                                       dualcred::rotation::stores::file_store(path)),
                                   o);
    REQUIRE(dc);
    instances.push_back(std::make_unique<creds_t>(std::move(dc).value()));
  }
  fleet::http_check f;
  for (int i = 0; i < 3; ++i) f.endpoints.push_back("instance-" + std::to_string(i));
  f.fetch = [&](const std::string& url, std::chrono::milliseconds) -> result<std::string> {
    auto& dc = *instances.at(static_cast<std::size_t>(url.back() - '0'));
    (void)dc.connect();  // traffic, so the refresh timer fires
    return fmt::format("{}", dc.snapshot());
  };
  f.deadline = 1500ms;
  f.poll_interval = 50ms;
  std::vector<std::string> lines;
  rotator_options o;
  o.instances = f;
  o.on_progress = [&](std::string_view line) { lines.emplace_back(line); };
  rotator r(dualcred::rotation::stores::file_store(path),
            dualcred::rotation::pg::alternating_roles_admin(pg_admin(), "fleet_a", "fleet_b"),
            rotation_keys::for_prefix("DB"), o);
  const credential old = state_of(path).current;
  REQUIRE(r.prepare());
  auto unseen = r.apply();  // instance 2 has not read NEXT: the backend is left alone
  REQUIRE_FALSE(unseen);
  CHECK(unseen.error().is(errc::timeout));
  CHECK(state_of(path).phase == phase::idle);
  REQUIRE(instances[2]->reload());
  REQUIRE(r.apply());
  REQUIRE(r.promote());
  REQUIRE(r.verify());
  auto late = r.decommission();
  REQUIRE_FALSE(late);
  CHECK(late.error().is(errc::timeout));
  CHECK(late.error().site == failure_site::fleet);
  CHECK(late.error().what == condition::fleet_not_ready);
  CHECK(late.error().detail.find("instance-2") != std::string::npos);
  CHECK(late.error().detail.find("instance-0") == std::string::npos);
  CHECK(logs_in(old));  // nothing removed while an instance lags
  CHECK(state_of(path).phase == phase::verified);

  REQUIRE(instances[2]->reload());
  auto done = r.decommission();
  REQUIRE_MESSAGE(done, done.error().detail);
  CHECK_FALSE(logs_in(old));
  bool saw_wait = false;
  for (const auto& l : lines)
    saw_wait = saw_wait || l.find("3 of 3 instances") != std::string::npos;
  CHECK(saw_wait);
}

TEST_SUITE_END();

}  // namespace test_postgres
