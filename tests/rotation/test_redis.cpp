// The runbook on a Redis ACL user, the store a dotenv file read by file_provider: the soak,
// a rotation stopped after each step and resumed, rollback after promote, and bad input.
#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <doctest/doctest.h>
#include <dualcred/provider/file.hpp>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/redis/admin.hpp>

#include <dualcred_testing/temp_dir.hpp>
#include "rotation_helpers.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_redis {

TEST_SUITE_BEGIN("rotation_redis");

using namespace std::chrono_literals;
using namespace dualcred;
using namespace dualcred::rotation;
using rotation_tests::redis_fixture;
using rotation_tests::redis_params;

namespace {

credential admin() {
  return {redis_fixture().admin_user(), secret(redis_fixture().admin_password())};
}

// A Redis user with one password, and a dotenv store holding it (plus a DB_* key that a
// Redis rotation must leave alone).
std::string seed(const testing::temp_dir& dir, const std::string& user) {
  const std::string pw = "seed-" + testing::random_token(16);
  redis_fixture().set_user(user, {pw});
  return dir.write("app.env", "DB_USER=mutt\nDB_PASS_CURRENT=db-untouched\nREDIS_USER=" + user +
                                  "\nREDIS_PASS_CURRENT=" + pw + "\n");
}

auto make_rotator(const std::string& path, rotator_options o = {}) {
  return rotator(dualcred::rotation::stores::file_store(path),
                 dualcred::rotation::redis::acl_admin(redis_params(), admin()),
                 rotation_keys::for_prefix("REDIS"), std::move(o));
}

auto make_clients_creds(const std::string& path) {
  auto dc = make_dual_credential(dualcred::redis::connector(redis_params()),
                                 file_provider(path, key_names::for_prefix("REDIS")),
                                 rotation_tests::client_options());
  REQUIRE(dc);
  return std::move(dc).value();
}

// How many passwords the ACL user has (`ACL LIST` shows each as `#<sha256>`).
int password_count(const std::string& user) {
  for (const auto& line : redis_fixture().must({"ACL", "LIST"}).items) {
    const std::string head = "user " + user + " ";
    if (!line.starts_with(head)) continue;
    int n = 0;
    for (std::size_t at = line.find(" #", head.size() - 1); at != std::string::npos;
         at = line.find(" #", at + 2))
      ++n;
    return n;
  }
  return -1;
}

bool logs_in(const credential& c) {
  return static_cast<bool>(dualcred::redis::connector(redis_params())(c));
}

// The store and the backend agree: CURRENT logs in, PREVIOUS (after decommission) does not.
void check_consistent(const std::string& path, const std::string& user) {
  dualcred::rotation::stores::file_store fs(path);
  auto raw = fs.read();
  REQUIRE(raw);
  auto st = parse_state(raw.value().data, rotation_keys::for_prefix("REDIS"), path);
  REQUIRE(st);
  CHECK(st.value().current.user == user);
  CHECK(logs_in(st.value().current));
  if (st.value().phase == phase::idle && st.value().previous)
    CHECK_FALSE(logs_in(*st.value().previous));
  CHECK(raw.value().data.at("DB_PASS_CURRENT").reveal() == "db-untouched");
}

}  // namespace

TEST_CASE("soak: Redis ACL rotations under 4 client threads, zero failed connects") {
  testing::temp_dir dir;
  const std::string path = seed(dir, "soak");
  auto creds = make_clients_creds(path);
  rotation_tests::clients<decltype(creds)> c(creds, 4);
  auto r = make_rotator(path);
  const int n = rotation_tests::cycles();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    auto done = r.run_all();
    REQUIRE_MESSAGE(done, done.error().detail);
    CHECK(done.value().size() == 5);
    std::this_thread::sleep_for(60ms);  // let the clients refresh between cycles
  }
  std::this_thread::sleep_for(100ms);
  c.stop();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  c.counts.report("redis");
  MESSAGE("redis soak: " << n << " cycles, " << c.counts.ok.load() << " connects, "
                         << c.counts.failed.load() << " failed, " << ms << " ms; "
                         << fmt::format("{}", creds.snapshot()));
  CHECK(c.counts.failed == 0);
  CHECK(c.counts.ok > n);
  // Every write accounted for: the first prepare, then apply, promote, verify and
  // decommission per cycle.
  auto raw = dualcred::rotation::stores::file_store(path).read();
  REQUIRE(raw);
  CHECK(raw.value().revision == static_cast<std::uint64_t>(1 + 4 * n));
  check_consistent(path, "soak");
  // Exactly CURRENT is on the server: the old passwords were all removed.
  CHECK(password_count("soak") == 1);
}

