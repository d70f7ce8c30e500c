// The Vault provider and store on documented and captured response bodies, through a
// scripted HTTP callable (no server): parsing, status mapping, request shape, and that no
// detail ever holds the token or a value.

#include <sys/stat.h>

#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/provider/vault.hpp>
#include <dualcred/provider/vault/kv2_client.hpp>
#include <dualcred_testing/temp_dir.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_vault_parse {

TEST_SUITE_BEGIN("vault_parse");

using namespace dualcred;

namespace {

const std::string token = "hvs.TOKEN-never-in-details";

std::string read_data(const std::string& name) {
  std::ifstream in(std::string(DUALCRED_VAULT_TEST_DATA) + "/" + name);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Answers every request with one canned response and records what it was asked.
struct scripted {
  struct log {
    std::vector<http_request> requests;
  };
  std::shared_ptr<log> seen = std::make_shared<log>();
  std::function<result<http_response>(const http_request&)> answer;

  result<http_response> operator()(const http_request& r) {
    seen->requests.push_back(r);
    return answer(r);
  }
};

scripted answering(int status, std::string body) {
  scripted s;
  s.answer = [status, body](const http_request&) -> result<http_response> {
    return http_response{status, {}, body};
  };
  return s;
}

vault_config config() {
  vault_config c;
  c.address = "https://vault.example:8200/";
  c.path = "mutt/prod";
  c.token = secret(token);
  c.renew_token = false;
  return c;
}

result<credential_set> load_db(int status, std::string body) {
  vault_kv2_provider p(answering(status, std::move(body)), config(), key_names::for_prefix("DB"));
  return p.load();
}

std::string read_body(const std::string& data_json, int version = 4) {
  return R"({"request_id":"r","lease_id":"","renewable":false,"lease_duration":0,"data":{"data":)" +
         data_json +
         R"(,"metadata":{"created_time":"2024-12-11T02:11:39Z","custom_metadata":null,"deletion_time":"","destroyed":false,"version":)" +
         std::to_string(version) +
         R"(}},"wrap_info":null,"warnings":null,"auth":null,"mount_type":"kv"})";
}

const std::string seed =
    R"({"DB_USER":"mutt","DB_PASS_CURRENT":"pw-current","DB_PASS_NEXT":"pw-next",)"
    R"("REDIS_PASS_CURRENT":"r-current","REDIS_PASS_NEXT":"r-next"})";

void no_secrets_in(const std::string& detail) {
  for (const char* s : {"hvs.TOKEN-never-in-details", "pw-current", "pw-next", "r-current",
                        "r-next", "my-password"})
    CHECK_MESSAGE(detail.find(s) == std::string::npos, detail);
}

}  // namespace

TEST_CASE("the captured modern read parses, unknown fields ignored") {
  const std::string body = read_data("kv2-read-ok.modern-captured.json");
  key_names keys{"username", "password", "password_next", "", ""};
  vault_kv2_provider p(answering(200, body), config(), keys);
  auto set = p.load();
  REQUIRE(set);
  CHECK(set.value().current.user == "my-user");
  CHECK(set.value().current.password.reveal() == "my-password");
  CHECK_FALSE(set.value().next);
  CHECK(set.value().version == "1");
}

TEST_CASE("the captured modern write answer gives the new version") {
  dualcred::provider::vault::detail::scrubbed_json doc;
  REQUIRE(doc.parse(read_data("kv2-write-ok.modern-captured.json")));
  auto v = dualcred::provider::vault::detail::parse_kv2_write(doc.value(), "w");
  REQUIRE(v);
  CHECK(v.value().version == 1);
  CHECK_FALSE(v.value().deleted());
  CHECK(v.value().created_time == "2024-12-11T01:56:05.7512287Z");
}

TEST_CASE("the seed's layout gives DB and REDIS sets from one secret") {
  auto db = load_db(200, read_body(seed, 7));
  REQUIRE(db);
  CHECK(db.value().current.user == "mutt");
  CHECK(db.value().current.password.reveal() == "pw-current");
  REQUIRE(db.value().next);
  CHECK(db.value().next->password.reveal() == "pw-next");
  CHECK(db.value().version == "7");

  vault_kv2_provider redis(answering(200, read_body(seed)), config(),
                           key_names::for_prefix("REDIS"));
  auto r = redis.load();
  REQUIRE(r);
  CHECK(r.value().current.user == "default");
  CHECK(r.value().current.password.reveal() == "r-current");
  CHECK(r.value().next->password.reveal() == "r-next");
}

TEST_CASE("the request: GET data path with token, X-Vault-Request and namespace headers") {
  auto http = answering(200, read_body(seed));
  auto cfg = config();
  cfg.namespace_ = "team-a/prod";
  cfg.mount = "kv apps";
  vault_kv2_provider p(http, cfg);
  REQUIRE(p.load());
  REQUIRE(http.seen->requests.size() == 1);
  const auto& r = http.seen->requests.front();
  CHECK(r.method == "GET");
  CHECK(r.url == "https://vault.example:8200/v1/kv%20apps/data/mutt/prod");
  CHECK(header_value(r.headers, "x-vault-token") == token);
  CHECK(header_value(r.headers, "X-Vault-Request") == "true");
  CHECK(header_value(r.headers, "X-Vault-Namespace") == "team-a/prod");
  CHECK(r.body.empty());

  auto plain = answering(200, read_body(seed));
  vault_kv2_provider q(plain, config());
  REQUIRE(q.load());
  CHECK(header_value(plain.seen->requests.front().headers, "X-Vault-Namespace").empty());
}

TEST_CASE("missing keys, wrong types and empty values") {
  SUBCASE("NEXT is optional") {
    auto r = load_db(200, read_body(R"({"DB_USER":"mutt","DB_PASS_CURRENT":"pw-current"})"));
    REQUIRE(r);
    CHECK_FALSE(r.value().next);
  }
  SUBCASE("a missing CURRENT is not_found naming it") {
    auto r = load_db(200, read_body(R"({"DB_USER":"mutt","DB_PASS_NEXT":"pw-next"})"));
    REQUIRE_FALSE(r);
    CHECK(r.error().is(errc::not_found));
    CHECK(r.error().detail.find("DB_PASS_CURRENT") != std::string::npos);
    CHECK(r.error().detail.find("secret/mutt/prod") != std::string::npos);
    no_secrets_in(r.error().detail);
  }
  SUBCASE("a missing user is not_found") {
    auto r = load_db(200, read_body(R"({"DB_PASS_CURRENT":"pw-current"})"));
    REQUIRE_FALSE(r);
    CHECK(r.error().is(errc::not_found));
    CHECK(r.error().detail.find("DB_USER") != std::string::npos);
  }
  SUBCASE("a number is malformed naming the key") {
    auto r = load_db(200, read_body(R"({"DB_USER":"mutt","DB_PASS_CURRENT":12345})"));
    REQUIRE_FALSE(r);
    CHECK(r.error().is(errc::malformed));
    CHECK(r.error().detail.find("DB_PASS_CURRENT") != std::string::npos);
    CHECK(r.error().detail.find("12345") == std::string::npos);
  }
  SUBCASE("an object NEXT is malformed naming the key") {
    auto r = load_db(
        200,
        read_body(
            R"({"DB_USER":"mutt","DB_PASS_CURRENT":"pw-current","DB_PASS_NEXT":{"v":"pw-next"}})"));
    REQUIRE_FALSE(r);
    CHECK(r.error().is(errc::malformed));
    CHECK(r.error().detail.find("DB_PASS_NEXT") != std::string::npos);
    no_secrets_in(r.error().detail);
  }
  SUBCASE("null and bool users are malformed") {
    for (const char* v : {"null", "true"}) {
      auto r = load_db(200, read_body(std::string(R"({"DB_USER":)") + v +
                                      R"(,"DB_PASS_CURRENT":"pw-current"})"));
      REQUIRE_FALSE(r);
      CHECK(r.error().is(errc::malformed));
    }
  }
  SUBCASE("an empty CURRENT is malformed") {
    auto r = load_db(200, read_body(R"({"DB_USER":"mutt","DB_PASS_CURRENT":""})"));
    REQUIRE_FALSE(r);
    CHECK(r.error().is(errc::malformed));
  }
  SUBCASE("other keys of other types do not matter") {
    auto r = load_db(
        200,
        read_body(R"({"DB_USER":"mutt","DB_PASS_CURRENT":"pw-current","PORT":5432,"TAGS":["a"]})"));
    CHECK(r);
  }
  SUBCASE("a repeated key: the last one wins") {
    auto r = load_db(
        200,
        read_body(R"({"DB_USER":"mutt","DB_PASS_CURRENT":"old","DB_PASS_CURRENT":"pw-current"})"));
    REQUIRE(r);
    CHECK(r.value().current.password.reveal() == "pw-current");
  }
}

TEST_CASE("bodies that are not a KV v2 answer are malformed") {
  struct bad_case {
    const char* name;
    std::string body;
  };
  const std::vector<bad_case> cases = {
      {"not JSON", "<html>502 Bad Gateway</html>"},
      {"truncated", read_body(seed).substr(0, 60)},
      {"empty", ""},
      {"trailing garbage", read_body(seed) + "}"},
      {"an array", "[1,2,3]"},
      {"no data", R"({"errors":[]})"},
      {"KV version 1", R"({"data":{"DB_USER":"mutt","DB_PASS_CURRENT":"pw-current"}})"},
      {"data.data a string", read_body(R"("pw-current")")},
      {"version a string", R"({"data":{"data":{},"metadata":{"version":"7"}}})"},
      {"version negative", R"({"data":{"data":{},"metadata":{"version":-1}}})"},
      {"deep nesting", std::string(100000, '[') + std::string(100000, ']')},
      {"NUL in body", std::string("{\"data\":\0}", 11)},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto r = load_db(200, c.body);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(errc::malformed));
    no_secrets_in(r.error().detail);
  }
  auto v1 = load_db(200, R"({"data":{"DB_USER":"mutt","DB_PASS_CURRENT":"pw-current"}})");
  CHECK(v1.error().detail.find("version 1") != std::string::npos);
}

