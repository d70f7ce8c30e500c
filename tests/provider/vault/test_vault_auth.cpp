// Authentication against the KV v2 test server: AppRole and Kubernetes logins, renewal before
// expiry, logging in again when a token cannot be renewed, nears its max TTL or is revoked,
// and configured tokens that are renewed too. Short TTLs keep the waits near two seconds.

#include <fstream>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <dualcred/provider/vault.hpp>

#include <dualcred_testing/kv2_server.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_vault_auth {

TEST_SUITE_BEGIN("vault_auth");

using namespace dualcred;
using kv2test::kv2_server;
using kv2test::root_token;

namespace {

void grant_read(const kv2_server& s) {
  s.admin(
      "policy",
      R"({"name":"mutt-read","rules":[{"path":"secret/data/mutt/*","capabilities":["read"]}]})");
}

vault_config approle_config(const kv2_server& s, const std::string& mount,
                            const std::string& secret_id = "sid-secret") {
  auto c = s.config();
  c.token = secret();
  c.approle = vault_approle_login{"rid-" + mount, secret(secret_id), mount};
  return c;
}

void add_role(const kv2_server& s, const std::string& mount, int ttl, int max_ttl, bool renewable) {
  s.admin("approle", R"({"mount":")" + mount + R"(","role":"mutt","role_id":"rid-)" + mount +
                         R"(","secret_id":"sid-secret","policies":["mutt-read"],"token_ttl":)" +
                         std::to_string(ttl) + R"(,"token_max_ttl":)" + std::to_string(max_ttl) +
                         R"(,"renewable":)" + (renewable ? "true" : "false") + "}");
}

long logins(const kv2_server& s, const std::string& mount) {
  return s.stat("POST /v1/auth/" + mount + "/login");
}

}  // namespace

TEST_CASE("AppRole: logs in once and reads with the token it got") {
  kv2_server s;
  kv2test::seed_mutt(s);
  grant_read(s);
  add_role(s, "approle", 600, 0, true);
  vault_kv2_provider p(curl_transport{}, approle_config(s, "approle"));
  auto first = p.load();
  REQUIRE(first);
  CHECK(first.value().current.password.reveal() == "db-current-1");
  REQUIRE(p.load());
  CHECK(logins(s, "approle") == 1);
  CHECK(s.stat("renewals") == 0);
}

TEST_CASE("AppRole: a wrong secret_id fails without showing it") {
  kv2_server s;
  kv2test::seed_mutt(s);
  grant_read(s);
  add_role(s, "approle", 600, 0, true);
  vault_kv2_provider p(curl_transport{}, approle_config(s, "approle", "sid-wrong-value"));
  auto r = p.load();
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::invalid_argument));  // Vault answers 400
  CHECK(r.error().detail.find("approle login") != std::string::npos);
  CHECK(r.error().detail.find("sid-wrong-value") == std::string::npos);
}

TEST_CASE("Kubernetes: logs in with the service account JWT from its file") {
  kv2_server s;
  kv2test::seed_mutt(s);
  grant_read(s);
  s.admin("kubernetes",
          R"({"role":"mutt","jwt":"eyJ.test-jwt.sig","policies":["mutt-read"],"ttl":600})");
  const std::string jwt_file = s.dir() + "/token";
  std::ofstream(jwt_file) << "eyJ.test-jwt.sig\n";
  auto c = s.config();
  c.token = secret();
  c.kubernetes = vault_kubernetes_login{"mutt", jwt_file, "kubernetes"};
  vault_kv2_provider p(curl_transport{}, c);
  auto r = p.load();
  REQUIRE(r);
  CHECK(r.value().current.user == "mutt");
  CHECK(logins(s, "kubernetes") == 1);

  std::ofstream(jwt_file) << "eyJ.another-jwt.sig";
  c.kubernetes->role = "mutt";
  vault_kv2_provider wrong(curl_transport{}, c);
  auto denied = wrong.load();
  REQUIRE_FALSE(denied);
  CHECK(denied.error().is(errc::permission_denied));
  CHECK(denied.error().detail.find("eyJ.another-jwt.sig") == std::string::npos);

  c.kubernetes->jwt_file = s.dir() + "/absent";
  vault_kv2_provider missing(curl_transport{}, c);
  auto nf = missing.load();
  REQUIRE_FALSE(nf);
  CHECK(nf.error().is(errc::not_found));
}

TEST_CASE("tokens are renewed before they expire, or replaced by a new login") {
  kv2_server s;
  kv2test::seed_mutt(s);
  grant_read(s);
  add_role(s, "renewable", 3, 0, true);  // renewed at 2 s
  add_role(s, "fixed", 3, 0, false);     // cannot be renewed: log in again
  add_role(s, "capped", 3, 3, true);     // a renewal would give ~1 s: log in again
  vault_kv2_provider renewable(curl_transport{}, approle_config(s, "renewable"));
  vault_kv2_provider fixed(curl_transport{}, approle_config(s, "fixed"));
  vault_kv2_provider capped(curl_transport{}, approle_config(s, "capped"));
  REQUIRE(renewable.load());
  REQUIRE(fixed.load());
  REQUIRE(capped.load());
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  REQUIRE(renewable.load());
  REQUIRE(fixed.load());
  REQUIRE(capped.load());
  CHECK(logins(s, "renewable") == 1);
  CHECK(logins(s, "fixed") == 2);
  CHECK(logins(s, "capped") == 2);
  CHECK(s.stat("renewals") == 2);  // renewable's, and capped's that came back too short
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // the first tokens' 3 s end
  CHECK(renewable.load());
  CHECK(fixed.load());
  CHECK(capped.load());
}

TEST_CASE("a revoked login token: 403, log in again, retry once") {
  kv2_server s;
  kv2test::seed_mutt(s);
  grant_read(s);
  add_role(s, "approle", 600, 0, true);
  vault_kv2_provider p(curl_transport{}, approle_config(s, "approle"));
  REQUIRE(p.load());
  s.admin("revoke", R"({"all":true})");
  auto r = p.load();
  REQUIRE(r);
  CHECK(logins(s, "approle") == 2);
}

TEST_CASE("a configured token with a TTL is looked up once and renewed; a root token is not") {
  kv2_server s;
  kv2test::seed_mutt(s);
  grant_read(s);
  s.admin("token", R"({"id":"hvs.short-lived","policies":["mutt-read"],"ttl":3,"renewable":true})");
  vault_kv2_provider p(curl_transport{}, s.config("mutt/prod", "hvs.short-lived"));
  REQUIRE(p.load());
  REQUIRE(p.load());
  CHECK(s.stat("GET /v1/auth/token/lookup-self") == 1);
  CHECK(s.stat("renewals") == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  REQUIRE(p.load());
  CHECK(s.stat("renewals") == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // past the first 3 s
  CHECK(p.load());

  vault_kv2_provider root(curl_transport{}, s.config());
  REQUIRE(root.load());
  REQUIRE(root.load());
  CHECK(s.stat("renewals") == 1);
  CHECK(s.stat("GET /v1/auth/token/lookup-self") == 2);
}

TEST_SUITE_END();

}  // namespace test_vault_auth