TEST_CASE("crash-resume: a rotation stopped after each step is finished by running it again") {
  const step steps[] = {step::prepare, step::apply, step::promote, step::verify,
                        step::decommission};
  for (int stop_after = 0; stop_after < 5; ++stop_after) {
    CAPTURE(stop_after);
    testing::temp_dir dir;
    const std::string path = seed(dir, "resume");
    auto creds = make_clients_creds(path);
    rotation_tests::clients<decltype(creds)> c(creds, 2);
    {
      auto first = make_rotator(path);
      for (int i = 0; i <= stop_after; ++i) REQUIRE(first.run(steps[i]));
    }  // the first rotator "dies" here
    auto again = make_rotator(path);
    auto rest = again.run_all();
    REQUIRE_MESSAGE(rest, rest.error().detail);
    CHECK(again.state().value().phase == phase::idle);
    std::this_thread::sleep_for(80ms);
    c.stop();
    CHECK(c.counts.failed == 0);
    check_consistent(path, "resume");
  }
}

namespace {
// A store whose next write fails, as if the rotator died between the backend change and
// the store write.
struct dying_store {
  dualcred::rotation::stores::file_store inner;
  int writes_left = 0;
  result<stored> read() { return inner.read(); }
  result<std::uint64_t> write(const secret_map& v, std::uint64_t expected) {
    if (writes_left-- == 0) return fail(errc::provider_unavailable, "killed before the write");
    return inner.write(v, expected);
  }
  std::string describe() const { return inner.describe(); }
};
}  // namespace

TEST_CASE("crash-resume: killed inside a step, after the backend changed") {
  for (int writes = 0; writes < 5; ++writes) {
    CAPTURE(writes);
    testing::temp_dir dir;
    const std::string path = seed(dir, "inside");
    rotator dying(dying_store{dualcred::rotation::stores::file_store(path), writes},
                  dualcred::rotation::redis::acl_admin(redis_params(), admin()),
                  rotation_keys::for_prefix("REDIS"));
    auto failed = dying.run_all();
    REQUIRE_FALSE(failed);
    CHECK(failed.error().site == failure_site::store);
    auto r = make_rotator(path);
    auto rest = r.run_all();
    REQUIRE_MESSAGE(rest, rest.error().detail);
    check_consistent(path, "inside");
  }
}

TEST_CASE("every step is idempotent: running each twice changes nothing the second time") {
  testing::temp_dir dir;
  const std::string path = seed(dir, "twice");
  auto r = make_rotator(path);
  for (const step s :
       {step::prepare, step::apply, step::promote, step::verify, step::decommission}) {
    CAPTURE(to_string(s));
    auto one = r.run(s);
    REQUIRE_MESSAGE(one, one.error().detail);
    const auto rev = dualcred::rotation::stores::file_store(path).read().value().revision;
    auto two = r.run(s);
    REQUIRE_MESSAGE(two, two.error().detail);
    CHECK_FALSE(two.value().changed);
    CHECK(dualcred::rotation::stores::file_store(path).read().value().revision == rev);
  }
  check_consistent(path, "twice");
}

TEST_CASE("the order cannot go wrong") {
  testing::temp_dir dir;
  const std::string path = seed(dir, "order");
  auto r = make_rotator(path);
  const auto rev0 = dualcred::rotation::stores::file_store(path).read().value().revision;
  auto early = r.promote();  // NEXT not applied
  REQUIRE_FALSE(early);
  CHECK(early.error().site == failure_site::order);
  CHECK(early.error().detail.find("apply") != std::string::npos);
  auto no_next = r.apply();  // no NEXT yet
  REQUIRE_FALSE(no_next);
  CHECK(no_next.error().is(errc::not_found));
  CHECK(r.decommission().value().changed == false);  // idle: nothing to do
  CHECK(dualcred::rotation::stores::file_store(path).read().value().revision == rev0);

  REQUIRE(r.prepare());
  REQUIRE(r.apply());
  REQUIRE(r.promote());
  auto unverified = r.decommission();
  REQUIRE_FALSE(unverified);
  CHECK(unverified.error().detail.find("verify") != std::string::npos);
  auto reapply = r.apply();  // the old password is still in use
  REQUIRE_FALSE(reapply);
  CHECK(reapply.error().detail.find("decommission") != std::string::npos);
}

