// The runbook on PostgreSQL beyond one server: a primary with a streaming hot standby, and
// PgBouncer in front of it in auth_file and in auth_query mode. One topology is shared by every
// test case (starting it costs seconds). Clients connect through PgBouncer and to the standby
// throughout; every path is checked after each cycle.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/fleet/http_check.hpp>
#include <dualcred/rotation/pg/admin.hpp>

#include <dualcred_testing/pg_topology.hpp>
#include <dualcred_testing/scoped_env.hpp>
#include <dualcred_testing/temp_dir.hpp>
#include "rotation_helpers.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_pg_topology {

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

  dualcred::pg::params at(int port) const {
    dualcred::pg::params p;
    p.host = "127.0.0.1";
    p.port = port;
    p.dbname = "postgres";
    p.connect_timeout = 10s;
    return p;
  }
  // Through PgBouncer 1.18 a refused login is SQLSTATE 08P01: clients need the rule.
  dualcred::pg::params via(const dt::pgbouncer_server& b) const {
    dualcred::pg::params p = at(b.port());
    p.sqlstate_rules = dualcred::pg::pgbouncer_sqlstate_rules();
    return p;
  }
  dualcred::pg::params primary_params() const { return at(primary.port()); }
  dualcred::pg::params standby_params() const { return at(standby->port()); }
  // Through PgBouncer clients log in over TCP with the admin conninfo's host/port swapped.
  std::string admin_conninfo() const {
    return "host=127.0.0.1 port=" + std::to_string(primary.port()) +
           " user=postgres dbname=postgres connect_timeout=10 password=" + super_pw;
  }
  dualcred::rotation::pg::pgbouncer_endpoint bouncer(const dt::pgbouncer_server& b) const {
    return {via(b), credential{"pgb_admin", secret(bouncer_admin_pw)}};
  }
  dualcred::rotation::pg::admin_config config(const dt::pgbouncer_server& b,
                                              bool with_auth_file) const {
    dualcred::rotation::pg::admin_config c{secret(admin_conninfo()), primary_params(), 10s};
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
  const auto target = dualcred::rotation::pg::parse_lsn(rows[0][0]);
  REQUIRE(target);
  const secret info(topo().admin_conninfo());
  const dualcred::rotation::pg::standby_check sc{info, 10s, "test"};
  auto ok = dualcred::rotation::pg::wait_for_replay(sc, {topo().standby_params()}, *target, 30s);
  REQUIRE_MESSAGE(ok, ok.error().detail);
}

void reload(const dt::pgbouncer_server& b) {
  auto ok = dualcred::rotation::pg::pgbouncer_command(topo().bouncer(b), "RELOAD");
  REQUIRE_MESSAGE(ok, ok.error().detail);
}

// Role names are short on purpose: the store holds the user among its secrets, and the leak
// audit (which skips secrets under 5 bytes) would flag every refusal that names the user, as
// PostgreSQL's and PgBouncer's do. Passwords stay long and audited.
//
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
    auto ok =
        dualcred::rotation::pg::update_auth_file(with_file->auth_file(), {stem + "_a", &v, false});
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
result<void> login(const dualcred::pg::params& p, const credential& c) {
  DUALCRED_TRY(conn, dualcred::pg::connector(p)(c));
  if (!rotation_tests::usable(conn)) return fail(errc::backend_unavailable, "SELECT 1 failed");
  return boost::outcome_v2::success();
}