TEST_CASE("a body over the limit is malformed before it is parsed") {
  auto cfg = config();
  cfg.max_response_bytes = 1 << 20;
  const std::string big = read_body(R"({"DB_USER":"mutt","DB_PASS_CURRENT":"pw-current","PAD":")" +
                                    std::string(1 << 20, 'x') + "\"}");
  vault_kv2_provider p(answering(200, big), cfg);
  auto r = p.load();
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::malformed));
  CHECK(r.error().detail.find("1048576") != std::string::npos);
}

TEST_CASE("status codes map by code, not text") {
  struct status_case {
    int status;
    std::string body;
    errc expected;
    const char* mentions;
  };
  const std::string deleted =
      R"({"request_id":"657c","lease_id":"","renewable":false,"lease_duration":0,"data":{"data":null,"metadata":{"created_time":"2023-11-30T15:54:25.800266627Z","custom_metadata":null,"deletion_time":"2023-12-06T17:20:38.209728575Z","destroyed":false,"version":1}},"wrap_info":null,"warnings":null,"auth":null})";
  const std::string destroyed =
      R"({"data":{"data":null,"metadata":{"created_time":"2023-12-13T10:02:50Z","custom_metadata":null,"deletion_time":"2023-12-13T10:02:58Z","destroyed":true,"version":2}}})";
  const std::vector<status_case> cases = {
      {404, R"({"errors":[]})", errc::not_found, "not found"},
      {404, deleted, errc::not_found, "version 1 is deleted"},
      {404, destroyed, errc::not_found, "version 2 is destroyed"},
      {404, "", errc::not_found, "404"},
      {403, R"({"errors":["1 error occurred:\n\t* permission denied\n\n"]})",
       errc::permission_denied, "permission denied"},
      {403, "not json", errc::permission_denied, "403"},
      {400, R"({"errors":["invalid version"]})", errc::invalid_argument, "invalid version"},
      {412, R"({"errors":[]})", errc::provider_unavailable, "412"},
      {429, R"({"errors":["request rate limited"]})", errc::provider_unavailable, "429"},
      {500, R"({"errors":["internal error"]})", errc::provider_unavailable, "500"},
      {502, "<html>bad gateway</html>", errc::provider_unavailable, "502"},
      {503, R"({"errors":["Vault is sealed"]})", errc::provider_unavailable, "Vault is sealed"},
      {307, "", errc::provider_unavailable, "307"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.status);
    CAPTURE(c.body);
    auto r = load_db(c.status, c.body);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(c.expected));
    CHECK_MESSAGE(r.error().detail.find(c.mentions) != std::string::npos, r.error().detail);
    CHECK(r.error().detail.find('\n') == std::string::npos);
  }
}

