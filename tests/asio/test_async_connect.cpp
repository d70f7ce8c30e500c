#include <dualcred/asio/connect.hpp>

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "asio/async_scripted.hpp"

TEST_SUITE_BEGIN("async_connect");

using namespace dualcred;
using namespace dualcred::testing;
using strings = std::vector<std::string>;
namespace net = boost::asio;

namespace {

// What the world does just before the backend judges attempt number `at` (from 1).
// A set as the provider will answer it: CURRENT's and NEXT's passwords.
using set_spec = std::pair<std::string, std::optional<std::string>>;

struct change {
  int at = 0;
  std::optional<std::set<std::string>> accept = {};
  std::optional<set_spec> publish = {};  // the provider's next answer
  std::optional<error> provider_fails = {};
  std::optional<error> attempt_fails = {};  // this attempt fails so, unjudged
  bool reload_now = false;                  // another caller's reload publishes it meanwhile
};

struct scenario {
  const char* name = "";
  bool two_phase = false;
  bool sticky = true;
  set_spec first = {};
  std::set<std::string> accept = {};
  int connects = 1;
  std::vector<change> changes = {};
  strings attempts = {};  // expected
  strings results = {};   // expected: "ok" or the error's code message
  std::optional<error> open_fails = std::nullopt;
  bool load_first = true;  // make_dual_credential; else the first connect loads
};

struct outcome {
  strings attempts;
  strings results;
  strings details;
  std::uint64_t via_current = 0, via_next = 0, fallbacks = 0, all_rejected = 0, reloads = 0;
  int loads = 0, opens = 0;
  bool operator==(const outcome&) const = default;
};

// The world of one run: a backend, a provider script, the change list applied per attempt.
struct world {
  const scenario& s;
  scripted_backend db;
  std::shared_ptr<scripted_provider::script> script = std::make_shared<scripted_provider::script>();
  int attempt_no = 0;
  std::function<void()> reload_now;

  explicit world(const scenario& sc) : s(sc) {
    db.accept_only(s.accept);
    script->set = make_set(s.first.first, s.first.second);
    if (s.open_fails) db.fail_open(s.open_fails);
  }
  void before_attempt() {
    ++attempt_no;
    for (const change& c : s.changes) {
      if (c.at != attempt_no) continue;
      if (c.accept) db.accept_only(*c.accept);
      if (c.attempt_fails) db.fail_next(*c.attempt_fails);
      std::lock_guard lock(script->mutex);
      if (c.publish) script->set = make_set(c.publish->first, c.publish->second);
      script->failure = c.provider_fails;
    }
    for (const change& c : s.changes)
      if (c.at == attempt_no && c.reload_now) reload_now();
  }
  options opts() const {
    options o;
    o.sticky = s.sticky;
    o.min_reload_interval = std::chrono::milliseconds(0);
    return o;
  }
  template <class Creds>
  void note(outcome& out, Creds& dc) {
    const status st = dc.snapshot();
    out.attempts = db.attempts();
    out.via_current = st.connects_via_current;
    out.via_next = st.connects_via_next;
    out.fallbacks = st.fallbacks;
    out.all_rejected = st.all_rejected;
    out.reloads = st.reloads;
    out.loads = script->loads.load();
    out.opens = db.opens();
  }
};

template <class R>
void record(outcome& out, const R& r) {
  out.results.push_back(r ? "ok" : r.error().code.message());
  out.details.push_back(r ? "" : r.error().detail);
}

// On the heap, so `reload_now` may hold its address.
template <class Creds>
std::unique_ptr<Creds> build(world& w, typename Creds::connector_type c) {
  auto dc = std::make_unique<Creds>(std::move(c), scripted_provider(w.script), w.opts());
  if (w.s.load_first) REQUIRE(dc->reload());
  w.reload_now = [d = dc.get()] { (void)d->reload(); };
  return dc;
}

template <class Connector>
outcome run_blocking(const scenario& s) {
  world w(s);
  using creds_t =
      dual_credential<std::function<result<fake_conn>(const credential&)>, scripted_provider>;
  outcome out;
  if constexpr (std::is_same_v<Connector, scripted_two_phase>) {
    struct two_phase {
      world* w;
      result<fake_conn> open() const { return scripted_two_phase{&w->db}.open(); }
      result<void> authenticate(fake_conn& c, const credential& cred) const {
        w->before_attempt();
        return scripted_two_phase{&w->db}.authenticate(c, cred);
      }
    };
    dual_credential<two_phase, scripted_provider> dc(two_phase{&w}, scripted_provider(w.script),
                                                     w.opts());
    if (s.load_first) REQUIRE(dc.reload());
    w.reload_now = [&dc] { (void)dc.reload(); };
    for (int i = 0; i < s.connects; ++i) record(out, dc.connect());
    w.note(out, dc);
  } else {
    auto dc = build<creds_t>(w, [&w](const credential& c) {
      w.before_attempt();
      return scripted_connector{&w.db}(c);
    });
    for (int i = 0; i < s.connects; ++i) record(out, dc->connect());
    w.note(out, *dc);
  }
  return out;
}

template <class AsyncConnector>
outcome run_async(const scenario& s) {
  world w(s);
  net::io_context io;
  AsyncConnector c{&w.db, io.get_executor()};
  c.during_attempt = [&w](const credential&) { w.before_attempt(); };
  auto dc = build<dual_credential<AsyncConnector, scripted_provider>>(w, std::move(c));
  outcome out;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        for (int i = 0; i < s.connects; ++i)
          record(out, co_await dc->async_connect(net::use_awaitable));
      },
      net::detached);
  io.run();
  w.note(out, *dc);
  return out;
}