using rotation_tests::state_of;

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
  // 3 cycles unless DUALCRED_ROTATION_CYCLES asks (10 for the full soak): CI time.
  const int n = std::getenv("DUALCRED_ROTATION_CYCLES") != nullptr ? rotation_tests::cycles() : 3;
  auto through = make_dual_credential(dualcred::pg::connector(topo().via(b)),
                                      store_provider<dualcred::rotation::stores::file_store>(
                                          dualcred::rotation::stores::file_store(store)),
                                      rotation_tests::client_options());
  auto on_standby = make_dual_credential(dualcred::pg::connector(topo().standby_params()),
                                         store_provider<dualcred::rotation::stores::file_store>(
                                             dualcred::rotation::stores::file_store(store)),
                                         rotation_tests::client_options());
  REQUIRE(through);
  REQUIRE(on_standby);
  auto& bc = through.value();
  auto& sc = on_standby.value();
  rotation_tests::clients<std::remove_reference_t<decltype(bc)>> via_bouncer(bc, 4);
  rotation_tests::clients<std::remove_reference_t<decltype(sc)>> via_standby(sc, 2);
  rotator_options o;
  o.instances = fleet::http_check{
      {"bouncer", "standby"},
      [&](const std::string& which, std::chrono::milliseconds) -> result<std::string> {
        return fmt::format("{}", which == "bouncer" ? bc.snapshot() : sc.snapshot());
      },
      10s,
      10ms,
      {}};
  rotator r(dualcred::rotation::stores::file_store(store), std::move(admin),
            rotation_keys::for_prefix("DB"), o);
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

const auto rotate_tool = &rotation_tests::run_rotate_tool;

// The flags for the shared topology: the admin's conninfo from a private file.
std::string tool_flags(const dt::temp_dir& dir, const std::string& roles) {
  auto& t = topo();
  const std::string admin = dir.write("admin.conninfo", t.admin_conninfo(), 0600);
  return "--backend postgres --pg-admin-file " + admin + " --pg-host 127.0.0.1 --pg-port " +
         std::to_string(t.primary.port()) + " --pg-dbname postgres --pg-strategy alternating " +
         "--pg-roles " + roles + " --pg-standby 127.0.0.1:" + std::to_string(t.standby->port());
}

// Replay paused on the shared standby for one scope.
struct replay_paused {
  replay_paused() { topo().standby->exec("SELECT pg_wal_replay_pause()"); }
  replay_paused(const replay_paused&) = delete;
  replay_paused& operator=(const replay_paused&) = delete;
  ~replay_paused() { topo().standby->exec("SELECT pg_wal_replay_resume()"); }
};

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
  REQUIRE(dualcred::rotation::pg::update_auth_file(t.file_bouncer->auth_file(),
                                                   {"sq_user", &other, false}));
  reload(*t.file_bouncer);

  const credential wrong{"sq_user", secret("not-the-password")};
  const credential unknown{"sq_nobody", secret(pw)};
  for (const auto* c : {&wrong, &unknown}) {
    auto bare = dualcred::pg::connector(plain)(*c);
    REQUIRE_FALSE(bare);
    MESSAGE("refused by PgBouncer: " << bare.error().detail);
    CHECK(bare.error().detail.find("08P01") != std::string::npos);
    CHECK(bare.error().is(errc::backend_unavailable));
    auto ruled = dualcred::pg::connector(via)(*c);
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
  dualcred::pg::params quick = via;
  quick.connect_timeout = 1500ms;
  auto held = login(quick, credential{"sq_user", secret(pw)});
  REQUIRE_FALSE(held);
  MESSAGE("after a failed server login: " << held.error().detail);
  CHECK(held.error().is(errc::timeout));
  REQUIRE(dualcred::rotation::pg::update_auth_file(t.file_bouncer->auth_file(),
                                                   {"sq_user", nullptr, false}));
  reload(*t.file_bouncer);
}