TEST_CASE("a server that echoes the token does not get it into a detail") {
  auto r = load_db(403, R"({"errors":["token hvs.TOKEN-never-in-details is not allowed"]})");
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::permission_denied));
  no_secrets_in(r.error().detail);
  CHECK(r.error().detail.find("***") != std::string::npos);
}

TEST_CASE("a transport failure passes through with its code, token redacted") {
  scripted http;
  http.answer = [](const http_request& req) -> result<http_response> {
    // The transport's own text echoes the token: the input under test, so it is made outside
    // the leak policy's audit (which sees error constructors) and the provider's error must not
    // hold it.
    error echo(errc::timeout, {});
    echo.detail =
        "GET x: timed out; header " + std::string(header_value(req.headers, "X-Vault-Token"));
    return boost::outcome_v2::failure(std::move(echo));
  };
  vault_kv2_provider p(http, config());
  auto r = p.load();
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::timeout));
  no_secrets_in(r.error().detail);
}

TEST_CASE("bad configuration is invalid_argument before any request") {
  auto http = answering(200, read_body(seed));
  for (auto change : std::vector<std::function<void(vault_config&)>>{
           [](vault_config& c) { c.address = "vault.example:8200"; },
           [](vault_config& c) { c.address = "https://user:pw-current@vault.example"; },
           [](vault_config& c) { c.address = "https://"; },
           [](vault_config& c) { c.path = ""; },
           [](vault_config& c) { c.path = "mutt/../../sys/seal"; },
           [](vault_config& c) { c.path = "mutt//prod"; },
           [](vault_config& c) { c.mount = ".."; },
           [](vault_config& c) { c.token = secret(); },
       }) {
    auto cfg = config();
    change(cfg);
    vault_kv2_provider p(http, cfg);
    auto r = p.load();
    REQUIRE_FALSE(r);
    CHECK(r.error().is(errc::invalid_argument));
    no_secrets_in(r.error().detail);
  }
  CHECK(http.seen->requests.empty());
}

