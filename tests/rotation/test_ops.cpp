// Day-2 operations against the real servers: init on an empty store, a consistent one (no
// change) and conflicting ones; due with a past and a future age (a fake clock, no sleeps);
// status as JSON and Prometheus text; stuck detection; both prefixes in one Vault secret.
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <string>

#include <doctest/doctest.h>
#include <dualcred/http/curl.hpp>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/pg/admin.hpp>
#include <dualcred/rotation/pg/create_user.hpp>
#include <dualcred/rotation/redis/admin.hpp>
#include <dualcred/rotation/redis/create_user.hpp>
#include <dualcred/rotation/report.hpp>
#include <dualcred/rotation/stores/vault.hpp>
#include <nlohmann/json.hpp>

#include <dualcred_testing/kv2_server.hpp>
#include <dualcred_testing/temp_dir.hpp>
#include "rotation_helpers.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_ops {

TEST_SUITE_BEGIN("rotation_ops");

using namespace std::chrono_literals;
using namespace dualcred;
using namespace dualcred::rotation;
using rotation_tests::pg_fixture;
using rotation_tests::redis_fixture;

namespace {

using rotation_tests::pg_admin;

// A clock the test moves.
struct fake_clock {
  std::shared_ptr<std::chrono::system_clock::time_point> t =
      std::make_shared<std::chrono::system_clock::time_point>(
          std::chrono::sys_days(std::chrono::year(2026) / 12 / 1) + 9h);
  void advance(std::chrono::seconds d) const { *t += d; }
  [[nodiscard]] std::function<std::chrono::system_clock::time_point()> fn() const {
    return [t = t] { return *t; };
  }
};

rotator_options opts(const fake_clock& clock, std::optional<password_policy> policy = {}) {
  rotator_options o;
  o.clock = clock.fn();
  o.policy = std::move(policy);
  return o;
}

std::string value(dualcred::rotation::stores::file_store& s, const std::string& key) {
  auto raw = s.read();
  REQUIRE(raw);
  const auto it = raw.value().data.find(key);
  return it == raw.value().data.end() ? std::string("<absent>") : std::string(it->second.reveal());
}

}  // namespace

TEST_CASE("init on an empty file store, again (no change), then due by a fake clock") {
  testing::temp_dir dir;
  const std::string path = (dir.path() / "db.env").string();
  pg_fixture().create_login_role("ops_init", "ops-init-present-pw");
  fake_clock clock;
  const auto policy =
      parse_password_policy("length=20,lower=2,upper=2,digit=2,symbol=2,exclude='\"\\@:/").value();
  rotator r(dualcred::rotation::stores::file_store(path),
            dualcred::rotation::pg::single_role_admin(pg_admin()), rotation_keys::for_prefix("DB"),
            opts(clock, policy));

  init_request req;
  req.user = "ops_init";
  req.current = secret("ops-init-present-pw");
  const auto first = r.init(req);
  REQUIRE_MESSAGE(first, first.error().detail);
  CHECK(first.value().changed);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(value(r.store(), "DB_USER") == "ops_init");
  CHECK(value(r.store(), "DB_PASS_CURRENT") == "ops-init-present-pw");
  CHECK(check_password(value(r.store(), "DB_PASS_NEXT"), policy));
  CHECK(value(r.store(), "DB_ROTATED_AT") == "2026-12-01T09:00:00Z");
  CHECK(value(r.store(), "DB_PASSWORD_POLICY") == policy.to_spec());
  CHECK(first.value().summary.find("ops-init-present-pw") == std::string::npos);

  // The same init again: consistent keys, nothing written.
  const auto again = r.init(req);
  REQUIRE_MESSAGE(again, again.error().detail);
  CHECK(!again.value().changed);
  CHECK(again.value().revision == first.value().revision);

  // A day later with a 30-day max age: nothing. Thirty-one days later: a whole rotation.
  clock.advance(24h);
  const auto early = r.due(30 * 24h);
  REQUIRE(early);
  CHECK(early.value().what == due_action::nothing);
  CHECK(early.value().summary.find("not due") != std::string::npos);
  CHECK(r.state().value().revision == first.value().revision);

  clock.advance(30 * 24h);
  // A rotator without a policy of its own uses the store's.
  rotator later(dualcred::rotation::stores::file_store(path),
                dualcred::rotation::pg::single_role_admin(pg_admin()),
                rotation_keys::for_prefix("DB"), opts(clock));
  const auto late = later.due(30 * 24h);
  REQUIRE_MESSAGE(late, late.error().detail);
  CHECK(late.value().what == due_action::rotated);
  CHECK(late.value().steps.size() == 5);
  const auto now = later.state().value();
  CHECK(now.phase == phase::idle);
  CHECK(value(later.store(), "DB_ROTATED_AT") == "2027-01-01T09:00:00Z");
  for (const char* key : {"DB_PASS_CURRENT", "DB_PASS_NEXT"})
    CHECK_MESSAGE(check_password(value(later.store(), key), policy), key);
  CHECK(value(later.store(), "DB_PASS_PREVIOUS") == "ops-init-present-pw");
  CHECK(later.admin().verify(now.current));

  // max age 0: always due.
  const auto zero = later.due(0s);
  REQUIRE(zero);
  CHECK(zero.value().what == due_action::rotated);
}

