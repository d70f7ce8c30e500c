// The runbook on PostgreSQL beyond one server: a primary with a streaming hot standby, and
// PgBouncer in front of it in auth_file and in auth_query mode. One topology is shared by every
// test case (starting it costs seconds). Clients connect through PgBouncer and to the standby
// throughout; every path is checked after each cycle.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/postgres_admin.hpp>

#include <dualcred_testing/pg_topology.hpp>
#include <dualcred_testing/temp_dir.hpp>
#include "helpers.hpp"

TEST_SUITE_BEGIN("rotation_pg_topology");

using namespace std::chrono_literals;
using namespace dualcred;
using namespace dualcred::rotation;
namespace dt = dualcred::testing;

namespace {

std::string random_pw() {
  return "seed-" + dt::random_token(16);
}

// A primary, its standby and two PgBouncers: one per test program.
struct topology {
  dt::postgres_server primary;
  std::string super_pw = random_pw();
  std::string bouncer_admin_pw = random_pw();
  std::unique_ptr<dt::pg_standby> standby;
  std::unique_ptr<dt::pgbouncer_server> file_bouncer;
  std::unique_ptr<dt::pgbouncer_server> query_bouncer;

  topology() {
    primary.set_password("postgres", super_pw);
    standby = std::make_unique<dt::pg_standby>(primary);
    file_bouncer = std::make_unique<dt::pgbouncer_server>(primary, dt::pgbouncer_mode::auth_file,
                                                          bouncer_admin_pw);
    query_bouncer = std::make_unique<dt::pgbouncer_server>(primary, dt::pgbouncer_mode::auth_query,
                                                           bouncer_admin_pw, super_pw);
  }