TEST_CASE("metadata, auth and lookup bodies") {
  dualcred::provider::vault::detail::scrubbed_json doc;
  REQUIRE(doc.parse(
      R"({"data":{"cas_required":true,"created_time":"2018-03-22T02:24:06.945319214Z","current_version":3,"delete_version_after":"3h25m19s","max_versions":0,"oldest_version":0,"updated_time":"2018-03-22T02:36:43.986212308Z","custom_metadata":{"foo":"abc"},"versions":{"1":{"created_time":"2018-03-22T02:24:06.945319214Z","deletion_time":"","destroyed":false},"2":{"created_time":"2018-03-22T02:36:33.954880664Z","deletion_time":"","destroyed":true},"3":{"created_time":"2018-03-22T02:36:43.986212308Z","deletion_time":"2018-03-23T02:36:43Z","destroyed":false},"x":{}}},"mount_type":"kv"})"));
  auto m = dualcred::provider::vault::detail::parse_kv2_metadata(doc.value(), "m");
  REQUIRE(m);
  CHECK(m.value().current_version == 3);
  CHECK(m.value().cas_required);
  REQUIRE(m.value().versions.size() == 3);
  CHECK(m.value().versions.at(2).destroyed);
  CHECK(m.value().versions.at(3).deleted());
  CHECK_FALSE(m.value().versions.at(1).deleted());

  REQUIRE(doc.parse(
      R"({"request_id":"r","lease_id":"","renewable":false,"lease_duration":0,"data":null,"wrap_info":null,"warnings":null,"auth":{"client_token":"hvs.login","accessor":"a","policies":["default","mutt"],"token_policies":["default","mutt"],"metadata":{"role_name":"mutt"},"lease_duration":1200,"renewable":true,"entity_id":"e","token_type":"service","orphan":true,"mfa_requirement":null,"num_uses":0},"mount_type":""})"));
  auto a = dualcred::provider::vault::detail::parse_auth(doc.value(), "login");
  REQUIRE(a);
  CHECK(a.value().token.reveal() == "hvs.login");
  CHECK(a.value().lease_duration == std::chrono::seconds(1200));
  CHECK(a.value().renewable);

  REQUIRE(
      doc.parse(R"({"data":{"id":"hvs.x","ttl":2764790,"renewable":false,"policies":["root"]}})"));
  auto l = dualcred::provider::vault::detail::parse_lookup_self(doc.value(), "lookup");
  REQUIRE(l);
  CHECK(l.value().ttl == std::chrono::seconds(2764790));
  CHECK_FALSE(l.value().renewable);

  REQUIRE(doc.parse(R"({"auth":null})"));
  CHECK(dualcred::provider::vault::detail::parse_auth(doc.value(), "login")
            .error()
            .is(errc::malformed));
}

