// The suite's one doctest main: runs the selected tests, then fails the run if any error
// detail made during it held a secret (the leak policy, dualcred_testing/leak_audit.hpp).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <dualcred_testing/leak_audit.hpp>

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int failed = context.run();
  if (context.shouldExit()) return failed;
  const std::size_t leaks = dualcred_testing::report_leaks();
  return failed != 0 ? failed : (leaks != 0 ? 1 : 0);
}