namespace {
// One cell of the phase x step rules: what the step does in that phase.
struct cell {
  phase in;
  step s;
  bool ok;                  // false: refused as out of order
  bool changed;             // when ok
  std::string_view detail;  // when refused: the error detail after "STEP: "
};

// A store at `p` whose passwords the user all holds, so any step the rules allow succeeds.
std::string seed_phase(const testing::temp_dir& dir, phase p) {
  const std::string user = "matrix";
  const std::string tag = testing::random_token(8);
  const std::string cur = "c-" + tag, nxt = "n-" + tag, prev = "p-" + tag;
  redis_fixture().set_user(user, {cur, nxt, prev});
  std::string body = "REDIS_USER=" + user + "\nREDIS_PASS_CURRENT=" + cur +
                     "\nREDIS_PASS_NEXT=" + nxt + "\nREDIS_PASS_PREVIOUS=" + prev + "\n";
  if (p != phase::idle) body += "REDIS_ROTATION_PHASE=" + std::string(to_string(p)) + "\n";
  return dir.write("app.env", body);
}
}  // namespace

TEST_CASE("the phase x step rules: every cell runs, is already done, or is refused as before") {
  constexpr std::string_view in_rollback = "a rollback is in progress: run rollback to finish it";
  constexpr std::string_view not_decommissioned =
      "the last promote is not decommissioned yet: run verify and decommission first";
  const cell cells[] = {
      {phase::idle, step::prepare, true, false, {}},
      {phase::idle, step::apply, true, true, {}},
      {phase::idle, step::promote, false, false,
       "the backend does not accept NEXT yet: run prepare and apply first"},
      {phase::idle, step::verify, true, false, {}},
      {phase::idle, step::decommission, true, false, {}},
      {phase::idle, step::rollback, true, true, {}},
      {phase::applied, step::prepare, true, false, {}},
      {phase::applied, step::apply, true, false, {}},
      {phase::applied, step::promote, true, true, {}},
      {phase::applied, step::verify, true, false, {}},
      {phase::applied, step::decommission, false, false,
       "nothing is promoted: a new NEXT is applied, run promote and verify"},
      {phase::applied, step::rollback, false, false,
       "a new NEXT is applied to the backend: promote it instead, or roll back once "
       "it is promoted"},
      {phase::promoted, step::prepare, true, false, {}},
      {phase::promoted, step::apply, false, false, not_decommissioned},
      {phase::promoted, step::promote, true, false, {}},
      {phase::promoted, step::verify, true, true, {}},
      {phase::promoted, step::decommission, false, false,
       "the new CURRENT is not verified yet: run verify first"},
      {phase::promoted, step::rollback, true, true, {}},
      {phase::verified, step::prepare, true, false, {}},
      {phase::verified, step::apply, false, false, not_decommissioned},
      {phase::verified, step::promote, true, false, {}},
      {phase::verified, step::verify, true, false, {}},
      {phase::verified, step::decommission, true, true, {}},
      {phase::verified, step::rollback, true, true, {}},
      {phase::rolling_back, step::prepare, false, false, in_rollback},
      {phase::rolling_back, step::apply, false, false, in_rollback},
      {phase::rolling_back, step::promote, false, false, in_rollback},
      {phase::rolling_back, step::verify, false, false, in_rollback},
      {phase::rolling_back, step::decommission, false, false, in_rollback},
      {phase::rolling_back, step::rollback, true, true, {}},
  };
  for (const cell& c : cells) {
    CAPTURE(to_string(c.in));
    CAPTURE(to_string(c.s));
    testing::temp_dir dir;
    const std::string path = seed_phase(dir, c.in);
    auto r = make_rotator(path);
    const auto rev = dualcred::rotation::stores::file_store(path).read().value().revision;
    auto got = r.run(c.s);
    if (c.ok) {
      REQUIRE_MESSAGE(got, got.error().detail);
      CHECK(got.value().changed == c.changed);
    } else {
      REQUIRE_FALSE(got);
      CHECK(got.error().site == failure_site::order);
      CHECK(got.error().is(errc::invalid_argument));
      CHECK(got.error().detail == fmt::format("{}: {}", to_string(c.s), c.detail));
      CHECK(dualcred::rotation::stores::file_store(path).read().value().revision ==
            rev);  // nothing written
    }
  }
  // run_all picks up where the phase stands, and refuses during a rollback.
  const std::pair<phase, std::size_t> rest[] = {
      {phase::idle, 5}, {phase::applied, 5}, {phase::promoted, 2}, {phase::verified, 1}};
  for (const auto& entry : rest) {
    // Not a structured binding: clang before 16 cannot capture one (CAPTURE is a lambda).
    const phase p = entry.first;
    const std::size_t steps = entry.second;
    CAPTURE(to_string(p));
    testing::temp_dir dir;
    auto r = make_rotator(seed_phase(dir, p));
    auto all = r.run_all();
    REQUIRE_MESSAGE(all, all.error().detail);
    CHECK(all.value().size() == steps);
    CHECK(r.state().value().phase == phase::idle);
  }
  testing::temp_dir dir;
  auto r = make_rotator(seed_phase(dir, phase::rolling_back));
  auto all = r.run_all();
  REQUIRE_FALSE(all);
  CHECK(all.error().site == failure_site::order);
  CHECK(all.error().detail == fmt::format("prepare: {}", in_rollback));
}

