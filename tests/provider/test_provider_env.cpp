#include <dualcred/provider/env.hpp>

#include <doctest/doctest.h>

#include <dualcred_testing/scoped_env.hpp>

TEST_SUITE_BEGIN("provider_env");

using namespace dualcred;
using dualcred::testing::scoped_env;

TEST_CASE("key_names::for_prefix gives the seed's names") {
  const auto db = key_names::for_prefix("DB");
  CHECK(db.user == "DB_USER");
  CHECK(db.current == "DB_PASS_CURRENT");
  CHECK(db.next == "DB_PASS_NEXT");
  CHECK(db.user_next == "DB_USER_NEXT");
  CHECK(db.default_user.empty());
  const auto redis = key_names::for_prefix("REDIS");
  CHECK(redis.current == "REDIS_PASS_CURRENT");
  CHECK(redis.default_user == "default");
}

TEST_CASE("env_provider reads DB_* with NEXT optional") {
  scoped_env u("DB_USER", "app");
  scoped_env c("DB_PASS_CURRENT", "cur");
  scoped_env n("DB_PASS_NEXT", nullptr);
  scoped_env un("DB_USER_NEXT", nullptr);
  env_provider p;
  auto s = p.load();
  REQUIRE(s);
  CHECK(s.value().current.user == "app");
  CHECK(s.value().current.password.reveal() == "cur");
  CHECK(!s.value().next);
}

TEST_CASE("env_provider: NEXT, alternating users, and versions that follow the values") {
  scoped_env u("DB_USER", "app_blue");
  scoped_env c("DB_PASS_CURRENT", "cur");
  scoped_env n("DB_PASS_NEXT", "nxt");
  scoped_env un("DB_USER_NEXT", "app_green");
  env_provider p;
  auto first = p.load();
  REQUIRE(first);
  CHECK(first.value().next->user == "app_green");
  CHECK(first.value().next->password.reveal() == "nxt");
  CHECK(p.load().value().version == first.value().version);
  ::setenv("DB_PASS_NEXT", "nxt2", 1);
  CHECK(p.load().value().version != first.value().version);
}

TEST_CASE("env_provider for REDIS: the user defaults to `default`") {
  scoped_env u("REDIS_USER", nullptr);
  scoped_env c("REDIS_PASS_CURRENT", "r1");
  scoped_env n("REDIS_PASS_NEXT", "r2");
  env_provider p(key_names::for_prefix("REDIS"));
  auto s = p.load();
  REQUIRE(s);
  CHECK(s.value().current.user == "default");
  CHECK(s.value().next->user == "default");
}

TEST_SUITE_END();
