// vault_kv2_provider through curl_transport against the KV v2 test server: the seed's layout,
// versions, policies, namespaces, deleted versions, outages and bad bodies, and that no
// detail holds the token or a password.

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/provider/vault.hpp>

#include <dualcred_testing/kv2_server.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_vault_provider {

TEST_SUITE_BEGIN("vault_provider");

using namespace dualcred;
using kv2test::kv2_server;
using kv2test::root_token;

namespace {

const std::vector<std::string> never_shown = {
    root_token, "db-current-1", "db-next-2", "redis-current-1", "redis-next-2", "hvs.reader-token"};

void no_secrets_in(const error& e) {
  for (const auto& s : never_shown) CHECK_MESSAGE(e.detail.find(s) == std::string::npos, e.detail);
}

curl_transport quick_curl() {
  curl_options o;
  o.timeout = std::chrono::milliseconds(2000);
  return curl_transport(o);
}

vault_kv2_provider<curl_transport> db(vault_config c) {
  return vault_kv2_provider(quick_curl(), std::move(c), key_names::for_prefix("DB"));
}

}  // namespace

TEST_CASE("the seed's secret gives DB and REDIS sets, versioned by KV version") {
  kv2_server s;
  kv2test::seed_mutt(s);
  auto p = db(s.config());
  auto set = p.load();
  REQUIRE(set);
  CHECK(set.value().current.user == "mutt");
  CHECK(set.value().current.password.reveal() == "db-current-1");
  REQUIRE(set.value().next);
  CHECK(set.value().next->password.reveal() == "db-next-2");
  CHECK(set.value().version == "1");

  vault_kv2_provider redis(curl_transport{}, s.config(), key_names::for_prefix("REDIS"));
  auto r = redis.load();
  REQUIRE(r);
  CHECK(r.value().current.user == "default");
  CHECK(r.value().current.password.reveal() == "redis-current-1");
  CHECK(r.value().next->password.reveal() == "redis-next-2");

  // Promote NEXT: a new KV version, and the provider sees it.
  s.put("mutt/prod", R"({"DB_USER":"mutt","DB_PASS_CURRENT":"db-next-2"})");
  auto after = p.load();
  REQUIRE(after);
  CHECK(after.value().version == "2");
  CHECK(after.value().current.password.reveal() == "db-next-2");
  CHECK_FALSE(after.value().next);
  CHECK(s.stat("missing_x_vault_request") == 0);
}

TEST_CASE("missing secret, missing key, wrong type") {
  kv2_server s;
  auto missing = db(s.config("nothing/here")).load();
  REQUIRE_FALSE(missing);
  CHECK(missing.error().is(errc::not_found));
  CHECK(missing.error().detail.find("secret/nothing/here") != std::string::npos);

  s.put("mutt/prod", R"({"DB_USER":"mutt","DB_PASS_NEXT":"db-next-2"})");
  auto no_current = db(s.config()).load();
  REQUIRE_FALSE(no_current);
  CHECK(no_current.error().is(errc::not_found));
  CHECK(no_current.error().detail.find("DB_PASS_CURRENT") != std::string::npos);

  s.put("mutt/prod", R"({"DB_USER":"mutt","DB_PASS_CURRENT":["db-current-1"]})");
  auto wrong = db(s.config()).load();
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().is(errc::malformed));
  CHECK(wrong.error().detail.find("DB_PASS_CURRENT") != std::string::npos);
  no_secrets_in(wrong.error());
}

TEST_CASE("a soft-deleted or destroyed latest version is not_found; undelete restores it") {
  kv2_server s;
  kv2test::seed_mutt(s);
  auto p = db(s.config());
  REQUIRE(s.request("DELETE", "/v1/secret/data/mutt/prod").status == 204);
  auto deleted = p.load();
  REQUIRE_FALSE(deleted);
  CHECK(deleted.error().is(errc::not_found));
  CHECK(deleted.error().detail.find("version 1 is deleted") != std::string::npos);

  REQUIRE(s.request("POST", "/v1/secret/undelete/mutt/prod", R"({"versions":[1]})").status == 204);
  CHECK(p.load());

  REQUIRE(s.request("POST", "/v1/secret/destroy/mutt/prod", R"({"versions":[1]})").status == 204);
  auto destroyed = p.load();
  REQUIRE_FALSE(destroyed);
  CHECK(destroyed.error().is(errc::not_found));
  CHECK(destroyed.error().detail.find("destroyed") != std::string::npos);
}