TEST_CASE("NEXT equal to CURRENT or PREVIOUS: apply refuses, naming the keys; CURRENT works") {
  for (const std::string same_as : {"CURRENT", "PREVIOUS"}) {
    CAPTURE(same_as);
    testing::temp_dir dir;
    const std::string cur = "cur-" + testing::random_token(12);
    const std::string prev = "prev-" + testing::random_token(12);
    const std::string next = same_as == "CURRENT" ? cur : prev;
    redis_fixture().set_user("samepw", {cur});
    const std::string path = dir.write("app.env", "REDIS_USER=samepw\nREDIS_PASS_CURRENT=" + cur +
                                                      "\nREDIS_PASS_NEXT=" + next +
                                                      "\nREDIS_PASS_PREVIOUS=" + prev + "\n");
    auto r = make_rotator(path);
    auto e = r.run_all();
    REQUIRE_FALSE(e);
    CHECK(e.error().site == failure_site::order);  // the tool's exit 9
    CHECK(e.error().is(errc::invalid_argument));
    CHECK(e.error().detail ==
          fmt::format("apply: REDIS_PASS_NEXT equals REDIS_PASS_{}: a rotation needs a new "
                      "password (remove REDIS_PASS_NEXT and run prepare)",
                      same_as));
    CHECK(e.error().detail.find(cur) == std::string::npos);
    CHECK(e.error().detail.find(prev) == std::string::npos);
    CHECK(logs_in(credential{"samepw", secret(cur)}));
    CHECK(r.state().value().phase == phase::idle);
  }
}

TEST_CASE("decommission and rollback never revoke a password CURRENT or NEXT still holds") {
  // Stores an older rotator could leave: PREVIOUS is CURRENT's password.
  testing::temp_dir dir;
  const std::string cur = "cur-" + testing::random_token(12);
  const std::string nxt = "nxt-" + testing::random_token(12);
  const auto store = [&](const char* phase_name) {
    redis_fixture().set_user("keepme", {cur, nxt});
    return dir.write("app.env", "REDIS_USER=keepme\nREDIS_PASS_CURRENT=" + cur +
                                    "\nREDIS_PASS_NEXT=" + nxt + "\nREDIS_PASS_PREVIOUS=" + cur +
                                    "\nREDIS_ROTATION_PHASE=" + phase_name + "\n");
  };
  SUBCASE("decommission") {
    auto r = make_rotator(store("verified"));
    auto d = r.decommission();
    REQUIRE_MESSAGE(d, d.error().detail);
    CHECK(d.value().summary.find("REDIS_PASS_CURRENT") != std::string::npos);
    CHECK(d.value().summary.find(cur) == std::string::npos);
  }
  SUBCASE("rollback") {
    auto r = make_rotator(store("promoted"));
    auto b = r.rollback();
    REQUIRE_MESSAGE(b, b.error().detail);
  }
  CHECK(logs_in(credential{"keepme", secret(cur)}));
}

