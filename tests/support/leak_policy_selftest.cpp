// The leak policy must be able to fail: this run makes an error detail that holds a secret
// and is registered with should_fail, so a policy that stopped catching leaks fails the suite.
#include <doctest/doctest.h>

#include <dualcred/error.hpp>
#include <dualcred/secret.hpp>

TEST_SUITE_BEGIN("leak_policy_selftest");

TEST_CASE("an error detail that quotes a secret is caught") {
  const dualcred::secret password("correct-horse-leaks");
  const dualcred::error e(dualcred::errc::malformed,
                          "login failed for correct-horse-leaks");  // the leak, on purpose
  CHECK(e.is(dualcred::errc::malformed));
}

TEST_SUITE_END();