set_spec set_of(std::string cur, std::optional<std::string> nxt = std::nullopt) {
  return {std::move(cur), std::move(nxt)};
}
const std::string ok = "ok";
const std::string refused_all = make_error_code(errc::all_rejected).message();
const std::string unavailable = make_error_code(errc::backend_unavailable).message();
const std::string timed_out = make_error_code(errc::timeout).message();
const std::string no_provider = make_error_code(errc::provider_unavailable).message();

std::vector<scenario> table() {
  const error down(errc::backend_unavailable, "connection refused");
  const error slow(errc::timeout, "no answer");
  const error store_down(errc::provider_unavailable, "store unreachable");
  return {
      {.name = "happy path: CURRENT",
       .first = set_of("cur", "nxt"),
       .accept = {"cur"},
       .connects = 2,
       .attempts = {"cur", "cur"},
       .results = {ok, ok}},
      {.name = "fallback to NEXT, then NEXT first (sticky)",
       .first = set_of("cur", "nxt"),
       .accept = {"nxt"},
       .connects = 3,
       .attempts = {"cur", "nxt", "nxt", "nxt"},
       .results = {ok, ok, ok}},
      {.name = "not sticky: CURRENT first every time",
       .sticky = false,
       .first = set_of("cur", "nxt"),
       .accept = {"nxt"},
       .connects = 2,
       .attempts = {"cur", "nxt", "cur", "nxt"},
       .results = {ok, ok}},
      {.name = "sticky NEXT refused: back to CURRENT",
       .first = set_of("cur", "nxt"),
       .accept = {"nxt"},
       .connects = 3,
       .changes = {{.at = 3, .accept = {{"cur"}}}},
       .attempts = {"cur", "nxt", "nxt", "cur", "cur"},
       .results = {ok, ok, ok}},
      {.name = "not a refusal: returned at once",
       .first = set_of("cur", "nxt"),
       .accept = {"cur"},
       .connects = 2,
       .changes = {{.at = 1, .attempt_fails = down}},
       .attempts = {"cur", "cur"},
       .results = {unavailable, ok}},
      {.name = "not a refusal on NEXT after a refused CURRENT",
       .first = set_of("cur", "nxt"),
       .accept = {},
       .changes = {{.at = 2, .attempt_fails = slow}},
       .attempts = {"cur", "nxt"},
       .results = {timed_out}},
      {.name = "all refused, nothing new: all_rejected after one reload",
       .first = set_of("cur", "nxt"),
       .accept = {},
       .attempts = {"cur", "nxt"},
       .results = {refused_all}},
      {.name = "all refused, the reload brings a set that works",
       .first = set_of("cur", "nxt"),
       .accept = {"new"},
       .changes = {{.at = 2, .publish = set_of("nxt", "new")}},
       .attempts = {"cur", "nxt", "nxt", "new"},
       .results = {ok}},
      {.name = "a set published during the retry gets its own try",
       .first = set_of("cur", "nxt"),
       .accept = {"n3"},
       .changes = {{.at = 2, .publish = set_of("nxt", "n2")},
                   {.at = 4, .publish = set_of("n2", "n3"), .reload_now = true}},
       .attempts = {"cur", "nxt", "nxt", "n2", "n2", "n3"},
       .results = {ok}},
      {.name = "a store that changes under every retry: three newer sets, then all_rejected",
       .first = set_of("a"),
       .accept = {},
       .changes = {{.at = 1, .publish = set_of("b")},
                   {.at = 2, .publish = set_of("c"), .reload_now = true},
                   {.at = 3, .publish = set_of("d"), .reload_now = true},
                   {.at = 4, .publish = set_of("e"), .reload_now = true}},
       .attempts = {"a", "b", "c", "d"},
       .results = {refused_all}},
      {.name = "no NEXT: CURRENT refused, all_rejected naming CURRENT",
       .first = set_of("cur"),
       .accept = {},
       .attempts = {"cur"},
       .results = {refused_all}},
      {.name = "the reload fails: all_rejected says so",
       .first = set_of("cur", "nxt"),
       .accept = {},
       .changes = {{.at = 2, .provider_fails = store_down}},
       .attempts = {"cur", "nxt"},
       .results = {refused_all}},
      {.name = "nothing loaded yet: the first connect loads",
       .first = set_of("cur", "nxt"),
       .accept = {"cur"},
       .attempts = {"cur"},
       .results = {ok},
       .load_first = false},
      {.name = "two-phase: fallback on the same connection",
       .two_phase = true,
       .first = set_of("cur", "nxt"),
       .accept = {"nxt"},
       .connects = 2,
       .attempts = {"cur", "nxt", "nxt"},
       .results = {ok, ok}},
      {.name = "two-phase: all refused, reload, still one connection",
       .two_phase = true,
       .first = set_of("cur", "nxt"),
       .accept = {"new"},
       .changes = {{.at = 2, .publish = set_of("nxt", "new")}},
       .attempts = {"cur", "nxt", "nxt", "new"},
       .results = {ok}},
      {.name = "two-phase: a failed open is returned, no credential sent",
       .two_phase = true,
       .first = set_of("cur", "nxt"),
       .accept = {"cur"},
       .attempts = {},
       .results = {unavailable},
       .open_fails = down},
  };
}

}  // namespace