TEST_CASE("soak: alternating roles, PgBouncer auth_file and a standby, zero failed connects") {
  auto& t = topo();
  testing::temp_dir dir;
  const std::string pw = random_pw();
  seed_alternating("tf", pw, t.file_bouncer.get());
  const std::string store = dir.write("db.env", "DB_USER=tf_a\nDB_PASS_CURRENT=" + pw + "\n");
  soak(store,
       dualcred::rotation::pg::alternating_roles_admin(t.config(*t.file_bouncer, true), "tf_a",
                                                       "tf_b"),
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
  seed_alternating("tq", pw, nullptr);
  const std::string store = dir.write("db.env", "DB_USER=tq_a\nDB_PASS_CURRENT=" + pw + "\n");
  soak(store,
       dualcred::rotation::pg::alternating_roles_admin(t.config(*t.query_bouncer, false), "tq_a",
                                                       "tq_b"),
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
  soak(store, dualcred::rotation::pg::single_role_admin(t.config(*t.query_bouncer, false)),
       *t.query_bouncer, "single/auth_query");
}

TEST_CASE(
    "dualcred-rotate all, then rollback: alternating roles, a standby, PgBouncer auth_file "
    "and auth_query: every path takes CURRENT, refuses PREVIOUS") {
  auto& t = topo();
  dt::temp_dir dir;
  const std::string pw = random_pw();
  seed_alternating("tt", pw, t.file_bouncer.get());
  const std::string store = dir.write("db.env", "DB_USER=tt_a\nDB_PASS_CURRENT=" + pw + "\n");
  dt::scoped_env user("PGBOUNCER_ADMIN_USER", "pgb_admin");
  dt::scoped_env password("PGBOUNCER_ADMIN_PASSWORD", t.bouncer_admin_pw.c_str());
  const std::string flags = tool_flags(dir, "tt_a,tt_b") +
                            " --pgbouncer 127.0.0.1:" + std::to_string(t.file_bouncer->port()) +
                            " --pgbouncer-auth-file " + t.file_bouncer->auth_file() +
                            " --pgbouncer 127.0.0.1:" + std::to_string(t.query_bouncer->port()) +
                            " --file " + store;
  for (int i = 0; i < 2; ++i) {
    const auto run = rotate_tool(flags + " all");
    REQUIRE_MESSAGE(run.code == 0, run.output);
    check_paths(store, *t.file_bouncer);
    check_paths(store, *t.query_bouncer);
  }
  const auto st = state_of(store);
  CHECK(read_file(t.file_bouncer->auth_file())
            .find("\"" + st.current.user + "\" \"" + verifier_of(st.current.user) + "\"") !=
        std::string::npos);
  // rollback: the old role takes its password back on every path, the rolled-back one goes.
  const auto back = rotate_tool(flags + " rollback");
  REQUIRE_MESSAGE(back.code == 0, back.output);
  const auto restored = state_of(store);
  REQUIRE(st.previous);
  CHECK(restored.current == *st.previous);
  for (const auto& p :
       {t.primary_params(), t.standby_params(), t.via(*t.file_bouncer), t.via(*t.query_bouncer)}) {
    auto ok = login(p, restored.current);
    CHECK_MESSAGE(ok, "restored CURRENT refused at port " << p.port << ": " << ok.error().detail);
    auto gone = login(p, st.current);
    CHECK_MESSAGE(!gone, "rolled-back credential still accepted at port " << p.port);
  }
  // --help documents the flags and exit code 10.
  const auto help = rotate_tool("--help");
  CHECK(help.output.find("--replay-timeout") != std::string::npos);
  CHECK(help.output.find("10 a hot standby") != std::string::npos);
}

TEST_CASE("dualcred-rotate: bad topology input is refused before the store is written") {
  auto& t = topo();
  dt::temp_dir dir;
  const std::string pw = random_pw();
  seed_alternating("tb", pw, t.file_bouncer.get());
  const std::string seeded = "DB_USER=tb_a\nDB_PASS_CURRENT=" + pw + "\n";
  const std::string store = dir.write("db.env", seeded);
  dt::scoped_env user("PGBOUNCER_ADMIN_USER", "pgb_admin");
  dt::scoped_env password("PGBOUNCER_ADMIN_PASSWORD", t.bouncer_admin_pw.c_str());
  const std::string base = tool_flags(dir, "tb_a,tb_b") + " --file " + store;
  const std::string bouncer = " --pgbouncer 127.0.0.1:" + std::to_string(t.file_bouncer->port()) +
                              " --pgbouncer-auth-file ";
  const std::string not_format = dir.write("userlist.txt", "; ok\nalice secret\n", 0640);

  struct bad {
    const char* what;
    std::string flags;
    int code;
    const char* says;
  };
  const bad cases[] = {
      {"a standby that is not one",
       base + " --pg-standby 127.0.0.1:" + std::to_string(t.primary.port()), 2, "is not a standby"},
      {"an auth_file not in PgBouncer's format", base + bouncer + not_format, 6,
       "line 2 is not PgBouncer's format"},
      {"a missing auth_file", base + bouncer + dir / "missing.txt", 6, "missing.txt"},
      {"single role with an auth_file",
       base + bouncer + t.file_bouncer->auth_file() + " --pg-strategy single", 2, "alternating"},
  };
  for (const auto& c : cases) {
    const auto run = rotate_tool(c.flags + " all");
    INFO(c.what << ": " << run.output);
    CHECK(run.code == c.code);
    CHECK(run.output.find(c.says) != std::string::npos);
    CHECK(read_file(store) == seeded);
  }
  {
    // A PgBouncer that refuses RELOAD: its stats user may SHOW, not RELOAD.
    dt::scoped_env stats("PGBOUNCER_ADMIN_USER", "pgb_stats");
    const auto run = rotate_tool(base + bouncer + t.file_bouncer->auth_file() + " all");
    INFO(run.output);
    CHECK(run.code == 6);
    CHECK(run.output.find("refused RELOAD") != std::string::npos);
    CHECK(read_file(store) == seeded);
  }
}

TEST_CASE(
    "replay that never catches up: exit 10 naming the standby; the rotation finishes "
    "once it does") {
  auto& t = topo();
  dt::temp_dir dir;
  const std::string pw = random_pw();
  seed_alternating("tl", pw, nullptr);
  const std::string store = dir.write("db.env", "DB_USER=tl_a\nDB_PASS_CURRENT=" + pw + "\n");
  const std::string flags = tool_flags(dir, "tl_a,tl_b") + " --file " + store;
  {
    replay_paused paused;
    const auto run = rotate_tool(flags + " --replay-timeout 1s all");
    INFO(run.output);
    CHECK(run.code == 10);
    CHECK(run.output.find("standby 127.0.0.1:" + std::to_string(t.standby->port())) !=
          std::string::npos);
    CHECK(run.output.find("replay timeout") != std::string::npos);
    // apply did not record itself: CURRENT is still the seeded one, nothing is promoted.
    const auto st = state_of(store);
    CHECK(st.phase == phase::idle);
    CHECK(st.current.user == "tl_a");
  }
  const auto run = rotate_tool(flags + " all");
  REQUIRE_MESSAGE(run.code == 0, run.output);
  const auto st = state_of(store);
  REQUIRE(st.previous);
  CHECK(st.current.user == "tl_b");
  CHECK(login(t.standby_params(), st.current));
  CHECK_FALSE(login(t.standby_params(), *st.previous));
}

TEST_CASE(
    "a replay timeout travels in the error: condition replay_timeout from the rotator, exit 10 "
    "under due as under all") {
  auto& t = topo();
  dt::temp_dir dir;
  const std::string pw = random_pw();
  seed_alternating("tq", pw, nullptr);
  const std::string store = dir.write("db.env", "DB_USER=tq_a\nDB_PASS_CURRENT=" + pw + "\n");
  const std::string flags = tool_flags(dir, "tq_a,tq_b") + " --file " + store;
  const std::string standby = "standby 127.0.0.1:" + std::to_string(t.standby->port());
  replay_paused paused;
  {
    auto c = t.config(*t.query_bouncer, false);
    c.pgbouncers.clear();
    c.replay_timeout = 300ms;
    rotator r(dualcred::rotation::stores::file_store(store),
              dualcred::rotation::pg::alternating_roles_admin(std::move(c), "tq_a", "tq_b"),
              rotation_keys::for_prefix("DB"));
    auto e = r.run_all();
    REQUIRE_FALSE(e);
    INFO(e.error().detail);
    CHECK(e.error().what == condition::replay_timeout);
    CHECK(e.error().site == failure_site::backend);
    REQUIRE(e.error().step);
    CHECK(*e.error().step == step::apply);
    CHECK(e.error().node == r.admin().describe());
    CHECK(e.error().detail.find(standby) != std::string::npos);
  }
  // The same failure reached through `due` (once mapped to 5 there) and through `all`.
  for (const char* command : {"due --max-age 0s", "all"}) {
    const auto run = rotate_tool(flags + " --replay-timeout 0.3 " + command);
    INFO(command << ": " << run.output);
    CHECK(run.code == 10);
    CHECK(run.output.find(standby) != std::string::npos);
  }
  CHECK(state_of(store).phase == phase::idle);
}

TEST_CASE(
    "auth_file writer: other lines, comments, mode and owner kept; a concurrent edit is "
    "not lost; one it cannot write is refused") {
  dt::temp_dir dir;
  const std::string body =
      "; header comment\n\"alice\" \"pw\"\n\n# other\n\"bo\"\"b\" \"x\" rest\n";
  const std::string path = dir.write("userlist.txt", body, 0640);
  REQUIRE(::chown(path.c_str(), ::geteuid() == 0 ? 65534 : ::geteuid(), ::getegid()) == 0);
  struct stat before {};
  REQUIRE(::stat(path.c_str(), &before) == 0);
  const secret v("SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy");
  REQUIRE(dualcred::rotation::pg::update_auth_file(path, {"bo\"b", &v, false}));
  CHECK(read_file(path) == "; header comment\n\"alice\" \"pw\"\n\n# other\n\"bo\"\"b\" \"" +
                               std::string(v.reveal()) + "\"\n");
  struct stat after {};
  REQUIRE(::stat(path.c_str(), &after) == 0);
  CHECK((after.st_mode & 07777) == 0640);
  CHECK(after.st_uid == before.st_uid);
  CHECK(after.st_gid == before.st_gid);
  // A new user is appended; removing it gives the file back.
  REQUIRE(dualcred::rotation::pg::update_auth_file(path, {"carol", &v, false}));
  CHECK(read_file(path).ends_with("\"carol\" \"" + std::string(v.reveal()) + "\"\n"));
  REQUIRE(dualcred::rotation::pg::update_auth_file(path, {"carol", nullptr, false}));
  CHECK(read_file(path).find("carol") == std::string::npos);

  // Another writer holds the lock: the update waits, then gives up with a conflict.
  {
    const int lock = ::open((path + ".lock").c_str(), O_RDWR | O_CREAT, 0600);
    REQUIRE(lock >= 0);
    REQUIRE(::flock(lock, LOCK_EX) == 0);
    const pid_t child = ::fork();
    if (child == 0) {
      auto r = dualcred::rotation::pg::update_auth_file(path, {"dave", &v, false});
      ::_exit(!r && r.error().is(errc::conflict) ? 0 : 1);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(lock);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    CHECK(read_file(path).find("dave") == std::string::npos);
  }
  // A line in another format is named by number, its text not shown.
  const std::string bad = dir.write("bad.txt", "\"alice\" \"pw\"\nbob hunter2-secret\n", 0600);
  auto malformed = dualcred::rotation::pg::update_auth_file(bad, {"alice", &v, false});
  REQUIRE_FALSE(malformed);
  CHECK(malformed.error().is(errc::malformed));
  CHECK(malformed.error().detail.find("line 2") != std::string::npos);
  CHECK(malformed.error().detail.find("hunter2") == std::string::npos);
  // A user who may not write the directory: refused, the file untouched.
  if (::geteuid() == 0) {
    const std::string root_owned = dir.write("root.txt", "\"alice\" \"pw\"\n", 0644);
    const pid_t child = ::fork();
    if (child == 0) {
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
      auto dry = dualcred::rotation::pg::update_auth_file(root_owned, {"alice", &v, true});
      auto r = dualcred::rotation::pg::update_auth_file(root_owned, {"alice", &v, false});
      ::_exit(!dry && dry.error().is(errc::permission_denied) && !r &&
                      r.error().is(errc::permission_denied)
                  ? 0
                  : 1);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    CHECK(read_file(root_owned) == "\"alice\" \"pw\"\n");
  }
}

TEST_CASE("single role with a PgBouncer auth_file is refused, pointing to alternating roles") {
  auto& t = topo();
  dualcred::rotation::pg::single_role_admin admin(t.config(*t.file_bouncer, true));
  auto r = admin.accept(credential{"nobody_here", secret(random_pw())});
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::invalid_argument));
  CHECK(r.error().detail.find("alternating") != std::string::npos);
}

TEST_SUITE_END();

}  // namespace test_pg_topology
