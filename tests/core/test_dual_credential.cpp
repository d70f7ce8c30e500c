#include <dualcred/dual_credential.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/provider/static.hpp>

#include "support/scripted.hpp"

TEST_SUITE_BEGIN("dual_credential");

using namespace dualcred;
using dualcred::testing::make_set;
using dualcred::testing::scripted_backend;
using dualcred::testing::scripted_connector;
using dualcred::testing::scripted_provider;
using dualcred::testing::scripted_two_phase;
using strings = std::vector<std::string>;

namespace {
options fast() {
  options o;
  o.min_reload_interval = std::chrono::milliseconds(0);
  return o;
}

// A login slow enough for the world to change while it runs: `during_attempt` runs inside
// each attempt, before the backend judges it.
struct slow_login_backend {
  scripted_backend db;
  std::function<void(const credential&)> during_attempt = [](const credential&) {};
  auto connector() {
    return [this](const credential& c) {
      during_attempt(c);
      return scripted_connector{&db}(c);
    };
  }
};
}  // namespace

TEST_CASE("the happy path uses CURRENT once and counts it") {
  scripted_backend db;
  db.accept_only({"cur"});
  auto dc = make_dual_credential(scripted_connector{&db}, static_provider(make_set("cur", "nxt")));
  REQUIRE(dc);
  auto c = dc.value().connect();
  REQUIRE(c);
  CHECK(db.attempts() == strings{"cur"});
  const status s = dc.value().snapshot();
  CHECK(s.connects_via_current == 1);
  CHECK(s.connects_via_next == 0);
  CHECK(s.fallbacks == 0);
  CHECK(s.reloads == 1);
  CHECK(!s.last_error);
}

TEST_CASE("a refused CURRENT falls back to NEXT, then NEXT is tried first (sticky)") {
  scripted_backend db;
  db.accept_only({"nxt"});
  auto dc = make_dual_credential(scripted_connector{&db}, static_provider(make_set("cur", "nxt")));
  REQUIRE(dc);
  REQUIRE(dc.value().connect());
  CHECK(db.attempts() == strings{"cur", "nxt"});
  db.clear_attempts();
  REQUIRE(dc.value().connect());
  CHECK(db.attempts() == strings{"nxt"});
  const status s = dc.value().snapshot();
  CHECK(s.connects_via_next == 2);
  CHECK(s.fallbacks == 1);
  CHECK(s.preferred == slot::next);
  CHECK(s.last_error == make_error_code(errc::auth_rejected));
}

TEST_CASE("a sticky NEXT that gets refused falls back to CURRENT (rollback)") {
  scripted_backend db;
  db.accept_only({"nxt"});
  auto dc = make_dual_credential(scripted_connector{&db}, static_provider(make_set("cur", "nxt")));
  REQUIRE(dc.value().connect());
  db.accept_only({"cur"});
  db.clear_attempts();
  REQUIRE(dc.value().connect());
  CHECK(db.attempts() == strings{"nxt", "cur"});
  CHECK(dc.value().snapshot().preferred == slot::current);
}

TEST_CASE("without sticky every connect starts from CURRENT") {
  scripted_backend db;
  db.accept_only({"nxt"});
  options o = fast();
  o.sticky = false;
  auto dc =
      make_dual_credential(scripted_connector{&db}, static_provider(make_set("cur", "nxt")), o);
  REQUIRE(dc.value().connect());
  REQUIRE(dc.value().connect());
  CHECK(db.attempts() == strings{"cur", "nxt", "cur", "nxt"});
  CHECK(dc.value().snapshot().fallbacks == 2);
  CHECK(dc.value().snapshot().preferred == slot::current);
}

TEST_CASE("an error that is not a refusal is returned at once, without fallback") {
  scripted_backend db;
  db.accept_only({"nxt"});
  auto dc = make_dual_credential(scripted_connector{&db}, static_provider(make_set("cur", "nxt")));
  db.fail_next(error(errc::backend_unavailable, "connection refused"));
  auto c = dc.value().connect();
  REQUIRE(!c);
  CHECK(c.error().is(errc::backend_unavailable));
  CHECK(db.attempts() == strings{"cur"});
  CHECK(dc.value().snapshot().fallbacks == 0);
  CHECK(dc.value().snapshot().last_error == make_error_code(errc::backend_unavailable));
}

