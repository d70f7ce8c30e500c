// Decommission's drain against real servers: sessions held open with the credential being
// removed are counted, waited for (and the step does not finish before they close), ended on
// request, or outlive the wait, which fails `sessions_remain` and leaves the rotation to be
// finished by running decommission again.
#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/pg/admin.hpp>
#include <dualcred/rotation/redis/admin.hpp>
#include <dualcred/rotation/report.hpp>

#include <dualcred_testing/temp_dir.hpp>
#include "rotation_helpers.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_drain {

TEST_SUITE_BEGIN("rotation_drain");

using namespace std::chrono_literals;
using namespace dualcred;
using namespace dualcred::rotation;
using rotation_tests::pg_fixture;
using rotation_tests::pg_params;
using rotation_tests::redis_fixture;
namespace rpg = dualcred::rotation::pg;
namespace rredis = dualcred::rotation::redis;

namespace {

rpg::admin_config admin_config() {
  return rpg::admin_config{secret(pg_fixture().admin_conninfo()), pg_params(), 10s};
}

// Two login roles in one group, the store naming `<stem>_a`.
std::string seed_alternating(const testing::temp_dir& dir, const std::string& stem) {
  const std::string pw = "seed-" + testing::random_token(16);
  auto& pg = pg_fixture();
  pg.create_login_role(stem + "_a", pw);
  pg.create_login_role(stem + "_b", "seed-" + testing::random_token(16));
  pg.exec("ALTER ROLE " + stem + "_b PASSWORD NULL");
  return dir.write("db.env", "DB_USER=" + stem + "_a\nDB_PASS_CURRENT=" + pw + "\n");
}

std::string seed_single(const testing::temp_dir& dir, const std::string& role) {
  const std::string pw = "seed-" + testing::random_token(16);
  pg_fixture().create_login_role(role, pw);
  return dir.write("db.env", "DB_USER=" + role + "\nDB_PASS_CURRENT=" + pw + "\n");
}

// Client backends of `role` as the server lists them.
int pg_sessions_of(const std::string& role) {
  const auto rows = pg_fixture().exec(
      "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND usename "
      "= '" +
      role + "'");
  return std::stoi(rows.at(0).at(0));
}

std::vector<dualcred::pg::connection> open_sessions(const credential& c, int n) {
  std::vector<dualcred::pg::connection> out;
  for (int i = 0; i < n; ++i) {
    auto conn = dualcred::pg::connector(pg_params())(c);
    REQUIRE_MESSAGE(conn, conn.error().detail);
    out.push_back(std::move(conn).value());
  }
  return out;
}

template <class Admin>
using file_rotator = rotator<stores::file_store, Admin>;

rotator_options draining(drain_mode mode, std::chrono::milliseconds timeout,
                         std::vector<std::string>* lines = nullptr) {
  rotator_options o;
  o.drain = {mode, timeout, 50ms};
  if (lines != nullptr) o.on_progress = [lines](std::string_view l) { lines->emplace_back(l); };
  return o;
}

template <class Admin>
void up_to_verify(file_rotator<Admin>& r) {
  REQUIRE(r.prepare());
  REQUIRE(r.apply());
  REQUIRE(r.promote());
  REQUIRE(r.verify());
}

drain_record last_drain(const std::string& path) {
  auto raw = stores::file_store(path).read();
  REQUIRE(raw);
  auto st = parse_state(raw.value().data, rotation_keys::for_prefix("DB"), path);
  REQUIRE(st);
  REQUIRE(st.value().last_drain);
  const auto rec = parse_drain_record(*st.value().last_drain);
  REQUIRE(rec);
  return *rec;
}

bool mentions(const std::vector<std::string>& lines, std::string_view what) {
  for (const auto& l : lines)
    if (l.find(what) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("alternating roles, drain wait: decommission finishes only after the sessions close") {
  testing::temp_dir dir;
  const std::string path = seed_alternating(dir, "drw");
  std::vector<std::string> lines;
  file_rotator<rpg::alternating_roles_admin> r(
      stores::file_store(path), rpg::alternating_roles_admin(admin_config(), "drw_a", "drw_b"),
      rotation_keys::for_prefix("DB"), draining(drain_mode::wait, 30s, &lines));
  auto held = open_sessions(r.state().value().current, 2);
  up_to_verify(r);
  std::atomic<std::int64_t> closed_at{0};
  std::thread closer([&] {
    std::this_thread::sleep_for(1500ms);
    held.clear();
    closed_at = std::chrono::steady_clock::now().time_since_epoch().count();
  });
  auto done = r.decommission();
  const auto finished = std::chrono::steady_clock::now().time_since_epoch().count();
  closer.join();
  REQUIRE_MESSAGE(done, done.error().detail);
  CHECK(closed_at.load() != 0);
  CHECK(finished >= closed_at.load());  // it waited for the close
  CHECK(r.state().value().phase == phase::idle);
  CHECK(pg_sessions_of("drw_a") == 0);
  CHECK(mentions(lines, "2 session(s) may still use PREVIOUS: sessions of role 'drw_a'"));
  const drain_record rec = last_drain(path);
  CHECK(rec.mode == drain_mode::wait);
  CHECK(rec.outcome == "drained");
  CHECK(rec.found == 2);
  CHECK(rec.remaining == 0);
  REQUIRE(rec.nodes.size() == 1);
  CHECK(rec.nodes[0].sessions == 2);
}

TEST_CASE("alternating roles, drain terminate: the sessions end and the server lists none") {
  testing::temp_dir dir;
  const std::string path = seed_alternating(dir, "drt");
  file_rotator<rpg::alternating_roles_admin> r(
      stores::file_store(path), rpg::alternating_roles_admin(admin_config(), "drt_a", "drt_b"),
      rotation_keys::for_prefix("DB"), draining(drain_mode::terminate, 10s));
  auto held = open_sessions(r.state().value().current, 3);
  up_to_verify(r);
  CHECK(pg_sessions_of("drt_a") == 3);
  auto done = r.decommission();
  REQUIRE_MESSAGE(done, done.error().detail);
  CHECK(pg_sessions_of("drt_a") == 0);
  for (auto& c : held) CHECK_FALSE(rotation_tests::usable(c));
  const drain_record rec = last_drain(path);
  CHECK(rec.outcome == "terminated");
  CHECK(rec.found == 3);
  CHECK(rec.ended == 3);
  CHECK(rec.remaining == 0);
  CHECK(done.value().summary.find("drain terminated: 3 found, 3 ended, 0 left") !=
        std::string::npos);
}

TEST_CASE("drain wait that times out: sessions_remain, still verified; terminate finishes it") {
  testing::temp_dir dir;
  const std::string path = seed_alternating(dir, "dro");
  auto make = [&](drain_mode m, std::chrono::milliseconds t) {
    return file_rotator<rpg::alternating_roles_admin>(
        stores::file_store(path), rpg::alternating_roles_admin(admin_config(), "dro_a", "dro_b"),
        rotation_keys::for_prefix("DB"), draining(m, t));
  };
  auto r = make(drain_mode::wait, 700ms);
  auto held = open_sessions(r.state().value().current, 2);
  up_to_verify(r);
  const auto start = std::chrono::steady_clock::now();
  auto late = r.decommission();
  REQUIRE_FALSE(late);
  CHECK(std::chrono::steady_clock::now() - start < 700ms + 10s);
  CHECK(late.error().what == condition::sessions_remain);
  CHECK(late.error().site == failure_site::drain);
  CHECK(late.error().step == step::decommission);
  CHECK(late.error().detail.find("2 session(s)") != std::string::npos);
  CHECK(r.state().value().phase == phase::verified);  // resumable
  drain_record rec = last_drain(path);
  CHECK(rec.outcome == "timed_out");
  CHECK(rec.remaining == 2);
  CHECK(pg_sessions_of("dro_a") == 2);
  // The old role's password is already gone: rerun, this time ending them.
  auto again = make(drain_mode::terminate, 10s).decommission();
  REQUIRE_MESSAGE(again, again.error().detail);
  CHECK(again.value().phase == phase::idle);
  CHECK(pg_sessions_of("dro_a") == 0);
  rec = last_drain(path);
  CHECK(rec.outcome == "terminated");
  CHECK(rec.ended == 2);
  // And the status JSON and metrics show it.
  const auto status = make_status(make(drain_mode::report, 1s).state().value(), "DB", path,
                                  timestamp(std::chrono::seconds(0)));
  const auto json = to_json(status);
  CHECK(json.find(R"("last_drain":{)") != std::string::npos);
  CHECK(json.find(R"("outcome":"terminated")") != std::string::npos);
  const std::string metrics = to_prometheus(status);
  CHECK(metrics.find(R"(dualcred_rotation_last_drain_sessions{prefix="DB",store=")") !=
        std::string::npos);
  CHECK(metrics.find(R"(count="found"} 2)") != std::string::npos);
  CHECK(metrics.find(R"(count="ended"} 2)") != std::string::npos);
  CHECK(metrics.find(R"(count="remaining"} 0)") != std::string::npos);
  CHECK(metrics.find("dualcred_rotation_last_drain_timestamp_seconds{") != std::string::npos);
}

TEST_CASE("single role: sessions started before the change are counted, and what it cannot tell") {
  testing::temp_dir dir;
  const std::string path = seed_single(dir, "drs");
  std::vector<std::string> lines;
  file_rotator<rpg::single_role_admin> r(
      stores::file_store(path), rpg::single_role_admin(admin_config()),
      rotation_keys::for_prefix("DB"), draining(drain_mode::report, 1s, &lines));
  auto before = open_sessions(r.state().value().current, 2);
  REQUIRE(r.prepare());
  REQUIRE(r.apply());
  const auto st = r.state().value();
  REQUIRE(st.applied_at);  // recorded at apply, for this count
  // A session that starts after the change (applied_at is rounded up a second) logs in with
  // the new password and is not counted.
  std::this_thread::sleep_for(2100ms);
  auto after = open_sessions(*st.next, 1);
  REQUIRE(r.apply());  // idempotent: the recorded time stays
  CHECK(r.state().value().applied_at == st.applied_at);
  REQUIRE(r.promote());
  REQUIRE(r.verify());
  auto done = r.decommission();
  REQUIRE_MESSAGE(done, done.error().detail);
  CHECK(pg_sessions_of("drs") >= 3);  // report only: nothing ended
  const drain_record rec = last_drain(path);
  CHECK(rec.outcome == "reported");
  CHECK(rec.found == 2);
  CHECK(mentions(lines, "sessions of role 'drs' started before the change"));
  CHECK(mentions(lines, "does not record which password a session logged in with"));
  CHECK_FALSE(r.state().value().applied_at);  // cleared once decommissioned
}

TEST_CASE("Redis: connections opened before the promote are counted, waited for and ended") {
  const std::string user = "drain_user";
  const std::string pw = "seed-" + testing::random_token(16);
  redis_fixture().set_user(user, {pw});
  testing::temp_dir dir;
  const std::string path =
      dir.write("redis.env", "REDIS_USER=" + user + "\nREDIS_PASS_CURRENT=" + pw + "\n");
  const credential admin{redis_fixture().admin_user(), secret(redis_fixture().admin_password())};
  auto make = [&](drain_mode m, std::chrono::milliseconds t, std::vector<std::string>* lines) {
    return rotator(stores::file_store(path),
                   rredis::acl_admin(rotation_tests::redis_params(), admin),
                   rotation_keys::for_prefix("REDIS"), draining(m, t, lines));
  };
  std::vector<std::string> lines;
  auto r = make(drain_mode::wait, 600ms, &lines);
  std::vector<dualcred::redis::connection> held;
  for (int i = 0; i < 2; ++i) {
    auto c = dualcred::redis::connector(rotation_tests::redis_params())({user, secret(pw)});
    REQUIRE(c);
    held.push_back(std::move(c).value());
  }
  REQUIRE(r.prepare());
  REQUIRE(r.apply());
  std::this_thread::sleep_for(2100ms);  // the promote whole seconds after the connections
  REQUIRE(r.promote());
  REQUIRE(r.verify());
  std::this_thread::sleep_for(2100ms);
  auto fresh =
      dualcred::redis::connector(rotation_tests::redis_params())(r.state().value().current);
  REQUIRE(fresh);
  auto late = r.decommission();
  REQUIRE_FALSE(late);
  CHECK(late.error().what == condition::sessions_remain);
  CHECK(mentions(lines,
                 "2 session(s) may still use PREVIOUS: connections of user 'drain_user' "
                 "opened before the promote"));
  CHECK(mentions(lines, "does not record which password a connection sent"));
  auto done = make(drain_mode::terminate, 5s, nullptr).decommission();
  REQUIRE_MESSAGE(done, done.error().detail);
  CHECK(done.value().summary.find("drain terminated: 2 found, 2 ended, 0 left") !=
        std::string::npos);
  for (auto& c : held) CHECK_FALSE(rotation_tests::usable(c));
  CHECK(rotation_tests::usable(fresh.value()));  // opened after the promote: left alone
}

TEST_CASE(
    "the tool: --drain wait past --drain-timeout exits 14, status --json shows it, terminate") {
  testing::temp_dir dir;
  const std::string path = seed_alternating(dir, "drc");
  file_rotator<rpg::alternating_roles_admin> r(
      stores::file_store(path), rpg::alternating_roles_admin(admin_config(), "drc_a", "drc_b"),
      rotation_keys::for_prefix("DB"));
  auto held = open_sessions(r.state().value().current, 2);
  up_to_verify(r);
  const std::string flags = "--backend postgres --pg-admin '" + pg_fixture().admin_conninfo() +
                            "' --pg-host 127.0.0.1 --pg-port " +
                            std::to_string(pg_fixture().port()) +
                            " --pg-dbname postgres --pg-strategy alternating --pg-roles "
                            "drc_a,drc_b --file " +
                            path;
  auto out =
      rotation_tests::run_rotate_tool(flags + " --drain wait --drain-timeout 0.5 decommission");
  CHECK(out.code == 14);
  CHECK(out.output.find("2 session(s) may still use PREVIOUS: sessions of role 'drc_a'") !=
        std::string::npos);
  CHECK(out.output.find("--drain terminate") != std::string::npos);  // the hint
  out = rotation_tests::run_rotate_tool(flags + " status --json");
  CHECK(out.code == 0);
  CHECK(out.output.find(R"("phase":"verified")") != std::string::npos);
  CHECK(out.output.find(R"("outcome":"timed_out")") != std::string::npos);
  CHECK(out.output.find(R"("remaining":2)") != std::string::npos);
  out = rotation_tests::run_rotate_tool(flags + " status --prometheus");
  CHECK(out.code == 0);
  CHECK(out.output.find(R"(count="remaining"} 2)") != std::string::npos);
  out = rotation_tests::run_rotate_tool(flags + " --drain terminate decommission");
  CHECK_MESSAGE(out.code == 0, out.output);
  CHECK(out.output.find("ended 2 session(s)") != std::string::npos);
  CHECK(pg_sessions_of("drc_a") == 0);
  out = rotation_tests::run_rotate_tool(flags + " status --json");
  CHECK(out.output.find(R"("outcome":"terminated")") != std::string::npos);
  CHECK(out.output.find(R"("phase":"idle")") != std::string::npos);
}

TEST_SUITE_END();

}  // namespace test_drain