TEST_CASE("init conflicts: a refused CURRENT, half the keys, another user; nothing written") {
  testing::temp_dir dir;
  pg_fixture().create_login_role("ops_conflict", "ops-conflict-pw");
  fake_clock clock;
  auto make = [&](const std::string& path) {
    return rotator(dualcred::rotation::stores::file_store(path),
                   dualcred::rotation::pg::single_role_admin(pg_admin()),
                   rotation_keys::for_prefix("DB"), opts(clock));
  };
  init_request req;
  req.user = "ops_conflict";
  req.current = secret("not-the-password");
  {
    const std::string path = (dir.path() / "refused.env").string();
    auto r = make(path);
    const auto bad = r.init(req);
    REQUIRE(!bad);
    CHECK(bad.error().site == failure_site::order);
    CHECK(bad.error().what == condition::keys_conflict);
    CHECK(bad.error().detail.find("DB_PASS_CURRENT") != std::string::npos);
    CHECK(bad.error().detail.find("not-the-password") == std::string::npos);
    CHECK(!std::filesystem::exists(path));
  }
  {
    const std::string path =
        dir.write("half.env", "DB_USER=ops_conflict\nDB_PASS_CURRENT=ops-conflict-pw\nOTHER=1\n");
    auto r = make(path);
    req.current = secret("ops-conflict-pw");
    const auto half = r.init(req);
    REQUIRE(!half);
    CHECK(half.error().site == failure_site::order);
    CHECK(half.error().what == condition::keys_conflict);
    CHECK(half.error().detail.find("DB_PASS_NEXT") != std::string::npos);
    CHECK(value(r.store(), "DB_PASS_NEXT") == "<absent>");
  }
  {
    const std::string path = dir.write("user.env", "DB_USER=someone_else\n");
    auto r = make(path);
    const auto other = r.init(req);
    REQUIRE(!other);
    CHECK(other.error().detail.find("DB_USER") != std::string::npos);
  }
  {  // Consistent keys whose CURRENT the backend refuses.
    const std::string path = dir.write("stale.env",
                                       "DB_USER=ops_conflict\nDB_PASS_CURRENT=stale-current-pw-"
                                       "1234\nDB_PASS_NEXT=stale-next-pw-5678\n");
    auto r = make(path);
    init_request plain;
    plain.generate = true;
    const auto stale = r.init(plain);
    REQUIRE(!stale);
    CHECK(stale.error().site == failure_site::order);
    CHECK(stale.error().what == condition::keys_conflict);
    CHECK(stale.error().detail.find("refuses DB_PASS_CURRENT") != std::string::npos);
  }
}