namespace {
// Refuses CURRENT like a backend would, and times out on NEXT.
struct timeout_on_next {
  scripted_backend* b;
  result<testing::fake_conn> operator()(const credential& cr) const {
    if (cr.password.reveal() == "nxt") return fail(errc::timeout, "timed out after 5s");
    return scripted_connector{b}(cr);
  }
};
}  // namespace

TEST_CASE("a non-refusal on NEXT after CURRENT was refused is returned as is") {
  scripted_backend db;
  db.accept_only({});
  auto dc =
      make_dual_credential(timeout_on_next{&db}, static_provider(make_set("cur", "nxt")), fast());
  auto r = dc.value().connect();
  REQUIRE(!r);
  CHECK(r.error().is(errc::timeout));
  CHECK(dc.value().snapshot().all_rejected == 0);
  CHECK(dc.value().snapshot().reloads == 1);  // no reload: not everything was refused
}

TEST_CASE("every slot refused and nothing new: all_rejected names each cause, after one reload") {
  scripted_backend db;
  db.accept_only({});
  auto dc = make_dual_credential(scripted_connector{&db},
                                 static_provider(make_set("cur-pw-1", "nxt-pw-2")), fast());
  auto c = dc.value().connect();
  REQUIRE(!c);
  CHECK(c.error().is(errc::all_rejected));
  CHECK(c.error().detail.find("current: password authentication failed") != std::string::npos);
  CHECK(c.error().detail.find("next: password authentication failed") != std::string::npos);
  CHECK(c.error().detail.find("cur-pw-1") == std::string::npos);
  CHECK(c.error().detail.find("nxt-pw-2") == std::string::npos);
  const status s = dc.value().snapshot();
  CHECK(s.all_rejected == 1);
  CHECK(s.reloads == 2);  // the first load, then the one after the refusals
  CHECK(db.attempts() == strings{"cur-pw-1", "nxt-pw-2"});
}

TEST_CASE("every slot refused, then the reload brings a new set that works") {
  scripted_backend db;
  db.accept_only({"fresh"});
  auto dc =
      make_dual_credential(scripted_connector{&db}, static_provider(make_set("a", "b")), fast());
  dc.value().provider().set(make_set("fresh", std::nullopt));
  auto c = dc.value().connect();
  REQUIRE(c);
  CHECK(db.attempts() == strings{"a", "b", "fresh"});
  CHECK(dc.value().snapshot().connects_via_current == 1);
  CHECK(dc.value().snapshot().all_rejected == 0);
}

TEST_CASE("a set published while the retry was refused gets its own try, without a load") {
  // The backend and the store move on while the retry's login is under way: a rotation step
  // outran the login. The refresh publishes the newer set; the connect uses it.
  slow_login_backend b;
  b.db.accept_only({"third"});
  auto made = make_dual_credential(b.connector(), static_provider(make_set("a", "b")), fast());
  REQUIRE(made);
  auto& dc = made.value();
  dc.provider().set(make_set("second", std::nullopt));
  b.during_attempt = [&](const credential& c) {
    if (c.password.reveal() != "second") return;
    dc.provider().set(make_set("third", std::nullopt));
    REQUIRE(dc.reload());
  };
  auto c = dc.connect();
  REQUIRE(c);
  CHECK(b.db.attempts() == strings{"a", "b", "second", "third"});
  const status s = dc.snapshot();
  CHECK(s.connects_via_current == 1);
  CHECK(s.all_rejected == 0);
  CHECK(s.reloads == 3);  // start-up, the refused connect's, the one during its retry
}