TEST_CASE("awkward user names and operator-seeded passwords: whole rotations and a rollback") {
  // Redis refuses spaces in user names itself; everything else goes through as given.
  const std::string users[] = {R"(Q"u'ote_User)", "UPPER", "#hashlike", ">gt", "<lt"};
  const std::string passwords[] = {">starts with gt",    "<starts with lt",
                                   "#starts-with-hash",  R"(has "double" and 'single')",
                                   "  spaces  around  ", "nopass",
                                   "resetpass",          "(selector ~*)",
                                   std::string(64, 'a'), "!" + std::string(64, 'b'),
                                   "back\\slash=equals"};
  for (std::size_t i = 0; i < std::size(passwords); ++i) {
    const std::string& user = users[i % std::size(users)];
    CAPTURE(user);
    CAPTURE(i);  // not the password
    testing::temp_dir dir;
    const credential seeded{user, secret(passwords[i])};
    redis_fixture().set_user(user, {passwords[i]});
    REQUIRE(logs_in(seeded));
    const std::string path = dir / "app.env";
    secret_map v;
    v.emplace("REDIS_USER", secret(user));
    v.emplace("REDIS_PASS_CURRENT", secret(passwords[i]));
    v.emplace("DB_PASS_CURRENT", secret("db-untouched"));
    REQUIRE(dualcred::rotation::stores::file_store(path).write(v, 0));

    auto r = make_rotator(path);
    auto all = r.run_all();
    REQUIRE_MESSAGE(all, all.error().detail);
    check_consistent(path, user);
    CHECK_FALSE(logs_in(seeded));
    CHECK(password_count(user) == 1);

    auto back = r.rollback();
    REQUIRE_MESSAGE(back, back.error().detail);
    CHECK(r.state().value().current == seeded);
    CHECK(logs_in(seeded));
    CHECK(password_count(user) == 1);
    auto again = r.run_all();
    REQUIRE_MESSAGE(again, again.error().detail);
    check_consistent(path, user);
    CHECK(password_count(user) == 1);
  }
}

TEST_CASE("rollback after promote: clients keep connecting throughout") {
  testing::temp_dir dir;
  const std::string path = seed(dir, "rollback");
  const std::string original = std::string(dualcred::rotation::stores::file_store(path)
                                               .read()
                                               .value()
                                               .data.at("REDIS_PASS_CURRENT")
                                               .reveal());
  auto creds = make_clients_creds(path);
  rotation_tests::clients<decltype(creds)> c(creds, 4);
  auto r = make_rotator(path);
  REQUIRE(r.prepare());
  REQUIRE(r.apply());
  auto promoted = r.promote();
  REQUIRE(promoted);
  const credential rolled_back = r.state().value().current;
  std::this_thread::sleep_for(100ms);
  auto back = r.rollback();
  REQUIRE_MESSAGE(back, back.error().detail);
  std::this_thread::sleep_for(150ms);
  c.stop();
  c.counts.report("redis rollback");
  CHECK(c.counts.failed == 0);
  CHECK(c.counts.ok > 0);
  const auto st = r.state().value();
  CHECK(st.phase == phase::idle);
  CHECK(st.current.password.reveal() == original);
  CHECK_FALSE(st.next);
  CHECK_FALSE(st.previous);
  CHECK(logs_in(st.current));
  CHECK_FALSE(logs_in(rolled_back));
  // A second rollback has no PREVIOUS to go back to.
  auto again = r.rollback();
  REQUIRE_FALSE(again);
  CHECK(again.error().is(errc::not_found));
  CHECK(again.error().detail.find("PREVIOUS") != std::string::npos);
  // And the next rotation starts cleanly from here.
  REQUIRE(r.run_all());
  check_consistent(path, "rollback");
}

TEST_CASE("bad input: each a clear error, nothing half-written, no password in any detail") {
  testing::temp_dir dir;
  const std::string path = seed(dir, "bad");
  const auto before = dualcred::rotation::stores::file_store(path).read().value();
  const std::string current(before.data.at("REDIS_PASS_CURRENT").reveal());

  SUBCASE("store unreachable") {
    auto r = make_rotator(dir / "missing-dir/app.env");
    auto e = r.run_all();
    REQUIRE_FALSE(e);
    CHECK(e.error().is(errc::not_found));
    CHECK(e.error().site == failure_site::store);
    CHECK(e.error().what == condition::store_failed);
    CHECK(e.error().detail.find("missing-dir/app.env") != std::string::npos);
  }
  SUBCASE("the admin lacks the ACL privilege") {
    redis_fixture().must(
        {"ACL", "SETUSER", "weak", "reset", "on", ">weakpw", "~*", "+@read", "+ping", "+auth"});
    rotator r(
        dualcred::rotation::stores::file_store(path),
        dualcred::rotation::redis::acl_admin(redis_params(), credential{"weak", secret("weakpw")}),
        rotation_keys::for_prefix("REDIS"));
    REQUIRE(r.prepare());
    const std::string next(r.state().value().next->password.reveal());
    auto e = r.apply();
    REQUIRE_FALSE(e);
    CHECK(e.error().is(errc::permission_denied));
    CHECK(e.error().site == failure_site::backend);
    CHECK(e.error().detail.find("NOPERM") != std::string::npos);
    CHECK(e.error().detail.find(next) == std::string::npos);
    CHECK(r.state().value().phase == phase::idle);  // not marked applied
    CHECK_FALSE(logs_in(*r.state().value().next));
  }
  SUBCASE("the admin's own login is refused") {
    rotator r(
        dualcred::rotation::stores::file_store(path),
        dualcred::rotation::redis::acl_admin(redis_params(), credential{"admin", secret("wrong")}),
        rotation_keys::for_prefix("REDIS"));
    REQUIRE(r.prepare());
    auto e = r.apply();
    REQUIRE_FALSE(e);
    CHECK(e.error().is(errc::auth_rejected));
    CHECK(e.error().detail.find("admin login") != std::string::npos);
    CHECK(e.error().detail.find("wrong") == std::string::npos);
  }
  SUBCASE("the user does not exist: the admin does not create it") {
    testing::temp_dir other;
    const std::string p = other.write("x.env", "REDIS_USER=ghost\nREDIS_PASS_CURRENT=ghostpw\n");
    auto r = make_rotator(p);
    auto e = r.run_all();
    REQUIRE_FALSE(e);
    CHECK(e.error().is(errc::not_found));
    CHECK(e.error().detail.find("ghost") != std::string::npos);
    CHECK(redis_fixture().must({"ACL", "GETUSER", "ghost"}).items.empty());
  }
  SUBCASE("missing PREVIOUS") {
    auto r = make_rotator(path);
    auto e = r.rollback();
    REQUIRE_FALSE(e);
    CHECK(e.error().is(errc::not_found));
    CHECK(e.error().site == failure_site::order);
  }
  SUBCASE("CAS conflict: two rotators racing, only one promotes") {
    auto a = make_rotator(path);
    REQUIRE(a.prepare());
    REQUIRE(a.apply());
    // b read the store at the same revision as a, then a promoted first.
    dying_store stale{dualcred::rotation::stores::file_store(path), 100};
    const auto seen = dualcred::rotation::stores::file_store(path).read().value();
    REQUIRE(a.promote());
    secret_map mine = seen.data;
    mine.insert_or_assign("REDIS_PASS_CURRENT", secret("would-clobber"));
    auto lost = stale.write(mine, seen.revision);
    REQUIRE_FALSE(lost);
    CHECK(lost.error().is(errc::conflict));
    CHECK(lost.error().detail.find("would-clobber") == std::string::npos);
    // A rotator that comes second finds the promote done rather than promoting twice.
    auto b = make_rotator(path);
    auto second = b.promote();
    REQUIRE(second);
    CHECK_FALSE(second.value().changed);
  }
  SUBCASE("a malformed phase") {
    testing::temp_dir other;
    const std::string p = other.write(
        "x.env", "REDIS_USER=bad\nREDIS_PASS_CURRENT=" + current + "\nREDIS_ROTATION_PHASE=half\n");
    auto r = make_rotator(p);
    auto e = r.run_all();
    REQUIRE_FALSE(e);
    CHECK(e.error().is(errc::malformed));
    CHECK(e.error().detail.find("REDIS_ROTATION_PHASE") != std::string::npos);
    CHECK(e.error().detail.find(current) == std::string::npos);
  }
  // The original store is as it was unless the subcase meant to change it.
  const auto after = dualcred::rotation::stores::file_store(path).read();
  REQUIRE(after);
  CHECK(logs_in(credential{"bad", secret(current)}));
}

TEST_SUITE_END();

}  // namespace test_redis