TEST_CASE("scrubbing zeroes every string value in place") {
  dualcred::provider::vault::detail::json doc = dualcred::provider::vault::detail::json::parse(
      R"({"a":"secret-a","b":["secret-b",{"c":"secret-c"}]})");
  const std::string* a = &doc["a"].get_ref<const std::string&>();
  dualcred::provider::vault::detail::scrub_json(doc);
  CHECK(*a == std::string(8, '\0'));
  CHECK(doc["b"][0].get<std::string>() == std::string(8, '\0'));
  CHECK(doc["b"][1]["c"].get<std::string>() == std::string(8, '\0'));
}

TEST_CASE("paths are percent-encoded segment by segment") {
  CHECK(dualcred::provider::vault::detail::encode_vault_path("/a b/c%d/é/", "path").value() ==
        "a%20b/c%25d/%C3%A9");
  CHECK(dualcred::provider::vault::detail::encode_vault_path("mutt/prod", "path").value() ==
        "mutt/prod");
  CHECK_FALSE(dualcred::provider::vault::detail::encode_vault_path("a/./b", "path"));
  CHECK(detail::redact("x hvs.1 y hvs.1", {"hvs.1", ""}) == "x *** y ***");
}

TEST_CASE("store: write body, CAS conflict, and CAS refusals") {
  auto http = answering(200, read_data("kv2-write-ok.modern-captured.json"));
  vault_kv2_client store(http, config());
  secret_map values;
  values.emplace("DB_PASS_CURRENT", secret("p\"w\\1"));
  values.emplace("DB_USER", secret("mutt"));
  auto v = store.write(values, 3);
  REQUIRE(v);
  CHECK(v.value() == 1);
  const auto& req = http.seen->requests.back();
  CHECK(req.method == "POST");
  CHECK(req.url == "https://vault.example:8200/v1/secret/data/mutt/prod");
  CHECK(req.body ==
        R"({"options":{"cas":3},"data":{"DB_PASS_CURRENT":"p\"w\\1","DB_USER":"mutt"}})");
  CHECK(header_value(req.headers, "Content-Type") == "application/json");

  REQUIRE(store.write(values, std::nullopt));
  CHECK(http.seen->requests.back().body ==
        R"({"data":{"DB_PASS_CURRENT":"p\"w\\1","DB_USER":"mutt"}})");

  vault_kv2_client conflict(
      answering(400, R"({"errors":["check-and-set parameter did not match the current version"]})"),
      config());
  auto c = conflict.write(values, 3);
  REQUIRE_FALSE(c);
  CHECK(c.error().is(errc::conflict));

  vault_kv2_client required(
      answering(400, R"({"errors":["check-and-set parameter required for this call"]})"), config());
  auto q = required.write(values, std::nullopt);
  REQUIRE_FALSE(q);
  CHECK(q.error().is(errc::invalid_argument));

  vault_kv2_client echo(
      answering(400, R"({"errors":["bad value p\"w\\1 for hvs.TOKEN-never-in-details"]})"),
      config());
  auto e = echo.write(values, 1);
  REQUIRE_FALSE(e);
  CHECK(e.error().detail.find("p\"w\\1") == std::string::npos);
  no_secrets_in(e.error().detail);
}

