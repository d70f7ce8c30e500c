// The rotate command's exit codes: every condition a rotation fails with, under every step and
// outside one (init, status), maps to one documented code; what a step meets (its site and the
// cause's code) becomes the condition the tool maps. No server: this pins the mapping itself.
#include <cstddef>
#include <iterator>
#include <optional>
#include <string>

#include <doctest/doctest.h>

#include "exit_codes.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_exit_codes {

TEST_SUITE_BEGIN("tool_exit_codes");

using namespace dualcred;
using namespace dualcred::rotation;
using namespace dualcred_rotate;

namespace {

// Every step, and none: init and reading the state run outside the runbook's steps.
const std::optional<step> commands[] = {std::nullopt,  step::prepare, step::apply,
                                        step::promote, step::verify,  step::decommission,
                                        step::rollback};

std::string name(const std::optional<step>& s) {
  return s ? std::string(to_string(*s)) : std::string("init");
}

}  // namespace

TEST_CASE("every (condition, step) pair has the condition's exit code") {
  struct row {
    condition what;
    int code;
  };
  const row table[] = {
      {condition::out_of_order, 9},        {condition::keys_conflict, 9},
      {condition::store_failed, 3},        {condition::store_conflict, 4},
      {condition::backend_unreachable, 5}, {condition::admin_refused, 6},
      {condition::bad_configuration, 2},   {condition::not_a_standby, 2},
      {condition::not_a_cluster, 2},       {condition::login_refused, 7},
      {condition::fleet_not_ready, 8},     {condition::replay_timeout, 10},
      {condition::node_not_allowed, 12},   {condition::lock_held, 13},
      {condition::sessions_remain, 14},
  };
  REQUIRE(std::size(table) == std::size(all_conditions));
  for (std::size_t i = 0; i < std::size(table); ++i) {
    CAPTURE(to_string(table[i].what));
    CHECK(table[i].what == all_conditions[i]);  // one row per condition, none left out
    for (const auto& s : commands) {
      CAPTURE(name(s));
      const failure f(error(errc::invalid_argument, "x"), s, failure_site::backend, table[i].what,
                      "node");
      CHECK(exit_for(f.what) == table[i].code);
    }
  }
}

TEST_CASE("what a step meets becomes the condition the tool maps: site and cause to exit code") {
  struct row {
    const char* what;
    failure_site site;
    error cause;
    int code;
  };
  const row table[] = {
      {"out of order", failure_site::order, error(errc::invalid_argument, "x"), 9},
      {"no NEXT", failure_site::order, error(errc::not_found, "x"), 9},
      {"store down", failure_site::store, error(errc::provider_unavailable, "x"), 3},
      {"store missing", failure_site::store, error(errc::not_found, "x"), 3},
      {"store malformed", failure_site::store, error(errc::malformed, "x"), 3},
      {"check-and-set lost", failure_site::store, error(errc::conflict, "x"), 4},
      {"backend down", failure_site::backend, error(errc::backend_unavailable, "x"), 5},
      {"backend slow", failure_site::backend, error(errc::timeout, "x"), 5},
      {"admin login refused", failure_site::backend, error(errc::auth_rejected, "x"), 6},
      {"admin lacks a privilege", failure_site::backend, error(errc::permission_denied, "x"), 6},
      {"user missing", failure_site::backend, error(errc::not_found, "x"), 6},
      {"admin misconfigured", failure_site::backend, error(errc::invalid_argument, "x"), 2},
      // Once 7 under verify and 5 under init: an unreachable backend is 5 wherever it is met.
      {"backend down at the login", failure_site::verify, error(errc::backend_unavailable, "x"), 5},
      {"backend slow at the login", failure_site::verify, error(errc::timeout, "x"), 5},
      {"new credential refused", failure_site::verify, error(errc::auth_rejected, "x"), 7},
      {"fleet late", failure_site::fleet, error(errc::timeout, "x"), 8},
      // Once 10 under all but 5 under due: the condition travels in the error itself.
      {"standby replay timeout", failure_site::backend, error(condition::replay_timeout, "x"), 10},
      {"not a standby", failure_site::backend, error(condition::not_a_standby, "x"), 2},
      {"node outside the allowed set", failure_site::backend,
       error(condition::node_not_allowed, "x"), 12},
      {"rotation lock held", failure_site::store, error(condition::lock_held, "x"), 13},
      {"sessions outlived the drain", failure_site::drain, error(condition::sessions_remain, "x"),
       14},
      {"a drain count refused", failure_site::drain, error(errc::permission_denied, "x"), 6},
      {"a drain count unreachable", failure_site::drain, error(errc::backend_unavailable, "x"), 5},
  };
  for (const auto& r : table) {
    CAPTURE(r.what);
    for (const auto& s : commands) {
      CAPTURE(name(s));
      const failure f(r.cause, s, r.site, classify(r.site, r.cause), {});
      CHECK(exit_for(f.what) == r.code);
      CHECK(exit_for(as_failure(r.site, r.cause).what) == r.code);
    }
  }
}

TEST_CASE("the tool, not the library, names the flag a failure points to") {
  const failure standby(error(condition::not_a_standby, "x"), step::apply, failure_site::backend,
                        condition::not_a_standby, {});
  CHECK(failure_hint(standby, {"all"}).find("--pg-standby") != std::string::npos);
  const failure lost_write(error(errc::conflict, "x"), std::nullopt, failure_site::store,
                           condition::store_conflict, {});
  CHECK(failure_hint(lost_write, {"init", true}) == "run init --generate again");
  CHECK(failure_hint(lost_write, {"init", false}).empty());
  CHECK(failure_hint(lost_write, {"all"}).empty());
}

TEST_SUITE_END();

}  // namespace test_exit_codes