TEST_CASE(
    "init --generate --create-user: a least-privilege role, then due finishes an "
    "interrupted rotation; status and stuck detection") {
  testing::temp_dir dir;
  pg_fixture().exec("DROP ROLE IF EXISTS ops_created");
  pg_fixture().exec(
      "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
      "'ops_readers') THEN CREATE ROLE ops_readers NOLOGIN; END IF; END $$");
  const std::string path = (dir.path() / "gen.env").string();
  fake_clock clock;
  rotator r(dualcred::rotation::stores::file_store(path),
            dualcred::rotation::pg::single_role_admin(pg_admin()), rotation_keys::for_prefix("DB"),
            opts(clock));
  init_request req;
  req.user = "ops_created";
  req.generate = true;
  req.create_user = [](const std::string& user) {
    return dualcred::rotation::pg::create_login_role(pg_admin(), user, {"ops_readers"});
  };
  const auto made = r.init(req);
  REQUIRE_MESSAGE(made, made.error().detail);
  const auto rows = pg_fixture().exec(
      "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, "
      "pg_has_role('ops_created', 'ops_readers', 'MEMBER') FROM pg_roles WHERE rolname = "
      "'ops_created'");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0] == std::vector<std::string>{"t", "f", "f", "f", "f", "f", "t"});
  const auto st = r.state().value();
  CHECK(r.admin().verify(st.current));
  CHECK(check_password(st.current.password.reveal(), password_policy::defaults()));

  // Interrupted after apply; two hours later the status says stuck past one hour.
  REQUIRE(r.prepare());
  REQUIRE(r.apply());
  clock.advance(2h);
  auto s = dualcred::rotation::make_status(r.state().value(), "DB", r.store().describe(), r.now());
  CHECK(s.stuck(1h));
  CHECK(!s.stuck(3h));
  const auto j = nlohmann::json::parse(dualcred::rotation::to_json(s, 1h));
  CHECK(j["phase"] == "applied");
  CHECK(j["current_user"] == "ops_created");
  CHECK(j["phase_age_seconds"] == 7200);
  CHECK(j["stuck"] == true);
  CHECK(j["next_step"] == "prepare");
  CHECK(j["revision"] == st.revision + 1);
  CHECK(j["rotated_at"] == "2026-12-01T09:00:00Z");
  const std::string prom = dualcred::rotation::to_prometheus(s);
  CHECK(prom.find("dualcred_rotation_phase{prefix=\"DB\",store=\"file store " + path +
                  "\",phase=\"applied\"} 1") != std::string::npos);
  CHECK(prom.find("dualcred_rotation_phase_age_seconds{") != std::string::npos);
  CHECK(prom.find(" 7200\n") != std::string::npos);

  // due with a far max age still finishes the interrupted rotation.
  const auto done = r.due(3650 * 24h);
  REQUIRE_MESSAGE(done, done.error().detail);
  CHECK(done.value().what == due_action::finished);
  const auto after = r.state().value();
  CHECK(after.phase == phase::idle);
  s = dualcred::rotation::make_status(after, "DB", r.store().describe(), r.now());
  CHECK(!s.stuck(0s));
  CHECK(nlohmann::json::parse(dualcred::rotation::to_json(s))["phase"] == "idle");
  CHECK(r.admin().verify(after.current));
}