  pg::params at(int port) const {
    pg::params p;
    p.host = "127.0.0.1";
    p.port = port;
    p.dbname = "postgres";
    p.connect_timeout = 10s;
    return p;
  }
  // Through PgBouncer 1.18 a refused login is SQLSTATE 08P01: clients need the rule.
  pg::params via(const dt::pgbouncer_server& b) const {
    pg::params p = at(b.port());
    p.sqlstate_rules = pg::pgbouncer_sqlstate_rules();
    return p;
  }
  pg::params primary_params() const { return at(primary.port()); }
  pg::params standby_params() const { return at(standby->port()); }
  // Through PgBouncer clients log in over TCP with the admin conninfo's host/port swapped.
  std::string admin_conninfo() const {
    return "host=127.0.0.1 port=" + std::to_string(primary.port()) +
           " user=postgres dbname=postgres connect_timeout=10 password=" + super_pw;
  }
  postgres::pgbouncer_endpoint bouncer(const dt::pgbouncer_server& b) const {
    return {via(b), credential{"pgb_admin", secret(bouncer_admin_pw)}};
  }
  pg_admin_config config(const dt::pgbouncer_server& b, bool with_auth_file) const {
    pg_admin_config c{secret(admin_conninfo()), primary_params(), 10s};
    c.standbys = {standby_params()};
    c.replay_timeout = 30s;
    c.pgbouncers = {bouncer(b)};
    if (with_auth_file) c.pgbouncer_auth_files = {b.auth_file()};
    return c;
  }
};

topology& topo() {
  static topology t;
  return t;
}

// The role's verifier as the server holds it (what an operator copies into the auth_file).
std::string verifier_of(const std::string& role) {
  const auto rows = topo().primary.exec("SELECT rolpassword FROM pg_authid WHERE rolname = " +
                                        dt::postgres_server::quote_literal(role));
  REQUIRE(rows.size() == 1);
  return rows[0][0];
}

void wait_replayed() {
  // A change made with exec() reaches the standby shortly; the tests' own writes use the admin.
  const auto rows = topo().primary.exec("SELECT pg_current_wal_insert_lsn()::text");
  const auto target = postgres::parse_lsn(rows[0][0]);
  REQUIRE(target);
  const secret info(topo().admin_conninfo());
  const postgres::standby_check sc{info, 10s, "test"};
  auto ok = postgres::wait_for_replay(sc, {topo().standby_params()}, *target, 30s);
  REQUIRE_MESSAGE(ok, ok.error().detail);
}

void reload(const dt::pgbouncer_server& b) {
  auto ok = postgres::pgbouncer_command(topo().bouncer(b), "RELOAD");
  REQUIRE_MESSAGE(ok, ok.error().detail);
}

// Two login roles for the alternating strategy; role a holds `pw`, b none. With an auth_file,
// a's verifier is copied into it (as an operator would, e.g. with PgBouncer's mkauth.py).
void seed_alternating(const std::string& stem, const std::string& pw,
                      const dt::pgbouncer_server* with_file) {
  auto& pg = topo().primary;
  pg.create_login_role(stem + "_a", pw);
  pg.create_login_role(stem + "_b", random_pw());
  pg.exec("ALTER ROLE " + stem + "_b PASSWORD NULL");
  if (with_file != nullptr) {
    const secret v(verifier_of(stem + "_a"));
    auto ok = postgres::update_auth_file(with_file->auth_file(), {stem + "_a", &v, false});
    REQUIRE_MESSAGE(ok, ok.error().detail);
    reload(*with_file);
  }
  wait_replayed();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A login and SELECT 1: through PgBouncer a login alone may ride a pooled server connection.
result<void> login(const pg::params& p, const credential& c) {
  DUALCRED_TRY(conn, pg::connector(p)(c));
  if (!rotation_tests::usable(conn)) return fail(errc::backend_unavailable, "SELECT 1 failed");
  return boost::outcome_v2::success();
}

rotation_state state_of(const std::string& path) {
  auto raw = file_store(path).read();
  REQUIRE(raw);
  auto st = parse_state(raw.value().data, rotation_keys::for_prefix("DB"), path);
  REQUIRE(st);
  st.value().revision = raw.value().revision;
  return std::move(st).value();
}

// Every path (primary, standby, PgBouncer) accepts CURRENT and refuses PREVIOUS.
void check_paths(const std::string& store, const dt::pgbouncer_server& b) {
  const auto st = state_of(store);
  REQUIRE(st.previous);
  for (const auto& p : {topo().primary_params(), topo().standby_params(), topo().via(b)}) {
    auto ok = login(p, st.current);
    CHECK_MESSAGE(ok, "CURRENT refused at port " << p.port << ": " << ok.error().detail);
    auto old = login(p, *st.previous);
    CHECK_MESSAGE(!old, "PREVIOUS still accepted at port " << p.port);
    if (!old) CHECK_MESSAGE(old.error().is(errc::auth_rejected), old.error().detail);
  }
}

// 4 client threads through PgBouncer and 2 on the standby, each pool its own dual_credential
// reading the store; the rotator waits for both as a fleet. n cycles; 0 failed connects.
template <class Admin>
void soak(const std::string& store, Admin admin, const dt::pgbouncer_server& b,
          const std::string& name) {
  const int n = rotation_tests::cycles();
  auto through = make_dual_credential(pg::connector(topo().via(b)),
                                      store_provider<file_store>(file_store(store)),
                                      rotation_tests::client_options());
  auto on_standby = make_dual_credential(pg::connector(topo().standby_params()),
                                         store_provider<file_store>(file_store(store)),
                                         rotation_tests::client_options());
  REQUIRE(through);
  REQUIRE(on_standby);
  auto& bc = through.value();
  auto& sc = on_standby.value();
  rotation_tests::clients<std::remove_reference_t<decltype(bc)>> via_bouncer(bc, 4);
  rotation_tests::clients<std::remove_reference_t<decltype(sc)>> via_standby(sc, 2);
  rotator_options o;
  o.instances =
      fleet{{"bouncer", "standby"},
            [&](const std::string& which) -> result<std::string> {
              return fmt::format("{}", which == "bouncer" ? bc.snapshot() : sc.snapshot());
            },
            10s,
            10ms,
            {}};
  rotator r(file_store(store), std::move(admin), rotation_keys::for_prefix("DB"), o);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    auto done = r.run_all();
    REQUIRE_MESSAGE(done, done.error().detail);
    check_paths(store, b);
  }
  std::this_thread::sleep_for(100ms);
  via_bouncer.stop();
  via_standby.stop();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  via_bouncer.counts.report((name + " via PgBouncer").c_str());
  via_standby.counts.report((name + " on the standby").c_str());
  MESSAGE(name << ": " << n << " cycles, " << via_bouncer.counts.ok.load()
               << " connects through PgBouncer (" << via_bouncer.counts.failed.load()
               << " failed), " << via_standby.counts.ok.load() << " on the standby ("
               << via_standby.counts.failed.load() << " failed), " << ms << " ms");
  CHECK(via_bouncer.counts.failed == 0);
  CHECK(via_standby.counts.failed == 0);
  CHECK(via_bouncer.counts.ok > n);
  CHECK(via_standby.counts.ok > n);
}

}  // namespace