TEST_CASE("a slow fallback that ends after a newer set is published does not steer it") {
  // The single-role race: a login with the old set falls back to its NEXT while the rotation
  // promotes that NEXT to CURRENT. Were its success to make NEXT preferred for the new set,
  // the next connect would try the new NEXT (not on the backend yet) first, and a password
  // change between its two attempts would leave it refused on both.
  slow_login_backend b;
  b.db.accept_only({"p2"});
  auto made = make_dual_credential(b.connector(), static_provider(make_set("p1", "p2")));
  REQUIRE(made);
  auto& dc = made.value();
  b.during_attempt = [&](const credential& c) {
    if (c.password.reveal() != "p2") return;
    dc.provider().set(make_set("p2", "p3"));  // promoted meanwhile
    REQUIRE(dc.reload());
  };
  REQUIRE(dc.connect());
  CHECK(b.db.attempts() == strings{"p1", "p2"});
  CHECK(dc.snapshot().preferred == slot::current);
  b.during_attempt = [](const credential&) {};
  b.db.clear_attempts();
  REQUIRE(dc.connect());
  CHECK(b.db.attempts() == strings{"p2"});
}

namespace {
// Calls `hook` on every event, as an observer that reports status would.
struct hooked_policy : default_policy {
  std::function<void()> hook;
  void on_event(const event&) noexcept {
    if (hook) hook();
  }
};
}  // namespace

TEST_CASE("an observer may take a snapshot from inside any event, reloads included") {
  scripted_backend db;
  db.accept_only({"nxt"});
  dual_credential dc(scripted_connector{&db}, static_provider(make_set("cur", "nxt", "1")),
                     options{}, hooked_policy{});
  int seen = 0;
  dc.policy().hook = [&] {
    if (!dc.snapshot().version.empty()) ++seen;
  };
  REQUIRE(dc.reload());   // reloaded
  REQUIRE(dc.connect());  // refused, fell back
  dc.provider().set(make_set("new", std::nullopt, "2"));
  REQUIRE(dc.reload());  // reloaded, publishing a new set
  CHECK(seen == 4);
  CHECK(dc.snapshot().oldest_version_in_use == "2");
}

TEST_CASE("snapshot: a connect in flight keeps its set's version as the oldest in use") {
  slow_login_backend b;
  b.db.accept_only({"old", "new"});
  auto made =
      make_dual_credential(b.connector(), static_provider(make_set("old", std::nullopt, "1")));
  REQUIRE(made);
  auto& dc = made.value();
  CHECK(dc.snapshot().oldest_version_in_use == "1");
  status during;
  b.during_attempt = [&](const credential& c) {
    if (c.password.reveal() != "old") return;
    dc.provider().set(make_set("new", std::nullopt, "2"));
    REQUIRE(dc.reload());
    during = dc.snapshot();
  };
  REQUIRE(dc.connect());
  // While the login with set 1 ran, set 2 was published but 1 was still held.
  CHECK(during.version == "2");
  CHECK(during.oldest_version_in_use == "1");
  // Once it returned, nothing holds set 1 and the snapshot frees it.
  const status after = dc.snapshot();
  CHECK(after.version == "2");
  CHECK(after.oldest_version_in_use == "2");
}

TEST_CASE("a store that changes under every retry: three newer sets, then all_rejected") {
  slow_login_backend b;
  b.db.accept_only({});
  auto made = make_dual_credential(b.connector(), static_provider(make_set("a", "b")), fast());
  REQUIRE(made);
  auto& dc = made.value();
  dc.provider().set(make_set("p1", std::nullopt));
  int published = 1;
  b.during_attempt = [&](const credential& c) {
    if (c.password.reveal().starts_with("p")) {
      dc.provider().set(make_set(fmt::format("p{}", ++published), std::nullopt));
      REQUIRE(dc.reload());
    }
  };
  auto c = dc.connect();
  REQUIRE(!c);
  CHECK(c.error().is(errc::all_rejected));
  CHECK(b.db.attempts() == strings{"a", "b", "p1", "p2", "p3"});
  CHECK(dc.snapshot().all_rejected == 1);
}