// An existing role with powers beyond its own objects is not taken over by --create-user:
// init would set its password and hand the power to every holder of the store.
TEST_CASE("init --generate --create-user refuses an existing privileged role unless adopted") {
  pg_fixture().exec("DROP ROLE IF EXISTS ops_super");
  pg_fixture().exec("DROP ROLE IF EXISTS ops_creator");
  pg_fixture().exec("CREATE ROLE ops_super LOGIN SUPERUSER PASSWORD 'ops-super-own-pw'");
  pg_fixture().exec("CREATE ROLE ops_creator LOGIN CREATEROLE BYPASSRLS PASSWORD 'ops-cr-own-pw'");
  pg_fixture().exec(
      "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
      "'ops_readers') THEN CREATE ROLE ops_readers NOLOGIN; END IF; END $$");
  auto verifier = [](const char* role) {
    return pg_fixture().exec(std::string("SELECT rolpassword FROM pg_authid WHERE rolname = '") +
                             role + "'")[0][0];
  };
  auto member = [](const char* role) {
    return pg_fixture().exec(std::string("SELECT pg_has_role('") + role +
                             "', 'ops_readers', 'MEMBER')")[0][0];
  };
  const std::string super_before = verifier("ops_super");

  testing::temp_dir dir;
  const std::string path = (dir.path() / "super.env").string();
  fake_clock clock;
  rotator r(dualcred::rotation::stores::file_store(path),
            dualcred::rotation::pg::single_role_admin(pg_admin()), rotation_keys::for_prefix("DB"),
            opts(clock));
  init_request req;
  req.user = "ops_super";
  req.generate = true;
  req.create_user = [](const std::string& user) {
    return dualcred::rotation::pg::create_login_role(pg_admin(), user, {"ops_readers"});
  };
  const auto refused = r.init(req);
  REQUIRE(!refused);
  CHECK(refused.error().is(errc::invalid_argument));
  CHECK_MESSAGE(refused.error().detail.find("the role 'ops_super' already exists with SUPERUSER") !=
                    std::string::npos,
                refused.error().detail);
  // Nothing changed: its password, its memberships, the store.
  CHECK(verifier("ops_super") == super_before);
  CHECK(!std::filesystem::exists(path));

  // Each attribute is named; the role is left as it was.
  const std::string creator_before = verifier("ops_creator");
  const auto creator =
      dualcred::rotation::pg::create_login_role(pg_admin(), "ops_creator", {"ops_readers"});
  REQUIRE(!creator);
  CHECK_MESSAGE(creator.error().detail.find("'ops_creator' already exists with CREATEROLE, "
                                            "BYPASSRLS;") != std::string::npos,
                creator.error().detail);
  CHECK(verifier("ops_creator") == creator_before);
  CHECK(member("ops_creator") == "f");

  // Told to adopt: the role is kept as it is and init takes its password over.
  req.create_user = [](const std::string& user) {
    return dualcred::rotation::pg::create_login_role(pg_admin(), user, {"ops_readers"},
                                                     /*adopt_privileged=*/true);
  };
  const auto adopted = r.init(req);
  REQUIRE_MESSAGE(adopted, adopted.error().detail);
  CHECK(verifier("ops_super") != super_before);
  CHECK(pg_fixture().exec("SELECT rolsuper FROM pg_roles WHERE rolname = 'ops_super'")[0][0] ==
        "t");
  CHECK(r.admin().verify(r.state().value().current));
  CHECK(
      dualcred::rotation::pg::create_login_role(pg_admin(), "ops_creator", {"ops_readers"}, true));
  CHECK(member("ops_creator") == "t");
  pg_fixture().exec("DROP ROLE ops_super");
  pg_fixture().exec("DROP ROLE ops_creator");
}

