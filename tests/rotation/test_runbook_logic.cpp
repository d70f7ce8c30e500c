// The runbook's logic without a server: the rotator over an in-memory store and a scripted
// backend, through every cell of the phase table (five phases, six steps), then a crash at
// every operation of every step (the store, the backend or the fleet failing there, which is
// also the process dying between a backend change and its store write), each followed by a
// resume that must end idle with the store's CURRENT accepted and no other password left.
#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/rotation.hpp>

#include "support/fault_plan.hpp"
#include "support/memory_store.hpp"
#include "support/scripted_admin.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_runbook_logic {

TEST_SUITE_BEGIN("runbook_logic");

using namespace dualcred;
using namespace dualcred::rotation;
using dualcred::testing::fault_plan;
using dualcred::testing::memory_store;
using dualcred::testing::scripted_admin;

static_assert(writable_store<memory_store>);
static_assert(password_admin<scripted_admin>);

enum class expect { run, done, refused };

struct cell {
  phase from;
  step s;
  expect verdict;
  phase after;
};

// The runbook's order as the documentation states it, written out independently of
// `phase_table`: a change to the table fails here until this is changed too.
constexpr phase I = phase::idle, A = phase::applied, P = phase::promoted, V = phase::verified,
                R = phase::rolling_back;
constexpr expect run = expect::run, done = expect::done, refused = expect::refused;
// clang-format off
constexpr std::array<cell, 30> cells{{
    {I, step::prepare, run, I},     {I, step::apply, run, A},         {I, step::promote, refused, I},
    {I, step::verify, run, I},      {I, step::decommission, done, I}, {I, step::rollback, run, I},
    {A, step::prepare, run, A},     {A, step::apply, run, A},         {A, step::promote, run, P},
    {A, step::verify, run, A},      {A, step::decommission, refused, A}, {A, step::rollback, refused, A},
    {P, step::prepare, run, P},     {P, step::apply, refused, P},     {P, step::promote, done, P},
    {P, step::verify, run, V},      {P, step::decommission, refused, P}, {P, step::rollback, run, I},
    {V, step::prepare, run, V},     {V, step::apply, refused, V},     {V, step::promote, done, V},
    {V, step::verify, run, V},      {V, step::decommission, run, I},  {V, step::rollback, run, I},
    {R, step::prepare, refused, R}, {R, step::apply, refused, R},     {R, step::promote, refused, R},
    {R, step::verify, refused, R},  {R, step::decommission, refused, R}, {R, step::rollback, run, I},
}};
// clang-format on

// One backend strategy: how its users hold passwords, and whether NEXT is another user.
struct strategy {
  const char* name;
  scripted_admin::strategy how;
  std::vector<std::string> users;
};

std::vector<strategy> strategies() {
  return {
      {"one password, one user (a PostgreSQL role)",
       scripted_admin::strategy::one_password,
       {"app"}},
      {"several passwords, one user (a Redis ACL user)",
       scripted_admin::strategy::several_passwords,
       {"app"}},
      {"two alternating users", scripted_admin::strategy::several_passwords, {"app_a", "app_b"}}};
}

// A store, a backend and a fleet, all numbered by one fault plan; each `rotator()` is a new
// process over the same store and backend.
struct world {
  explicit world(const strategy& how)
      : plan(std::make_shared<fault_plan>()),
        store(plan),
        admin(how.how, how.users, plan),
        user(how.users.front()) {}

  // The same store and backend as they are now, with a fault plan of their own.
  [[nodiscard]] world fork() const {
    auto p = std::make_shared<fault_plan>();
    return world(p, store.copy(p), admin.copy(p), user);
  }

  [[nodiscard]] rotation::rotator<memory_store, scripted_admin> rotator() {
    rotator_options o;
    o.instances = [p = plan](const fleet_request&) { return p->step("fleet"); };
    return {store, admin, rotation_keys::for_prefix("DB"), o};
  }

  [[nodiscard]] rotation_state state() const {
    auto st = parse_state(store.peek().data, rotation_keys::for_prefix("DB"), "memory store");
    REQUIRE_MESSAGE(st, st.error().detail);
    return st.value();
  }

  world(std::shared_ptr<fault_plan> p, memory_store s, scripted_admin a, std::string u)
      : plan(std::move(p)), store(std::move(s)), admin(std::move(a)), user(std::move(u)) {}

  std::shared_ptr<fault_plan> plan;
  memory_store store;
  scripted_admin admin;
  std::string user;
};

// Provisions the store and backend, rotates once (so PREVIOUS exists), then walks to `p`.
void reach(world& w, phase p) {
  auto r = w.rotator();
  init_request req;
  req.user = w.user;
  req.generate = true;
  const auto made = r.init(req);
  REQUIRE_MESSAGE(made, made.error().detail);
  const auto first = r.run_all();
  REQUIRE_MESSAGE(first, first.error().detail);
  if (p == phase::idle) return;
  REQUIRE(r.prepare());
  REQUIRE(r.apply());
  if (p == phase::applied) return;
  REQUIRE(r.promote());
  if (p == phase::promoted) return;
  REQUIRE(r.verify());
  if (p == phase::verified) return;
  // A rollback whose backend change failed after the store said rolling_back.
  w.plan->fail_next("admin.accept");
  REQUIRE_FALSE(r.rollback());
  REQUIRE(w.state().phase == phase::rolling_back);
}

