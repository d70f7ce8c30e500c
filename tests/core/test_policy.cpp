#include <dualcred/log_policy.hpp>
#include <dualcred/policy.hpp>

#include <mutex>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/dual_credential.hpp>
#include <dualcred/provider/static.hpp>

#include "support/scripted.hpp"

TEST_SUITE_BEGIN("policy");

using namespace dualcred;
using dualcred::testing::make_set;
using dualcred::testing::scripted_backend;
using dualcred::testing::scripted_connector;

namespace {
struct recording_policy : default_policy {
  std::shared_ptr<std::vector<event_kind>> seen = std::make_shared<std::vector<event_kind>>();
  void on_event(const event& e) noexcept { seen->push_back(e.kind); }
};

// Treats a timeout as worth trying the other credential too (say, a proxy that stalls
// instead of refusing).
struct timeouts_fall_back : default_policy {
  bool should_fall_back(const error& e) const noexcept {
    return is_auth_failure(e) || e.is(errc::timeout);
  }
};

struct collecting_sink {
  std::shared_ptr<std::vector<std::string>> lines = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();
  void operator()(std::string_view line) const {
    std::lock_guard lock(*mutex);
    lines->emplace_back(line);
  }
};
}  // namespace

TEST_CASE("the policy sees each event in order") {
  scripted_backend db;
  db.accept_only({"n"});
  recording_policy policy;
  auto seen = policy.seen;
  options o;
  o.min_reload_interval = std::chrono::milliseconds(0);
  auto dc =
      make_dual_credential(scripted_connector{&db}, static_provider(make_set("c", "n")), o, policy);
  REQUIRE(dc.value().connect());
  db.accept_only({});
  CHECK(!dc.value().connect());
  CHECK(*seen == std::vector<event_kind>{event_kind::reloaded, event_kind::refused,
                                         event_kind::fell_back, event_kind::refused,
                                         event_kind::refused, event_kind::reloaded,
                                         event_kind::all_refused});
}

TEST_CASE("a policy can widen what falls back") {
  struct stalls_on_current {
    result<testing::fake_conn> operator()(const credential& c) const {
      if (c.password.reveal() == "c") return fail(errc::timeout, "stalled");
      return testing::fake_conn{c.user, 1};
    }
  };
  auto plain = make_dual_credential(stalls_on_current{}, static_provider(make_set("c", "n")));
  CHECK(plain.value().connect().error().is(errc::timeout));
  auto widened = make_dual_credential(stalls_on_current{}, static_provider(make_set("c", "n")),
                                      options{}, timeouts_fall_back{});
  CHECK(widened.value().connect());
}

TEST_CASE("log_policy writes one line per event, with no secret in any") {
  scripted_backend db;
  db.accept_only({"next-pass-5678"});
  collecting_sink sink;
  auto dc = make_dual_credential(
      scripted_connector{&db}, static_provider(make_set("curr-pass-1234", "next-pass-5678", "v3")),
      options{}, log_policy{sink});
  REQUIRE(dc.value().connect());
  REQUIRE(sink.lines->size() == 3);
  CHECK((*sink.lines)[0] == R"(dualcred: reloaded slot=current version="v3")");
  CHECK((*sink.lines)[1].starts_with(
      R"(dualcred: refused slot=current code=auth_rejected version="v3" detail="password)"));
  CHECK((*sink.lines)[2] == R"(dualcred: fell_back slot=next version="v3")");
  for (const auto& line : *sink.lines) {
    CHECK(line.find("curr-pass-1234") == std::string::npos);
    CHECK(line.find("next-pass-5678") == std::string::npos);
  }
}

TEST_CASE("a throwing log sink does not fail the connect") {
  scripted_backend db;
  db.accept_only({"c"});
  auto throwing = [](std::string_view) { throw std::runtime_error("disk full"); };
  auto dc = make_dual_credential(scripted_connector{&db}, static_provider(make_set("c", "n")),
                                 options{}, log_policy{throwing});
  REQUIRE(dc);
  CHECK(dc.value().connect());
}

TEST_SUITE_END();