TEST_CASE("init --generate --create-user on Redis: an ACL user with only the rules named") {
  testing::temp_dir dir;
  const std::string path = (dir.path() / "cache.env").string();
  const credential admin{redis_fixture().admin_user(), secret(redis_fixture().admin_password())};
  fake_clock clock;
  rotator r(dualcred::rotation::stores::file_store(path),
            dualcred::rotation::redis::acl_admin(rotation_tests::redis_params(), admin),
            rotation_keys::for_prefix("REDIS"), opts(clock));
  init_request req;
  req.user = "ops_cache";
  req.generate = true;
  req.create_user = [&](const std::string& user) {
    return dualcred::rotation::redis::create_acl_user(rotation_tests::redis_params(), admin, user,
                                                      {"~cache:*", "+get", "+set"});
  };
  const auto made = r.init(req);
  REQUIRE_MESSAGE(made, made.error().detail);
  const auto st = r.state().value();
  CHECK(st.current.user == "ops_cache");
  dualcred::redis::connector connect(rotation_tests::redis_params());
  auto conn = connect(st.current);
  REQUIRE(conn);
  auto run = [&](const char* cmd) {
    std::unique_ptr<redisReply, void (*)(void*)> reply(
        static_cast<redisReply*>(redisCommand(conn.value().get(), cmd)), freeReplyObject);
    REQUIRE(reply);
    return reply->type == REDIS_REPLY_ERROR ? std::string(reply->str, reply->len)
                                            : std::string("ok");
  };
  CHECK(run("SET cache:x 1") == "ok");
  CHECK(run("SET other:x 1").starts_with("NOPERM"));
  CHECK(run("DEL cache:x").starts_with("NOPERM"));
  // A password rule is refused before anything is sent.
  const auto bad = dualcred::rotation::redis::create_acl_user(rotation_tests::redis_params(), admin,
                                                              "ops_bad", {">sneaky-password"});
  REQUIRE(!bad);
  CHECK(bad.error().detail.find("sneaky") == std::string::npos);
}

TEST_CASE(
    "Vault: init DB and REDIS at one path (create-only, then add keys), then a whole "
    "rotation of DB leaves every REDIS key as it was") {
  kv2test::kv2_server kv;
  using store_t = dualcred::rotation::stores::vault_store<curl_transport>;
  pg_fixture().create_login_role("ops_vault", "ops-vault-db-pw");
  redis_fixture().set_user("ops_vault", {"ops-vault-redis-pw"});
  fake_clock clock;
  rotator db(store_t(curl_transport{}, kv.config("mutt/prod")),
             dualcred::rotation::pg::single_role_admin(pg_admin()), rotation_keys::for_prefix("DB"),
             opts(clock));
  rotator rd(
      store_t(curl_transport{}, kv.config("mutt/prod")),
      dualcred::rotation::redis::acl_admin(
          rotation_tests::redis_params(),
          credential{redis_fixture().admin_user(), secret(redis_fixture().admin_password())}),
      rotation_keys::for_prefix("REDIS"), opts(clock));
  init_request dbreq;
  dbreq.user = "ops_vault";
  dbreq.current = secret("ops-vault-db-pw");
  const auto a = db.init(dbreq);
  REQUIRE_MESSAGE(a, a.error().detail);
  CHECK(a.value().revision == 1);  // check-and-set 0: created
  init_request rdreq;
  rdreq.user = "ops_vault";
  rdreq.current = secret("ops-vault-redis-pw");
  const auto b = rd.init(rdreq);
  REQUIRE_MESSAGE(b, b.error().detail);
  CHECK(b.value().revision == 2);
  CHECK(!db.init(dbreq).value().changed);
  CHECK(!rd.init(rdreq).value().changed);

  auto redis_keys = [&] {
    auto raw = db.store().read();
    REQUIRE(raw);
    secret_map out;
    for (const auto& [k, v] : raw.value().data)
      if (k.starts_with("REDIS_")) out.insert_or_assign(k, v);
    return out;
  };
  const secret_map before = redis_keys();
  CHECK(before.size() >= 4);
  clock.advance(24h);
  const auto all = db.run_all();
  REQUIRE_MESSAGE(all, all.error().detail);
  CHECK(redis_keys() == before);
  auto raw = db.store().read();
  REQUIRE(raw);
  const secret_map& data = raw.value().data;
  CHECK(data.at("DB_ROTATED_AT").reveal() == "2026-12-02T09:00:00Z");
  CHECK(data.at("REDIS_ROTATED_AT").reveal() == "2026-12-01T09:00:00Z");
}

TEST_SUITE_END();

}  // namespace test_ops