TEST_CASE(
    "PgBouncer 1.18 refuses logins with SQLSTATE 08P01: auth failures with "
    "pgbouncer_sqlstate_rules, a server error without") {
  auto& t = topo();
  const auto plain = t.at(t.file_bouncer->port());
  const auto via = t.via(*t.file_bouncer);
  // The role's server password and an auth_file verifier of the same password with another
  // salt: PgBouncer accepts the client, then its server login (SCRAM pass-through) fails.
  const std::string pw = random_pw();
  t.primary.create_login_role("sq_user", pw);
  t.primary.create_login_role("sq_other_salt", pw);
  const secret other(verifier_of("sq_other_salt"));
  REQUIRE(postgres::update_auth_file(t.file_bouncer->auth_file(), {"sq_user", &other, false}));
  reload(*t.file_bouncer);

  const credential wrong{"sq_user", secret("not-the-password")};
  const credential unknown{"sq_nobody", secret(pw)};
  for (const auto* c : {&wrong, &unknown}) {
    auto bare = pg::connector(plain)(*c);
    REQUIRE_FALSE(bare);
    MESSAGE("refused by PgBouncer: " << bare.error().detail);
    CHECK(bare.error().detail.find("08P01") != std::string::npos);
    CHECK(bare.error().is(errc::backend_unavailable));
    auto ruled = pg::connector(via)(*c);
    REQUIRE_FALSE(ruled);
    CHECK(ruled.error().is(errc::auth_rejected));
  }
  // The server refuses PgBouncer's login for the client: 08P01 again, with the server's text.
  auto server = login(via, credential{"sq_user", secret(pw)});
  REQUIRE_FALSE(server);
  MESSAGE("server login failed: " << server.error().detail);
  CHECK(server.error().detail.find("08P01") != std::string::npos);
  CHECK(server.error().is(errc::auth_rejected));
  // From then on PgBouncer holds new clients of that pool until server_login_retry (15 s)
  // instead of refusing them: why a verifier must never reach PgBouncer before the server.
  pg::params quick = via;
  quick.connect_timeout = 1500ms;
  auto held = login(quick, credential{"sq_user", secret(pw)});
  REQUIRE_FALSE(held);
  MESSAGE("after a failed server login: " << held.error().detail);
  CHECK(held.error().is(errc::timeout));
  REQUIRE(postgres::update_auth_file(t.file_bouncer->auth_file(), {"sq_user", nullptr, false}));
  reload(*t.file_bouncer);
}

TEST_CASE("soak: alternating roles, PgBouncer auth_file and a standby, zero failed connects") {
  auto& t = topo();
  testing::temp_dir dir;
  const std::string pw = random_pw();
  seed_alternating("tfile", pw, t.file_bouncer.get());
  const std::string store = dir.write("db.env", "DB_USER=tfile_a\nDB_PASS_CURRENT=" + pw + "\n");
  soak(store, pg_alternating_roles_admin(t.config(*t.file_bouncer, true), "tfile_a", "tfile_b"),
       *t.file_bouncer, "alternating/auth_file");
  // The auth_file holds the server's verifier for CURRENT, and no line for PREVIOUS.
  const auto st = state_of(store);
  const std::string file = read_file(t.file_bouncer->auth_file());
  CHECK(file.find("\"" + st.current.user + "\" \"" + verifier_of(st.current.user) + "\"\n") !=
        std::string::npos);
  CHECK(file.find("\"" + st.previous->user + "\"") == std::string::npos);
  CHECK(file.find("; dualcred test users\n") == 0);
}

TEST_CASE("soak: alternating roles, PgBouncer auth_query and a standby, zero failed connects") {
  auto& t = topo();
  testing::temp_dir dir;
  const std::string pw = random_pw();
  seed_alternating("tquery", pw, nullptr);
  const std::string store = dir.write("db.env", "DB_USER=tquery_a\nDB_PASS_CURRENT=" + pw + "\n");
  soak(store, pg_alternating_roles_admin(t.config(*t.query_bouncer, false), "tquery_a", "tquery_b"),
       *t.query_bouncer, "alternating/auth_query");
}

TEST_CASE("soak: single role, PgBouncer auth_query and a standby, zero failed connects") {
  auto& t = topo();
  testing::temp_dir dir;
  const std::string pw = random_pw();
  // Short: the store holds the user as a secret, and the leak audit skips names under 5 bytes
  // (PgBouncer's refusals quote the user, and a single role's clients are refused at apply).
  t.primary.create_login_role("tsr1", pw);
  wait_replayed();
  const std::string store = dir.write("db.env", "DB_USER=tsr1\nDB_PASS_CURRENT=" + pw + "\n");
  soak(store, pg_single_role_admin(t.config(*t.query_bouncer, false)), *t.query_bouncer,
       "single/auth_query");
}

TEST_SUITE_END();
