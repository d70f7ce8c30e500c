// The hiredis connector against a real Redis 7 that this program starts.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include <dualcred/backend/hiredis.hpp>
#include <dualcred/dual_credential.hpp>
#include <dualcred/provider/file.hpp>
#include <dualcred/provider/static.hpp>

#include "backend_helpers.hpp"
#include "support/scripted.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_hiredis {

TEST_SUITE_BEGIN("backend_hiredis");

using namespace std::chrono_literals;
using dualcred::credential;
using dualcred::credential_set;
using dualcred::errc;
using dualcred::secret;
namespace redis = dualcred::redis;

namespace {

using dualcred::testing::make_set;

redis::params server_params() {
  redis::params p;
  p.host = backend_tests::redis().host();
  p.port = backend_tests::redis().port();
  p.timeout = 5s;
  return p;
}

// A command's reply as text ("PONG", "app", "<error: ...>").
std::string run(redisContext* c, std::initializer_list<const char*> args) {
  std::vector<const char*> argv(args);
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), nullptr));
  if (reply == nullptr) return std::string("<io error: ") + c->errstr + ">";
  std::string out = reply->str != nullptr ? std::string(reply->str, reply->len) : "";
  if (reply->type == REDIS_REPLY_ERROR) out = "<error: " + out + ">";
  freeReplyObject(reply);
  return out;
}

long long connections_received() {
  return backend_tests::redis().info_number("stats", "total_connections_received");
}

// A redis::connector that counts how many TCP connections it opened.
struct counted {
  redis::connector inner;
  std::shared_ptr<std::atomic<int>> opens = std::make_shared<std::atomic<int>>(0);
  dualcred::result<redis::connection> open() const {
    ++*opens;
    return inner.open();
  }
  dualcred::result<void> authenticate(redis::connection& c, const credential& cred) const {
    return inner.authenticate(c, cred);
  }
};

}  // namespace

TEST_CASE("happy path: CURRENT logs in through dual_credential, with an awkward password") {
  const std::string pw = "rd cur 'quoted' \"double\" \\back slash";
  backend_tests::redis().set_user("app_happy", {pw});
  redis::params p = server_params();
  p.db = 3;
  auto dc = dualcred::make_dual_credential(
      redis::connector(p), dualcred::static_provider(make_set(pw, "n-x", "", "app_happy")));
  REQUIRE(dc);
  auto conn = dc.value().connect();
  REQUIRE_MESSAGE(conn, conn.error().detail);
  CHECK(run(conn.value().get(), {"PING"}) == "PONG");
  CHECK(run(conn.value().get(), {"ACL", "WHOAMI"}) == "app_happy");
  CHECK(run(conn.value().get(), {"CLIENT", "INFO"}).find(" db=3 ") != std::string::npos);
  const auto st = dc.value().snapshot();
  CHECK(st.connects_via_current == 1);
  CHECK(st.fallbacks == 0);
}

TEST_CASE("the plain-connector form opens and authenticates in one call") {
  backend_tests::redis().set_user("app_plain", {"rd-plain-4b1"});
  auto conn = redis::connector(server_params())(credential{"app_plain", secret("rd-plain-4b1")});
  REQUIRE_MESSAGE(conn, conn.error().detail);
  CHECK(run(conn.value().get(), {"ACL", "WHOAMI"}) == "app_plain");
}

TEST_CASE("ACL SETUSER to NEXT: one fallback, then straight to NEXT") {
  auto& server = backend_tests::redis();
  server.set_user("app_rot", {"rd-rot-current-8f2"});
  auto dc = dualcred::make_dual_credential(
      redis::connector(server_params()),
      dualcred::static_provider(make_set("rd-rot-current-8f2", "rd-rot-next-1d5", "", "app_rot")));
  REQUIRE(dc);
  auto& db = dc.value();
  REQUIRE(db.connect());
  server.set_user("app_rot", {"rd-rot-next-1d5"});
  backend_tests::check_one_fallback_then_sticky(db);
}