// Regression: Vault's error text was folded and cut to 300 characters before redaction, so a
// value with repeated whitespace or a token past the cut survived in part.
TEST_CASE("echoed secrets are redacted before the error text is folded and cut") {
  secret_map values;
  values.emplace("DB_PASS_CURRENT", secret("two  spaces\tand a tab"));
  const std::string filler(285, 'x');
  vault_kv2_client folded(answering(400, R"({"errors":["bad value two  spaces\tand a tab"]})"),
                          config());
  auto f = folded.write(values, 1);
  REQUIRE_FALSE(f);
  CHECK_MESSAGE(f.error().detail.find("spaces") == std::string::npos, f.error().detail);
  CHECK(f.error().detail.find("***") != std::string::npos);

  vault_kv2_client cut(answering(403, R"({"errors":[")" + filler + " " + token + R"("]})"),
                       config());
  auto c = cut.metadata();
  REQUIRE_FALSE(c);
  CHECK(c.error().is(errc::permission_denied));
  CHECK_MESSAGE(c.error().detail.find("hvs.") == std::string::npos, c.error().detail);

  auto p = load_db(503, R"({"errors":[")" + filler + "  " + token + R"("]})");
  REQUIRE_FALSE(p);
  CHECK_MESSAGE(p.error().detail.find("hvs.") == std::string::npos, p.error().detail);
  CHECK(p.error().detail.size() < 500);
}

TEST_CASE("a configured token is looked up once and renewed when most of its TTL is gone") {
  scripted http;
  int lookups = 0, renewals = 0;
  http.answer = [&](const http_request& r) -> result<http_response> {
    if (r.url.ends_with("/v1/auth/token/lookup-self")) {
      ++lookups;
      return http_response{200, {}, R"({"data":{"ttl":0,"renewable":true}})"};  // 0: lives forever
    }
    if (r.url.ends_with("/renew-self")) ++renewals;
    return http_response{200, {}, read_body(seed)};
  };
  auto cfg = config();
  cfg.renew_token = true;
  vault_kv2_provider p(http, cfg);
  REQUIRE(p.load());
  REQUIRE(p.load());
  CHECK(lookups == 1);
  CHECK(renewals == 0);
  CHECK(http.seen->requests.size() == 3);
}

TEST_CASE("AppRole login request, and a login token without a lease is kept") {
  scripted http;
  int logins = 0;
  http.answer = [&](const http_request& r) -> result<http_response> {
    if (r.url.ends_with("/v1/auth/approle/login")) {
      ++logins;
      CHECK(r.method == "POST");
      CHECK(r.body == R"({"role_id":"rid","secret_id":"s\"id"})");
      CHECK(header_value(r.headers, "X-Vault-Token").empty());
      return http_response{
          200,
          {},
          R"({"auth":{"client_token":"hvs.from-login","lease_duration":0,"renewable":false}})"};
    }
    CHECK(header_value(r.headers, "X-Vault-Token") == "hvs.from-login");
    return http_response{200, {}, read_body(seed)};
  };
  auto cfg = config();
  cfg.token = secret();
  cfg.approle = vault_approle_login{"rid", secret("s\"id")};
  vault_kv2_provider p(http, cfg);
  REQUIRE(p.load());
  REQUIRE(p.load());
  CHECK(logins == 1);
  CHECK(http.seen->requests.size() == 3);
}

// Invalid UTF-8 would reach Vault as raw bytes inside JSON, and a secret too large for the
// provider's next read would be written but never read back: both are refused before anything
// is sent, naming the key.
TEST_CASE("a write of invalid UTF-8 or of values too long to read back is refused") {
  auto http = answering(200, read_data("kv2-write-ok.modern-captured.json"));
  vault_kv2_client client(http, config());
  const std::string bad_bytes[] = {"pw-current\xff", "pw-current\xc0\xaf", "pw-current\xed\xa0\x80",
                                   "pw-current\xf4\x90\x80\x80", "pw-current\xe2\x82"};
  for (const auto& bad : bad_bytes) {
    secret_map values;
    values.emplace("DB_USER", secret("mutt"));
    values.emplace("DB_PASS_NEXT", secret(bad));
    auto r = client.write(values, 1);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(errc::invalid_argument));
    CHECK_MESSAGE(r.error().detail.find("DB_PASS_NEXT") != std::string::npos, r.error().detail);
    CHECK(r.error().detail.find("UTF-8") != std::string::npos);
    no_secrets_in(r.error().detail);
  }
  secret_map long_values;
  long_values.emplace("DB_USER", secret("mutt"));
  long_values.emplace("DB_PASS_NEXT", secret(std::string(std::size_t{1} << 20, 'p')));
  auto r = client.write(long_values, 1);
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::invalid_argument));
  CHECK_MESSAGE(r.error().detail.find("DB_PASS_NEXT") != std::string::npos, r.error().detail);
  CHECK(r.error().detail.find("pppp") == std::string::npos);
  CHECK(http.seen->requests.empty());

  secret_map fine;
  fine.emplace("DB_USER", secret("mütt ✓ 🙂"));
  fine.emplace("DB_PASS_NEXT", secret(std::string(200 * 1024, 'p')));
  REQUIRE(client.write(fine, 1));
  CHECK(http.seen->requests.size() == 1);
}