TEST_CASE("a set without NEXT: a refused CURRENT reloads, then fails naming CURRENT only") {
  scripted_backend db;
  db.accept_only({});
  auto dc = make_dual_credential(scripted_connector{&db},
                                 static_provider(make_set("only", std::nullopt)), fast());
  auto c = dc.value().connect();
  REQUIRE(!c);
  CHECK(c.error().is(errc::all_rejected));
  CHECK(c.error().detail.find("current:") != std::string::npos);
  CHECK(c.error().detail.find("next:") == std::string::npos);
}

TEST_CASE("a failed reload keeps the last good set in use") {
  auto script = std::make_shared<scripted_provider::script>();
  script->set = make_set("cur", "nxt", "v1");
  scripted_backend db;
  db.accept_only({"cur"});
  auto dc = make_dual_credential(scripted_connector{&db}, scripted_provider(script), fast());
  REQUIRE(dc);
  script->failure = error(errc::provider_unavailable, "vault: 503 sealed");
  auto r = dc.value().reload();
  REQUIRE(!r);
  CHECK(r.error().is(errc::provider_unavailable));
  CHECK(dc.value().connect());
  const status s = dc.value().snapshot();
  CHECK(s.reload_failures == 1);
  CHECK(s.version == "v1");

  // And when the refusals force a reload that fails, the detail says so.
  db.accept_only({});
  auto c = dc.value().connect();
  REQUIRE(!c);
  CHECK(c.error().is(errc::all_rejected));
  CHECK(c.error().detail.find("reload failed: vault: 503 sealed") != std::string::npos);
  CHECK(dc.value().snapshot().version == "v1");
}

TEST_CASE("make_dual_credential fails fast when the provider fails") {
  auto script = std::make_shared<scripted_provider::script>();
  script->failure = error(errc::not_found, "DB_PASS_CURRENT is not set");
  scripted_backend db;
  auto dc = make_dual_credential(scripted_connector{&db}, scripted_provider(script));
  REQUIRE(!dc);
  CHECK(dc.error().is(errc::not_found));
  CHECK(dc.error().detail == "DB_PASS_CURRENT is not set");
}

TEST_CASE("built directly, the first connect loads the provider") {
  auto script = std::make_shared<scripted_provider::script>();
  script->set = make_set("cur", std::nullopt, "7");
  scripted_backend db;
  db.accept_only({"cur"});
  dual_credential dc(scripted_connector{&db}, scripted_provider(script));
  CHECK(script->loads == 0);
  REQUIRE(dc.connect());
  CHECK(script->loads == 1);
  CHECK(dc.snapshot().version == "7");

  script->failure = error(errc::permission_denied, "403");
  dual_credential broken(scripted_connector{&db}, scripted_provider(script));
  auto c = broken.connect();
  REQUIRE(!c);
  CHECK(c.error().is(errc::permission_denied));
}

TEST_CASE("reloads after refusals are spaced by min_reload_interval; callers wait, not fail") {
  auto script = std::make_shared<scripted_provider::script>();
  script->set = make_set("a", "b", "1");
  scripted_backend db;
  db.accept_only({});
  options o;
  o.min_reload_interval = std::chrono::milliseconds(150);
  auto dc = make_dual_credential(scripted_connector{&db}, scripted_provider(script), o);
  const auto start = std::chrono::steady_clock::now();
  CHECK(!dc.value().connect());  // waits for the interval since the first load, then reloads
  db.accept_only({"c"});
  script->publish(make_set("c", std::nullopt, "2"));
  auto c = dc.value().connect();  // waits again, then the new set works
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(c);
  CHECK(script->loads == 3);
  CHECK(elapsed >= std::chrono::milliseconds(300));
}

TEST_CASE("a changed set starts again from CURRENT") {
  scripted_backend db;
  db.accept_only({"b"});
  auto dc =
      make_dual_credential(scripted_connector{&db}, static_provider(make_set("a", "b")), fast());
  REQUIRE(dc.value().connect());
  CHECK(dc.value().snapshot().preferred == slot::next);
  dc.value().provider().set(make_set("b", "c"));  // promoted: NEXT is CURRENT now
  REQUIRE(dc.value().reload());
  CHECK(dc.value().snapshot().preferred == slot::current);
  db.clear_attempts();
  REQUIRE(dc.value().connect());
  CHECK(db.attempts() == strings{"b"});
}

