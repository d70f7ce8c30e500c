#include <dualcred/health.hpp>

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <dualcred/provider/static.hpp>

#include "support/scripted.hpp"

TEST_SUITE_BEGIN("health");

using namespace dualcred;
using dualcred::testing::make_set;

namespace {

status loaded(std::string version) {
  status s;
  s.reloads = 1;
  s.version = std::move(version);
  return s;
}

}  // namespace

TEST_CASE("health_json: ok first, then each status object verbatim under its name") {
  status pg = loaded("7");
  pg.connects_via_current = 12;
  pg.connects_via_next = 3;
  pg.fallbacks = 1;
  pg.preferred = slot::next;
  pg.last_error = make_error_code(errc::auth_rejected);
  const status rd = loaded("redis-v2");
  const std::string json = health_json({{"postgres", pg}, {"redis", rd}});
  CHECK(json == fmt::format(R"({{"ok":true,"postgres":{},"redis":{}}})", pg, rd));
  // The version a rotation's decommission step polls for, unchanged.
  CHECK(json.find(R"("postgres":{"connects_via_current":12,)") != std::string::npos);
  CHECK(json.find(R"("version":"7")") != std::string::npos);
  CHECK(json.find(R"("version":"redis-v2")") != std::string::npos);
}

TEST_CASE("health_json: no instances is ok; a vector works as well as a list") {
  CHECK(health_json({}) == R"({"ok":true})");
  const std::vector<named_status> v{{"a", loaded("1")}};
  CHECK(health_json(v) == fmt::format(R"({{"ok":true,"a":{}}})", v[0].value));
}

TEST_CASE("ok is false when any instance has no set loaded or is refused everywhere") {
  const status good = loaded("1");
  status never_loaded;
  status refused = loaded("1");
  refused.all_rejected = 1;
  refused.last_error = make_error_code(errc::all_rejected);
  status other_error = loaded("1");
  other_error.last_error = make_error_code(errc::backend_unavailable);
  status recovered = refused;
  recovered.connects_since_all_rejected = 1;

  CHECK(healthy(good));
  CHECK_FALSE(healthy(never_loaded));
  CHECK_FALSE(healthy(refused));
  CHECK(healthy(other_error));  // one unreachable backend is not a credential problem
  CHECK(healthy(recovered));    // locked out once, connecting again since

  CHECK(health_json({{"a", good}, {"b", never_loaded}}).starts_with(R"({"ok":false,)"));
  CHECK(health_json({{"a", refused}, {"b", good}}).starts_with(R"({"ok":false,)"));
  CHECK(health_json({{"a", other_error}}).starts_with(R"({"ok":true,)"));
}

TEST_CASE("a caller's own predicate decides ok") {
  const std::vector<named_status> v{{"a", loaded("1")}};
  const auto never = [](const status&) { return false; };
  CHECK(health_json(v, never).starts_with(R"({"ok":false,)"));
  CHECK_FALSE(all_healthy(v, never));
  CHECK(all_healthy(v));
}

TEST_CASE("names are JSON-escaped") {
  const std::string json = health_json({{"a\"b\\c\nd", loaded("1")}});
  CHECK(json.find(R"(,"a\"b\\c\nd":{)") != std::string::npos);
}

TEST_CASE("a live dual_credential's health names its version and never its passwords") {
  dualcred::testing::scripted_backend backend;
  backend.accept_only({"pw-new-Zq81"});
  auto dc = make_dual_credential(dualcred::testing::scripted_connector{&backend},
                                 static_provider(make_set("pw-old-Kx42", "pw-new-Zq81", "v9")));
  REQUIRE(dc);
  REQUIRE(dc.value().connect());  // CURRENT refused, NEXT accepted
  const std::string json = health_json({{"db", dc.value().snapshot()}});
  CHECK(json.starts_with(R"({"ok":true,"db":{"connects_via_current":0,"connects_via_next":1,)"));
  CHECK(json.find(R"("version":"v9")") != std::string::npos);
  CHECK(json.find(R"("preferred":"next")") != std::string::npos);
  CHECK(json.find("pw-old-Kx42") == std::string::npos);
  CHECK(json.find("pw-new-Zq81") == std::string::npos);
}

TEST_CASE("a live instance turns unhealthy when locked out and healthy again once it connects") {
  dualcred::testing::scripted_backend backend;
  backend.accept_only({"pw-a"});
  options o;
  o.min_reload_interval = std::chrono::milliseconds(0);
  auto dc = make_dual_credential(dualcred::testing::scripted_connector{&backend},
                                 static_provider(make_set("pw-a", std::nullopt, "v1")), o);
  REQUIRE(dc);
  REQUIRE(dc.value().connect());
  CHECK(healthy(dc.value().snapshot()));

  backend.accept_only({"pw-b"});  // the backend moved on; the store has not yet
  CHECK(dc.value().connect().error().code == errc::all_rejected);
  CHECK_FALSE(healthy(dc.value().snapshot()));
  CHECK(dc.value().snapshot().connects_since_all_rejected == 0);

  dc.value().provider().set(make_set("pw-b", std::nullopt, "v2"));
  REQUIRE(dc.value().connect());  // refused, reloads, connects with the new set
  const status s = dc.value().snapshot();
  CHECK(s.last_error == make_error_code(errc::auth_rejected));  // the refusal before the reload
  CHECK(s.connects_since_all_rejected == 1);
  CHECK(healthy(s));
}

TEST_SUITE_END();
