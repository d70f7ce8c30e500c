// The runbook with a Vault KV v2 store (through curl_transport, against the KV v2 test
// server): one secret holds the PostgreSQL and the Redis logins, each rotated in turn while
// clients read it with the Vault provider, and the fleet check reads the clients' status.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/http/curl.hpp>
#include <dualcred/provider/vault.hpp>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/fleet/http_check.hpp>
#include <dualcred/rotation/pg/admin.hpp>
#include <dualcred/rotation/redis/admin.hpp>
#include <dualcred/rotation/stores/vault.hpp>

#include <dualcred_testing/kv2_server.hpp>
#include "rotation_helpers.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_vault {

TEST_SUITE_BEGIN("rotation_vault");

using namespace std::chrono_literals;
using namespace dualcred;
using namespace dualcred::rotation;
using kv2test::kv2_server;
using rotation_tests::pg_fixture;
using rotation_tests::redis_fixture;

namespace {

using store_t = rotation::stores::vault_store<curl_transport>;

store_t store_of(const kv2_server& s, const std::string& path = "mutt/prod") {
  return store_t(curl_transport{}, s.config(path));
}

using rotation_tests::pg_admin;

credential redis_admin_cred() {
  return {redis_fixture().admin_user(), secret(redis_fixture().admin_password())};
}

// Seeds secret/<path> with a DB role and a Redis user, both created on the servers.
void seed(const kv2_server& s, const std::string& path, const std::string& stem) {
  const std::string db_pw = "db-" + testing::random_token(16);
  const std::string rd_pw = "rd-" + testing::random_token(16);
  pg_fixture().create_login_role(stem, db_pw);
  redis_fixture().set_user(stem, {rd_pw});
  REQUIRE(s.put(path, "{\"DB_USER\":\"" + stem + "\",\"DB_PASS_CURRENT\":\"" + db_pw +
                          "\",\"REDIS_USER\":\"" + stem + "\",\"REDIS_PASS_CURRENT\":\"" + rd_pw +
                          "\",\"OTHER_SETTING\":\"kept\"}") < 300);
}

}  // namespace

TEST_CASE("Vault store: PostgreSQL and Redis rotated in one secret, clients never fail") {
  kv2_server s;
  seed(s, "mutt/prod", "vault_soak");
  auto pg_dc = make_dual_credential(dualcred::pg::connector(rotation_tests::pg_params()),
                                    vault_kv2_provider(curl_transport{}, s.config()),
                                    rotation_tests::client_options());
  auto rd_dc = make_dual_credential(
      dualcred::redis::connector(rotation_tests::redis_params()),
      vault_kv2_provider(curl_transport{}, s.config(), key_names::for_prefix("REDIS")),
      rotation_tests::client_options());
  REQUIRE(pg_dc);
  REQUIRE(rd_dc);
  auto& pg_creds = pg_dc.value();
  auto& rd_creds = rd_dc.value();
  rotation_tests::clients<std::remove_reference_t<decltype(pg_creds)>> pg_clients(pg_creds, 2);
  rotation_tests::clients<std::remove_reference_t<decltype(rd_creds)>> rd_clients(rd_creds, 2);

  // The fleet: both dual_credentials' status, as one health endpoint would serve them.
  rotator_options o;
  o.instances = fleet::http_check{
      {"health"},
      [&](const std::string&, std::chrono::milliseconds) -> result<std::string> {
        return fmt::format(R"({{"db":{},"redis":{}}})", pg_creds.snapshot(), rd_creds.snapshot());
      },
      10s,
      20ms,
      {}};
  // No settle, even for the single role: the fleet check waits out connects in flight.
  rotator db(store_of(s), dualcred::rotation::pg::single_role_admin(pg_admin()),
             rotation_keys::for_prefix("DB"), o);
  rotator rd(
      store_of(s),
      dualcred::rotation::redis::acl_admin(rotation_tests::redis_params(), redis_admin_cred()),
      rotation_keys::for_prefix("REDIS"), o);
  int n = rotation_tests::cycles();
  if (n > 5 && std::getenv("DUALCRED_ROTATION_CYCLES") == nullptr) n = 5;  // the file soaks do 10
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    auto a = db.run_all();
    REQUIRE_MESSAGE(a, a.error().detail);
    auto b = rd.run_all();
    REQUIRE_MESSAGE(b, b.error().detail);
  }
  std::this_thread::sleep_for(100ms);
  pg_clients.stop();
  rd_clients.stop();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  pg_clients.counts.report("postgres via Vault");
  rd_clients.counts.report("redis via Vault");
  MESSAGE("Vault soak: " << n << " cycles each, postgres " << pg_clients.counts.ok.load()
                         << " connects / " << pg_clients.counts.failed.load() << " failed, redis "
                         << rd_clients.counts.ok.load() << " / " << rd_clients.counts.failed.load()
                         << ", " << ms << " ms");
  CHECK(pg_clients.counts.failed == 0);
  CHECK(rd_clients.counts.failed == 0);
  CHECK(pg_clients.counts.ok > 0);
  CHECK(rd_clients.counts.ok > 0);

  // Every write accounted for: the seed, then per backend the first prepare and four writes
  // per cycle.
  auto meta = store_of(s).kv().metadata();
  REQUIRE(meta);
  CHECK(meta.value().current_version == static_cast<std::uint64_t>(1 + 2 * (1 + 4 * n)));
  auto latest = store_of(s).read();
  REQUIRE(latest);
  CHECK(latest.value().data.at("OTHER_SETTING").reveal() == "kept");
  for (const char* prefix : {"DB", "REDIS"}) {
    auto st = parse_state(latest.value().data, rotation_keys::for_prefix(prefix), "Vault");
    REQUIRE(st);
    CHECK(st.value().phase == phase::idle);
    CHECK(st.value().next);
    CHECK(st.value().previous);
  }
  // The clients report the last KV version: the fleet check's currency. The Redis rotation's
  // last write may postdate the PostgreSQL clients' last refresh, so wait one refresh interval
  // and connect once: that connect refreshes synchronously (no other client is running).
  std::this_thread::sleep_for(rotation_tests::client_options().refresh_interval + 10ms);
  auto last = pg_creds.connect();
  CHECK_MESSAGE(last, (last ? "" : last.error().detail));
  CHECK(pg_creds.snapshot().version == std::to_string(meta.value().current_version));
}

