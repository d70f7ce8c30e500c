// dual_credential over the Vault provider (through curl, against the KV v2 test server) with a
// scripted connector standing in for the database: a Vault outage during a reload keeps the
// cached set serving, and a rotation written to Vault is picked up after a refusal.

#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <doctest/doctest.h>
#include <dualcred/dual_credential.hpp>
#include <dualcred/provider/vault.hpp>

#include <dualcred_testing/kv2_server.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_vault_dual_credential {

TEST_SUITE_BEGIN("vault_dual_credential");

using namespace dualcred;
using kv2test::kv2_server;

namespace {

// The database: which passwords it accepts right now.
struct database {
  std::mutex mutex;
  std::set<std::string> accepted;
  void accept_only(std::set<std::string> p) {
    std::lock_guard lock(mutex);
    accepted = std::move(p);
  }
};

struct scripted_connector {
  std::shared_ptr<database> db;
  result<int> operator()(const credential& c) const {
    std::lock_guard lock(db->mutex);
    if (db->accepted.count(std::string(c.password.reveal())) != 0) return 1;
    return fail(errc::auth_rejected, "password authentication failed for user " + c.user);
  }
};

options quick() {
  options o;
  o.min_reload_interval = std::chrono::milliseconds(10);
  return o;
}

void no_secrets_in(const std::string& detail) {
  for (const char* s : {"db-current-1", "db-next-2", "db-third-3", "root-token-for-tests"})
    CHECK_MESSAGE(detail.find(s) == std::string::npos, detail);
}

// A dual_credential reading its set from `s`, over `db` accepting "db-current-1"; its first
// connect already made.
auto connected_through_vault(kv2_server& s, const std::shared_ptr<database>& db) {
  db->accept_only({"db-current-1"});
  auto made = make_dual_credential(scripted_connector{db},
                                   vault_kv2_provider(curl_transport{}, s.config()), quick());
  REQUIRE(made);
  REQUIRE(made.value().connect());
  return std::move(made).value();
}

}  // namespace

TEST_CASE("a Vault outage during a reload keeps the cached set serving") {
  kv2_server s;
  kv2test::seed_mutt(s);
  auto db = std::make_shared<database>();
  auto creds = connected_through_vault(s, db);

  s.admin("seal", R"({"sealed":true})");
  auto reload = creds.reload();
  REQUIRE_FALSE(reload);
  CHECK(reload.error().is(errc::provider_unavailable));
  CHECK(reload.error().detail.find("Vault is sealed") != std::string::npos);
  no_secrets_in(reload.error().detail);
  for (int i = 0; i < 5; ++i) CHECK(creds.connect());

  s.admin("fault", R"({"kind":"drop","count":-1})");
  CHECK_FALSE(creds.reload());
  CHECK(creds.connect());
  const status st = creds.snapshot();
  CHECK(st.reload_failures == 2);
  CHECK(st.version == "1");
  CHECK(st.connects_via_current == 7);
}

TEST_CASE("a rotation written to Vault is picked up when the database refuses") {
  kv2_server s;
  kv2test::seed_mutt(s, "");  // no NEXT yet
  auto db = std::make_shared<database>();
  auto creds = connected_through_vault(s, db);

  // Rotation: the new password goes in as NEXT, then the database switches to it.
  s.put("mutt/prod",
        R"({"DB_USER":"mutt","DB_PASS_CURRENT":"db-current-1","DB_PASS_NEXT":"db-next-2"})");
  db->accept_only({"db-next-2"});
  auto c = creds.connect();  // CURRENT refused, no NEXT cached: reload, then NEXT works
  REQUIRE(c);
  CHECK(creds.snapshot().version == "2");
  CHECK(creds.snapshot().connects_via_next == 1);

  // The database moves on while Vault is down: all_rejected naming both causes, no secret.
  db->accept_only({"db-third-3"});
  s.admin("seal", R"({"sealed":true})");
  auto refused = creds.connect();
  REQUIRE_FALSE(refused);
  CHECK(refused.error().is(errc::all_rejected));
  CHECK(refused.error().detail.find("reload failed") != std::string::npos);
  no_secrets_in(refused.error().detail);

  s.admin("seal", R"({"sealed":false})");
  s.put("mutt/prod", R"({"DB_USER":"mutt","DB_PASS_CURRENT":"db-third-3"})");
  REQUIRE(creds.connect());
  CHECK(creds.snapshot().version == "3");
}

TEST_SUITE_END();

}  // namespace test_vault_dual_credential