TEST_CASE("an unchanged reload keeps the set and the preference") {
  scripted_backend db;
  db.accept_only({"b"});
  auto dc = make_dual_credential(scripted_connector{&db}, static_provider(make_set("a", "b", "v9")),
                                 fast());
  REQUIRE(dc.value().connect());
  REQUIRE(dc.value().reload());
  CHECK(dc.value().snapshot().preferred == slot::next);
  CHECK(dc.value().snapshot().version == "v9");
}

TEST_CASE("two-phase: a refused CURRENT is retried on the same connection") {
  scripted_backend db;
  db.accept_only({"nxt"});
  auto dc = make_dual_credential(scripted_two_phase{&db}, static_provider(make_set("cur", "nxt")));
  REQUIRE(dc);
  auto c = dc.value().connect();
  REQUIRE(c);
  CHECK(db.opens() == 1);
  CHECK(db.attempts() == strings{"cur", "nxt"});
  CHECK(c.value().user == "app");
}

TEST_CASE("two-phase: all refused, then a reload: still one connection") {
  scripted_backend db;
  db.accept_only({"z"});
  auto dc =
      make_dual_credential(scripted_two_phase{&db}, static_provider(make_set("x", "y")), fast());
  dc.value().provider().set(make_set("z", std::nullopt));
  REQUIRE(dc.value().connect());
  CHECK(db.opens() == 1);
  CHECK(db.attempts() == strings{"x", "y", "z"});
}

TEST_CASE("two-phase: a failed open is returned at once, no credential is sent") {
  scripted_backend db;
  db.fail_open(error(errc::backend_unavailable, "connect: connection refused"));
  auto dc = make_dual_credential(scripted_two_phase{&db}, static_provider(make_set("x", "y")));
  auto c = dc.value().connect();
  REQUIRE(!c);
  CHECK(c.error().is(errc::backend_unavailable));
  CHECK(db.attempts().empty());
}

TEST_CASE("refresh_interval: the first connect after it elapses reloads; failure keeps the set") {
  auto script = std::make_shared<scripted_provider::script>();
  script->set = make_set("a", std::nullopt, "1");
  scripted_backend db;
  db.accept_only({"a", "b"});
  options o = fast();
  o.refresh_interval = std::chrono::milliseconds(50);
  auto dc = make_dual_credential(scripted_connector{&db}, scripted_provider(script), o);
  REQUIRE(dc.value().connect());  // the first connect schedules the next refresh
  const int loads_after_first = script->loads;
  REQUIRE(dc.value().connect());
  CHECK(script->loads == loads_after_first);  // not due yet
  script->publish(make_set("b", std::nullopt, "2"));
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  REQUIRE(dc.value().connect());
  CHECK(script->loads == loads_after_first + 1);
  CHECK(dc.value().snapshot().version == "2");
  script->failure = error(errc::provider_unavailable, "down");
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  REQUIRE(dc.value().connect());
  CHECK(dc.value().snapshot().version == "2");
  CHECK(dc.value().snapshot().reload_failures == 1);
}

TEST_CASE("a dual_credential can be moved and keeps working") {
  scripted_backend db;
  db.accept_only({"cur"});
  auto made = make_dual_credential(scripted_connector{&db}, static_provider(make_set("cur", "n")));
  auto dc = std::move(made).value();
  auto moved = std::move(dc);
  CHECK(moved.connect());
  CHECK(moved.snapshot().connects_via_current == 1);
}

TEST_CASE("a std::reference_wrapper to a callable is a connector") {
  scripted_backend db;
  db.accept_only({"cur"});
  scripted_connector inner{&db};
  auto dc = make_dual_credential(std::cref(inner), static_provider(make_set("cur", "n")));
  CHECK(dc.value().connect());
}

TEST_SUITE_END();