// One world in each phase, in `phase` order, to fork each test's world from.
std::vector<world> at_each_phase(const strategy& how) {
  std::vector<world> out;
  for (const phase p :
       {phase::idle, phase::applied, phase::promoted, phase::verified, phase::rolling_back}) {
    world w(how);
    reach(w, p);
    out.push_back(w.fork());
  }
  return out;
}

// Clients can log in: the backend accepts CURRENT, or NEXT while it takes over (a single
// role after apply, a rollback before the backend takes the restored CURRENT back).
bool clients_log_in(const world& w) {
  const auto st = w.state();
  return w.admin.holds(st.current) || (st.next && w.admin.holds(*st.next));
}

// Finishes whatever is under way, as `due` would, and checks the end state: idle, the
// store's CURRENT accepted, and no other password left on the backend.
void finish_and_check(world& w) {
  auto r = w.rotator();
  if (w.state().phase == phase::rolling_back) {
    const auto back = r.rollback();
    REQUIRE_MESSAGE(back, back.error().detail);
  } else {
    const auto rest = r.run_all();
    REQUIRE_MESSAGE(rest, rest.error().detail);
  }
  const auto st = w.state();
  CHECK(st.phase == phase::idle);
  CHECK(w.admin.holds(st.current));
  CHECK(w.admin.accepted_count() == 1);
}

// Runs the cell's step and checks its verdict and the phase it leaves.
void check_cell(world& w, const cell& c) {
  auto r = w.rotator();
  const auto out = r.run(c.s);
  const std::string_view why = rule_for(c.from, c.s).why;
  switch (c.verdict) {
    case expect::refused:
      REQUIRE_FALSE(out);
      CHECK(out.error().is(errc::invalid_argument));
      CHECK(out.error().detail.find(why) != std::string::npos);
      break;
    case expect::done:
      REQUIRE_MESSAGE(out, out.error().detail);
      CHECK_FALSE(out.value().changed);
      CHECK(out.value().summary == why);
      break;
    case expect::run:
      REQUIRE_MESSAGE(out, out.error().detail);
      CHECK(why.empty());
      CHECK(out.value().phase == c.after);
      break;
  }
  CHECK(w.state().phase == c.after);
  CHECK(clients_log_in(w));
}

// Calls `visit(from, c)` for every strategy and every cell `c` of the table, `from` being
// the world at the cell's phase; a failure names the strategy, the phase and the step.
template <class Visit>
void for_each_cell(Visit visit) {
  for (const auto& how : strategies()) {
    const auto start = at_each_phase(how);
    for (const auto& c : cells) {
      CAPTURE(how.name);
      CAPTURE(to_string(c.from));
      CAPTURE(to_string(c.s));
      visit(start[static_cast<std::size_t>(c.from)], c);
    }
  }
}

TEST_CASE("every cell of the phase table: its verdict, the phase it leaves, then finished") {
  for_each_cell([](const world& from, const cell& c) {
    world w = from.fork();
    check_cell(w, c);
    finish_and_check(w);
  });
}

TEST_CASE("a crash at every operation of every step, then a resume that finishes") {
  std::size_t crashes = 0, after_backend_change = 0;
  for_each_cell([&](const world& from, const cell& c) {
    // The step's operations, counted on a run without faults.
    std::size_t operations = 0;
    {
      world w = from.fork();
      (void)w.rotator().run(c.s);
      operations = w.plan->count();
    }
    REQUIRE(operations >= 1);
    for (std::size_t k = 1; k <= operations; ++k) {
      CAPTURE(k);
      world w = from.fork();
      const std::size_t before = w.plan->log().size();
      w.plan->fail_at(k);
      REQUIRE_FALSE(w.rotator().run(c.s));
      CAPTURE(w.plan->failed());
      ++crashes;
      const auto& log = w.plan->log();
      bool changed_backend = false;
      for (std::size_t i = before; i + 1 < log.size(); ++i)
        changed_backend = changed_backend || log[i].starts_with("admin.accept") ||
                          log[i].starts_with("admin.revoke");
      if (changed_backend && w.plan->failed() == "store.write") ++after_backend_change;
      // Whatever the crash left, clients still log in.
      CHECK(clients_log_in(w));
      // The operator runs the step again, then the rest.
      if (c.verdict == expect::run) {
        const auto again = w.rotator().run(c.s);
        REQUIRE_MESSAGE(again, again.error().detail);
        CHECK(w.state().phase == c.after);
      }
      finish_and_check(w);
    }
  });
  MESSAGE(crashes << " crashes resumed, " << after_backend_change
                  << " of them between a backend change and its store write");
  CHECK(after_backend_change > 0);
}

TEST_SUITE_END();

}  // namespace test_runbook_logic