namespace {
// Completes with an error_code and a value, not with a result: no async connector.
struct wrong_signature {
  net::any_io_executor ex;
  net::any_io_executor get_executor() const { return ex; }
  template <class Token>
  auto async_connect(const credential&, Token&& token) {
    return net::async_initiate<Token, void(boost::system::error_code, int)>([](auto) {}, token);
  }
};
}  // namespace

TEST_CASE("the async concepts: what completes with result<Conn> qualifies, nothing else") {
  static_assert(async_connector<async_scripted_connector>);
  static_assert(async_only_connector<async_scripted_connector>);
  static_assert(std::is_same_v<connection_t<async_scripted_connector>, fake_conn>);
  static_assert(std::is_same_v<connection_t<async_scripted_two_phase>, fake_conn>);
  static_assert(!async_connector<wrong_signature>);
  static_assert(!two_phase_async_connector<wrong_signature>);
  static_assert(!async_connector<scripted_connector>);  // blocking only
  CHECK(true);
}

TEST_CASE("one table of scenarios: connect() and async_connect() give the same answers") {
  for (const scenario& s : table()) {
    INFO(std::string(s.name));
    const outcome blocking =
        s.two_phase ? run_blocking<scripted_two_phase>(s) : run_blocking<scripted_connector>(s);
    const outcome async = s.two_phase ? run_async<async_scripted_two_phase>(s)
                                      : run_async<async_scripted_connector>(s);
    INFO("blocking attempts: ", fmt::format("{}", fmt::join(blocking.attempts, ",")));
    INFO("async attempts: ", fmt::format("{}", fmt::join(async.attempts, ",")));
    CHECK(blocking.attempts == s.attempts);
    CHECK(blocking.results == s.results);
    CHECK(async.attempts == blocking.attempts);
    CHECK(async.results == blocking.results);
    CHECK(async.details == blocking.details);
    CHECK(async.via_current == blocking.via_current);
    CHECK(async.via_next == blocking.via_next);
    CHECK(async.fallbacks == blocking.fallbacks);
    CHECK(async.all_rejected == blocking.all_rejected);
    CHECK(async.reloads == blocking.reloads);
    CHECK(async.loads == blocking.loads);
    CHECK(async.opens == blocking.opens);
  }
}