TEST_CASE("policies: a token without read is permission_denied, a glob grant reads") {
  kv2_server s;
  kv2test::seed_mutt(s);
  s.admin(
      "policy",
      R"({"name":"mutt-read","rules":[{"path":"secret/data/mutt/*","capabilities":["read"]}]})");
  s.admin("policy",
          R"({"name":"other","rules":[{"path":"secret/data/other/+","capabilities":["read"]}]})");
  s.admin("token", R"({"id":"hvs.reader-token","policies":["mutt-read"]})");
  s.admin("token", R"({"id":"hvs.other-token","policies":["other"]})");

  auto ok = db(s.config("mutt/prod", "hvs.reader-token")).load();
  CHECK(ok);
  auto denied = db(s.config("mutt/prod", "hvs.other-token")).load();
  REQUIRE_FALSE(denied);
  CHECK(denied.error().is(errc::permission_denied));
  CHECK(denied.error().detail.find("hvs.other-token") == std::string::npos);
  auto bogus = db(s.config("mutt/prod", "hvs.reader-token-wrong")).load();
  REQUIRE_FALSE(bogus);
  CHECK(bogus.error().is(errc::permission_denied));
  CHECK(bogus.error().detail.find("hvs.reader-token") == std::string::npos);
}

TEST_CASE("namespaces: X-Vault-Namespace selects the namespace's mount") {
  kv2_server s;
  s.admin("namespace", R"({"name":"team-a"})");
  s.put("mutt/prod", R"({"DB_USER":"ns-user","DB_PASS_CURRENT":"db-current-1"})", "team-a");
  kv2test::seed_mutt(s);
  auto cfg = s.config();
  cfg.namespace_ = "team-a";
  auto in_ns = db(cfg).load();
  REQUIRE(in_ns);
  CHECK(in_ns.value().current.user == "ns-user");
  auto root = db(s.config()).load();
  REQUIRE(root);
  CHECK(root.value().current.user == "mutt");

  // A token of namespace team-a cannot read the root namespace.
  s.admin("policy", R"({"name":"all","rules":[{"path":"*","capabilities":["read"]}]})");
  s.admin("token", R"({"id":"hvs.team-token","policies":["all"],"namespace":"team-a"})");
  auto team = cfg;
  team.token = secret("hvs.team-token");
  CHECK(db(team).load());
  auto outside = db(s.config("mutt/prod", "hvs.team-token")).load();
  REQUIRE_FALSE(outside);
  CHECK(outside.error().is(errc::permission_denied));
}

TEST_CASE("outages and failures map to provider_unavailable, timeout or malformed") {
  kv2_server s;
  kv2test::seed_mutt(s);
  auto p = db(s.config());
  REQUIRE(p.load());  // the token lookup is done: each fault now hits the read
  struct fault_case {
    const char* fault;
    errc expected;
    const char* mentions;
  };
  const std::vector<fault_case> cases = {
      {R"({"kind":"status","status":500,"count":1})", errc::provider_unavailable, "HTTP 500"},
      {R"({"kind":"status","status":412,"count":1})", errc::provider_unavailable, "HTTP 412"},
      {R"({"kind":"status","status":429,"count":1,"body":{"errors":["rate limit quota exceeded"]}})",
       errc::provider_unavailable, "rate limit"},
      {R"({"kind":"status","status":400,"count":1})", errc::invalid_argument, "HTTP 400"},
      {R"({"kind":"status","status":403,"count":1})", errc::permission_denied, "HTTP 403"},
      {R"({"kind":"sealed","count":1})", errc::provider_unavailable, "Vault is sealed"},
      {R"({"kind":"garbage","count":1})", errc::malformed, "not JSON"},
      {R"({"kind":"garbage","status":502,"count":1})", errc::provider_unavailable, "HTTP 502"},
      {R"({"kind":"big","bytes":1500000,"count":1})", errc::malformed, "1048576"},
      {R"({"kind":"big","bytes":6000000,"count":1})", errc::malformed, "over"},
      // curl retries once on a fresh connection when a reused one dies: drop both.
      {R"({"kind":"drop","count":2})", errc::provider_unavailable, "curl error"},
      {R"({"kind":"delay","seconds":3,"count":1})", errc::timeout, "timed out"},
  };
  for (const auto& c : cases) {
    const std::string fault = c.fault;
    CAPTURE(fault);
    s.admin("fault", c.fault);
    auto r = p.load();
    REQUIRE_FALSE(r);
    CHECK(r.error().is(c.expected));
    CHECK_MESSAGE(r.error().detail.find(c.mentions) != std::string::npos, r.error().detail);
    no_secrets_in(r.error());
    REQUIRE(p.load());  // the fault was count-limited: the next load works
  }
  s.admin("seal", R"({"sealed":true})");
  auto sealed = p.load();
  REQUIRE_FALSE(sealed);
  CHECK(sealed.error().is(errc::provider_unavailable));
  CHECK(sealed.error().detail.find("503") != std::string::npos);
}

TEST_CASE("an unreachable Vault is provider_unavailable") {
  int port = 0;
  {
    kv2_server gone;
    port = gone.port();
  }
  vault_config c;
  c.address = "http://127.0.0.1:" + std::to_string(port);
  c.path = "mutt/prod";
  c.token = secret(root_token);
  auto r = db(c).load();
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::provider_unavailable));
  no_secrets_in(r.error());
}

TEST_CASE("a KV version 1 mount is malformed, saying so") {
  kv2_server s;
  s.admin("mount", R"({"path":"kv1","version":1})");
  REQUIRE(s.request("POST", "/v1/kv1/data/mutt/prod",
                    R"({"DB_USER":"mutt","DB_PASS_CURRENT":"db-current-1"})")
              .status == 204);
  auto cfg = s.config();
  cfg.mount = "kv1";
  auto r = db(cfg).load();
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::malformed));
  CHECK(r.error().detail.find("version 1") != std::string::npos);
  no_secrets_in(r.error());
}

TEST_CASE("configuration from the Vault CLI's environment and token file") {
  kv2_server s;
  kv2test::seed_mutt(s);
  const std::string home = s.dir() + "/home";
  std::filesystem::create_directories(home);
  { std::ofstream(home + "/.vault-token") << root_token << "\n"; }
  ::setenv("VAULT_ADDR", s.address().c_str(), 1);
  ::setenv("HOME", home.c_str(), 1);
  ::unsetenv("VAULT_TOKEN");
  ::unsetenv("VAULT_NAMESPACE");
  auto cfg = vault_config::from_env("mutt/prod");
  REQUIRE(cfg);
  CHECK(cfg.value().token.empty());
  CHECK(cfg.value().token_file == home + "/.vault-token");
  auto from_file = db(cfg.value()).load();
  REQUIRE(from_file);
  CHECK(from_file.value().current.password.reveal() == "db-current-1");

  ::setenv("VAULT_TOKEN", "hvs.reader-token", 1);
  ::setenv("VAULT_NAMESPACE", "team-b", 1);
  auto env = vault_config::from_env("mutt/prod", "kv");
  REQUIRE(env);
  CHECK(env.value().token.reveal() == "hvs.reader-token");
  CHECK(env.value().namespace_ == "team-b");
  CHECK(env.value().mount == "kv");
  auto refused = db(env.value()).load();  // no such namespace, no such token
  REQUIRE_FALSE(refused);
  no_secrets_in(refused.error());

  ::setenv("VAULT_ADDR", "", 1);
  CHECK(vault_config::from_env("p").error().is(errc::invalid_argument));
  ::unsetenv("VAULT_ADDR");
  CHECK(vault_config::from_env("p").value().address == "https://127.0.0.1:8200");
  ::unsetenv("VAULT_TOKEN");
  ::unsetenv("VAULT_NAMESPACE");

  auto missing_file = s.config();
  missing_file.token = secret();
  missing_file.token_file = home + "/absent";
  auto r = db(missing_file).load();
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::not_found));
}

TEST_SUITE_END();

}  // namespace test_vault_provider