// A Vault token file read with a plain open() would block load() forever on a FIFO, so it
// goes through the one secret-file reader: regular files only.
TEST_CASE("a Vault token file that is a FIFO, a directory or a device is refused at once") {
  dualcred::testing::temp_dir dir("dualcred-vault-token");
  const auto fifo = dir.path() / "token-fifo";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  for (const std::string& path : {fifo.string(), dir.path().string(), std::string("/dev/null")}) {
    CAPTURE(path);
    auto cfg = config();
    cfg.token = secret();
    cfg.token_file = path;
    vault_kv2_provider p(answering(200, read_body(seed)), cfg);
    auto r = p.load();
    REQUIRE_FALSE(r);
    CHECK_MESSAGE(r.error().detail.find("Vault token") != std::string::npos, r.error().detail);
  }
  const auto file = dir.write("token", token + "\n", 0600);
  auto cfg = config();
  cfg.token = secret();
  cfg.token_file = file;
  scripted http = answering(200, read_body(seed));
  vault_kv2_provider p(http, cfg);
  REQUIRE(p.load());
  CHECK(header_value(http.seen->requests.back().headers, "X-Vault-Token") == token);
}

// Regression: a huge lease overflowed steady_clock arithmetic (undefined behaviour), putting
// the expiry in the past, so every request logged in (or renewed) again.
TEST_CASE("huge, negative and fractional lease_duration and ttl are clamped") {
  for (const char* lease : {"18446744073709551615", "9223372036854775807", "100000000000000",
                            "1e300", "-5", "-1e300", "3600.5"}) {
    const std::string shown(lease);
    CAPTURE(shown);
    scripted http;
    int logins = 0, renewals = 0;
    http.answer = [&](const http_request& r) -> result<http_response> {
      if (r.url.ends_with("/v1/auth/approle/login")) {
        ++logins;
        return http_response{200,
                             {},
                             std::string(R"({"auth":{"client_token":"hvs.from-login",)") +
                                 R"("renewable":true,"lease_duration":)" + lease + "}}"};
      }
      if (r.url.ends_with("/renew-self")) ++renewals;
      return http_response{200, {}, read_body(seed)};
    };
    auto cfg = config();
    cfg.token = secret();
    cfg.approle = vault_approle_login{"rid", secret("sid")};
    vault_kv2_provider p(http, cfg);
    for (int i = 0; i < 3; ++i) REQUIRE(p.load());
    CHECK(logins == 1);
    CHECK(renewals == 0);
  }
  for (const char* ttl :
       {"18446744073709551615", "9223372036854775807", "100000000000000", "1e300", "3600.5"}) {
    const std::string shown(ttl);
    CAPTURE(shown);
    scripted http;
    int lookups = 0, renewals = 0;
    http.answer = [&](const http_request& r) -> result<http_response> {
      if (r.url.ends_with("/v1/auth/token/lookup-self")) {
        ++lookups;
        return http_response{
            200, {}, std::string(R"({"data":{"renewable":true,"ttl":)") + ttl + "}}"};
      }
      if (r.url.ends_with("/renew-self")) ++renewals;
      return http_response{200, {}, read_body(seed)};
    };
    auto cfg = config();
    cfg.renew_token = true;
    vault_kv2_provider p(http, cfg);
    for (int i = 0; i < 3; ++i) REQUIRE(p.load());
    CHECK(lookups == 1);
    CHECK(renewals == 0);
  }
}

TEST_SUITE_END();

}  // namespace test_vault_parse
