// vault_kv2_client against the KV v2 test server: metadata, reading any version (rollback),
// check-and-set writes and their conflicts, cas_required, deleted versions and max_versions.

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/provider/vault/kv2_client.hpp>

#include <dualcred_testing/kv2_server.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_vault_store {

TEST_SUITE_BEGIN("vault_store");

using namespace dualcred;
using kv2test::kv2_server;

namespace {

secret_map values(std::initializer_list<std::pair<const char*, const char*>> kv) {
  secret_map out;
  for (const auto& [k, v] : kv) out.emplace(k, secret(v));
  return out;
}

}  // namespace

TEST_CASE("metadata, versions and rollback reads") {
  kv2_server s;
  kv2test::seed_mutt(s);
  vault_kv2_client store(curl_transport{}, s.config());
  auto m = store.metadata();
  REQUIRE(m);
  CHECK(m.value().current_version == 1);
  CHECK(m.value().versions.size() == 1);

  auto v2 = store.write(values({{"DB_USER", "mutt"}, {"DB_PASS_CURRENT", "db-next-2"}}), 1);
  REQUIRE(v2);
  CHECK(v2.value() == 2);

  auto latest = store.read();
  REQUIRE(latest);
  CHECK(latest.value().metadata.version == 2);
  CHECK(latest.value().values.size() == 2);
  CHECK(latest.value().values.at("DB_PASS_CURRENT").reveal() == "db-next-2");

  auto old = store.read(1);
  REQUIRE(old);
  CHECK(old.value().metadata.version == 1);
  CHECK(old.value().values.at("DB_PASS_CURRENT").reveal() == "db-current-1");
  CHECK(old.value().values.at("REDIS_PASS_NEXT").reveal() == "redis-next-2");

  auto none = store.read(9);
  REQUIRE_FALSE(none);
  CHECK(none.error().is(errc::not_found));
  CHECK(store.metadata().value().current_version == 2);
}

TEST_CASE("check-and-set: a stale version is a conflict, 0 means create only") {
  kv2_server s;
  vault_kv2_client store(curl_transport{}, s.config("mutt/new"));
  CHECK(store.metadata().error().is(errc::not_found));
  auto created = store.write(values({{"A", "1"}}), 0);
  REQUIRE(created);
  CHECK(created.value() == 1);
  auto again = store.write(values({{"A", "2"}}), 0);
  REQUIRE_FALSE(again);
  CHECK(again.error().is(errc::conflict));
  CHECK(again.error().detail.find("check-and-set") != std::string::npos);
  auto stale = store.write(values({{"A", "2"}}), 5);
  REQUIRE_FALSE(stale);
  CHECK(stale.error().is(errc::conflict));
  CHECK(store.write(values({{"A", "2"}}), 1).value() == 2);
  CHECK(store.write(values({{"A", "3"}}), std::nullopt).value() == 3);  // no CAS, not required
}

TEST_CASE("two writers racing with one CAS version: exactly one wins") {
  kv2_server s;
  kv2test::seed_mutt(s);
  std::atomic<int> won{0}, conflicts{0};
  std::vector<std::thread> writers;
  for (int i = 0; i < 4; ++i)
    writers.emplace_back([&, i] {
      vault_kv2_client store(curl_transport{}, s.config());
      auto r = store.write(values({{"DB_PASS_CURRENT", i % 2 ? "a-pass" : "b-pass"}}), 1);
      if (r)
        ++won;
      else if (r.error().is(errc::conflict))
        ++conflicts;
    });
  for (auto& t : writers) t.join();
  CHECK(won == 1);
  CHECK(conflicts == 3);
}

TEST_CASE("cas_required: a write without CAS is refused") {
  kv2_server s;
  s.admin("mount", R"({"path":"strict","cas_required":true})");
  auto cfg = s.config("mutt/prod");
  cfg.mount = "strict";
  vault_kv2_client store(curl_transport{}, cfg);
  auto refused = store.write(values({{"A", "1"}}), std::nullopt);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().is(errc::invalid_argument));
  CHECK(refused.error().detail.find("check-and-set parameter required") != std::string::npos);
  CHECK(store.write(values({{"A", "1"}}), 0).value() == 1);
}

TEST_CASE("deleted versions and max_versions") {
  kv2_server s;
  kv2test::seed_mutt(s);
  vault_kv2_client store(curl_transport{}, s.config());
  REQUIRE(store.write(values({{"DB_PASS_CURRENT", "v2"}}), 1));
  REQUIRE(s.request("POST", "/v1/secret/delete/mutt/prod", R"({"versions":[2]})").status == 204);
  auto deleted = store.read();
  REQUIRE_FALSE(deleted);
  CHECK(deleted.error().is(errc::not_found));
  CHECK(deleted.error().detail.find("version 2 is deleted") != std::string::npos);
  auto m = store.metadata();
  REQUIRE(m);
  CHECK(m.value().versions.at(2).deleted());
  CHECK_FALSE(m.value().versions.at(1).deleted());
  CHECK(store.read(1));

  REQUIRE(s.request("POST", "/v1/secret/metadata/mutt/prod", R"({"max_versions":2})").status ==
          204);
  REQUIRE(store.write(values({{"DB_PASS_CURRENT", "v3"}}), 2));
  REQUIRE(store.write(values({{"DB_PASS_CURRENT", "v4"}}), 3));
  auto pruned = store.metadata();
  REQUIRE(pruned);
  CHECK(pruned.value().max_versions == 2);
  CHECK(pruned.value().versions.size() == 2);
  CHECK(pruned.value().oldest_version == 3);
  CHECK(store.read(1).error().is(errc::not_found));
}

TEST_CASE("non-string values, and writes the policy does not allow") {
  kv2_server s;
  s.put("mixed", R"({"A":"text","PORT":5432})");
  vault_kv2_client mixed(curl_transport{}, s.config("mixed"));
  auto r = mixed.read();
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::malformed));
  CHECK(r.error().detail.find("PORT") != std::string::npos);

  kv2test::seed_mutt(s);
  s.admin(
      "policy",
      R"({"name":"ro","rules":[{"path":"secret/data/mutt/prod","capabilities":["read"]},{"path":"secret/metadata/mutt/*","capabilities":["deny"]}]})");
  s.admin("token", R"({"id":"hvs.read-only","policies":["ro"]})");
  vault_kv2_client ro(curl_transport{}, s.config("mutt/prod", "hvs.read-only"));
  CHECK(ro.read());
  auto w = ro.write(values({{"DB_PASS_CURRENT", "new-secret-pw"}}), 1);
  REQUIRE_FALSE(w);
  CHECK(w.error().is(errc::permission_denied));
  CHECK(w.error().detail.find("new-secret-pw") == std::string::npos);
  CHECK(w.error().detail.find("hvs.read-only") == std::string::npos);
  CHECK(ro.metadata().error().is(errc::permission_denied));
}

TEST_SUITE_END();

}  // namespace test_vault_store