TEST_CASE("Vault store: two rotators racing on promote, exactly one wins (check-and-set)") {
  kv2_server s;
  seed(s, "mutt/race", "vault_race");
  rotator prep(
      store_of(s, "mutt/race"),
      dualcred::rotation::redis::acl_admin(rotation_tests::redis_params(), redis_admin_cred()),
      rotation_keys::for_prefix("REDIS"));
  REQUIRE(prep.prepare());
  REQUIRE(prep.apply());
  const auto before = store_of(s, "mutt/race").read().value().revision;
  std::atomic<int> promoted{0}, conflicts{0}, unchanged{0};
  std::vector<std::thread> racers;
  for (int i = 0; i < 4; ++i)
    racers.emplace_back([&] {
      rotator r(
          store_of(s, "mutt/race"),
          dualcred::rotation::redis::acl_admin(rotation_tests::redis_params(), redis_admin_cred()),
          rotation_keys::for_prefix("REDIS"));
      auto done = r.promote();
      if (done && done.value().changed)
        ++promoted;
      else if (done)
        ++unchanged;
      else if (done.error().is(errc::conflict) || done.error().is(errc::locked))
        ++conflicts;  // lost the check-and-set, or found the winner holding the lock
    });
  for (auto& t : racers) t.join();
  CHECK(promoted == 1);
  CHECK(promoted + conflicts + unchanged == 4);
  CHECK(store_of(s, "mutt/race").read().value().revision == before + 1);
  auto st = prep.state();
  REQUIRE(st);
  CHECK(st.value().phase == phase::promoted);
  REQUIRE(prep.run_all());
}

TEST_CASE("Vault store: unreachable, refused token, missing secret: clear errors") {
  kv2_server s;
  seed(s, "mutt/bad", "vault_bad");
  SUBCASE("unreachable") {
    vault_config c = s.config("mutt/bad");
    c.address = "http://127.0.0.1:" + std::to_string(testing::free_port());
    rotator r(
        store_t(curl_transport{}, std::move(c)),
        dualcred::rotation::redis::acl_admin(rotation_tests::redis_params(), redis_admin_cred()),
        rotation_keys::for_prefix("REDIS"));
    auto e = r.run_all();
    REQUIRE_FALSE(e);
    CHECK(e.error().is(errc::provider_unavailable));
    CHECK(e.error().site == failure_site::store);
  }
  SUBCASE("token refused") {
    rotator r(
        store_t(curl_transport{}, s.config("mutt/bad", "not-a-token")),
        dualcred::rotation::redis::acl_admin(rotation_tests::redis_params(), redis_admin_cred()),
        rotation_keys::for_prefix("REDIS"));
    auto e = r.prepare();
    REQUIRE_FALSE(e);
    CHECK(e.error().is(errc::permission_denied));
    CHECK(e.error().detail.find("not-a-token") == std::string::npos);
  }
  SUBCASE("missing secret") {
    rotator r(
        store_of(s, "mutt/none"),
        dualcred::rotation::redis::acl_admin(rotation_tests::redis_params(), redis_admin_cred()),
        rotation_keys::for_prefix("REDIS"));
    auto e = r.prepare();
    REQUIRE_FALSE(e);
    CHECK(e.error().is(errc::not_found));
    CHECK(e.error().detail.find("mutt/none") != std::string::npos);
  }
  // Nothing was written by any of them.
  CHECK(store_of(s, "mutt/bad").read().value().revision == 1);
}

TEST_SUITE_END();

}  // namespace test_vault