TEST_CASE("a refused CURRENT costs no second TCP connection") {
  auto& server = backend_tests::redis();
  server.set_user("app_tcp", {"rd-tcp-next-6e0"});
  counted c{redis::connector(server_params())};
  auto opens = c.opens;
  auto dc = dualcred::make_dual_credential(
      c,
      dualcred::static_provider(make_set("rd-tcp-current-2a7", "rd-tcp-next-6e0", "", "app_tcp")));
  REQUIRE(dc);
  const long long before = connections_received();
  auto conn = dc.value().connect();
  REQUIRE_MESSAGE(conn, conn.error().detail);
  const long long after = connections_received();
  CHECK(after - before == 1);
  CHECK(*opens == 1);
  CHECK(dc.value().snapshot().fallbacks == 1);
  CHECK(run(conn.value().get(), {"ACL", "WHOAMI"}) == "app_tcp");
}

TEST_CASE("a wrong port is backend_unavailable at once, with no fallback") {
  redis::params p = server_params();
  p.port = dualcred::testing::free_port();
  counted c{redis::connector(p)};
  auto opens = c.opens;
  auto dc = dualcred::make_dual_credential(
      c, dualcred::static_provider(make_set("rd-port-cur-3f3", "rd-port-next-5a5", "", "app_x")));
  REQUIRE(dc);
  auto r = dc.value().connect();
  backend_tests::check_unavailable_without_fallback(r, dc.value(), *opens, "rd-port-cur-3f3");
}

TEST_CASE("a stopped server is backend_unavailable at once; connects resume after start") {
  auto& server = backend_tests::redis();
  server.set_user("app_stop", {"rd-stop-cur-7c4"});
  counted c{redis::connector(server_params())};
  auto opens = c.opens;
  auto dc = dualcred::make_dual_credential(
      c,
      dualcred::static_provider(make_set("rd-stop-cur-7c4", "rd-stop-next-9e9", "", "app_stop")));
  REQUIRE(dc);
  server.stop();
  auto r = dc.value().connect();
  server.start();
  backend_tests::check_unavailable_without_fallback(r, dc.value(), *opens, "rd-stop-cur-7c4");
  // The user came back with the server (the fixture saves its ACLs).
  auto again = dc.value().connect();
  CHECK_MESSAGE(again, again.error().detail);
}

TEST_CASE("every slot refused: the rewritten file is reloaded and the connect succeeds") {
  dualcred::testing::temp_dir dir("dualcred-redis-file");
  const auto env = dir.path() / "redis.env";
  backend_tests::write_file(
      env, "REDIS_USER=app_reload\nREDIS_PASS_CURRENT=rd-old-1a\nREDIS_PASS_NEXT=rd-old-2b\n");
  backend_tests::redis().set_user("app_reload", {"rd-new-3c"});
  dualcred::options o;
  o.min_reload_interval = 10ms;
  auto dc = dualcred::make_dual_credential(
      redis::connector(server_params()),
      dualcred::file_provider(env.string(), dualcred::key_names::for_prefix("REDIS")), o);
  REQUIRE(dc);
  auto& db = dc.value();

  auto refused = db.connect();
  REQUIRE_FALSE(refused);
  CHECK(refused.error().is(errc::all_rejected));
  CHECK(refused.error().detail.find("WRONGPASS") != std::string::npos);
  for (const char* pw : {"rd-old-1a", "rd-old-2b", "rd-new-3c"})
    CHECK(refused.error().detail.find(pw) == std::string::npos);

  backend_tests::write_file(env, "REDIS_USER=app_reload\nREDIS_PASS_CURRENT=rd-new-3c\n");
  const auto reloads_before = db.snapshot().reloads;
  auto ok = db.connect();
  REQUIRE_MESSAGE(ok, ok.error().detail);
  CHECK(db.snapshot().reloads > reloads_before);
  CHECK(run(ok.value().get(), {"ACL", "WHOAMI"}) == "app_reload");
}

TEST_CASE("WRONGPASS is auth_rejected; the detail has the reply but never the password") {
  backend_tests::redis().set_user("app_detail", {"rd-right-0d0"});
  const std::string wrong = "rd-WRONG-Xy7 with spaces";
  redis::connector c(server_params());
  auto conn = c.open();
  REQUIRE(conn);
  auto r = c.authenticate(conn.value(), credential{"app_detail", secret(wrong)});
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::auth_rejected));
  CHECK(r.error().detail.find("WRONGPASS") != std::string::npos);
  CHECK(r.error().detail.find("app_detail") != std::string::npos);
  CHECK(r.error().detail.find(wrong) == std::string::npos);
  CHECK(r.error().detail.find("rd-WRONG") == std::string::npos);
  // Redis keeps the connection open after a refusal: the right password works on it.
  auto ok = c.authenticate(conn.value(), credential{"app_detail", secret("rd-right-0d0")});
  CHECK_MESSAGE(ok, ok.error().detail);
  CHECK(run(conn.value().get(), {"ACL", "WHOAMI"}) == "app_detail");
}

TEST_CASE("the default user: AUTH with one argument; a password the server lacks is misconfig") {
  auto& server = backend_tests::redis();
  redis::connector c(server_params());
  // Redis as shipped: the default user has no password, so AUTH <password> is an error that
  // another password would not fix.
  auto r = c(credential{"default", secret("rd-default-nopass-5f")});
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::invalid_argument));
  CHECK_FALSE(dualcred::is_auth_failure(r.error()));
  CHECK(r.error().detail.find("rd-default-nopass-5f") == std::string::npos);

  server.must({"ACL", "SETUSER", "default", "resetpass", ">rd-default-pw-6a"});
  auto ok = c(credential{"default", secret("rd-default-pw-6a")});
  auto ok_empty_user = c(credential{"", secret("rd-default-pw-6a")});
  // Without a password, the first command is refused with NOAUTH.
  auto noauth = c(credential{"default", secret()});
  server.must({"ACL", "SETUSER", "default", "resetpass", "nopass"});
  CHECK_MESSAGE(ok, ok.error().detail);
  CHECK_MESSAGE(ok_empty_user, ok_empty_user.error().detail);
  REQUIRE_FALSE(noauth);
  CHECK(noauth.error().is(errc::auth_rejected));
  CHECK(noauth.error().detail.find("NOAUTH") != std::string::npos);
}

TEST_CASE("SELECT of a database the server lacks is a configuration error") {
  backend_tests::redis().set_user("app_db", {"rd-db-2e2"});
  redis::params p = server_params();
  p.db = 999;
  auto r = redis::connector(p)(credential{"app_db", secret("rd-db-2e2")});
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::invalid_argument));
}

TEST_CASE("a server that accepts TCP and never answers times out within the bound") {
  backend_tests::silent_listener silent;
  redis::params p;
  p.host = "127.0.0.1";
  p.port = silent.port();
  p.timeout = 300ms;
  redis::connector c(p);
  backend_tests::check_silent_server_times_out(c, "rd-silent-4d4");

  // Through dual_credential: a timeout is not a refusal, so NEXT is not tried.
  std::atomic<int> refused{0};
  backend_tests::counting_policy policy;
  policy.refused = &refused;
  auto dc = dualcred::make_dual_credential(
      c, dualcred::static_provider(make_set("rd-silent-4d4", "rd-silent-next-5e5", "", "app")),
      dualcred::options{}, policy);
  REQUIRE(dc);
  auto viadc = dc.value().connect();
  REQUIRE_FALSE(viadc);
  CHECK(viadc.error().is(errc::timeout));
  CHECK(refused == 0);
}

TEST_SUITE_END();

}  // namespace test_hiredis
