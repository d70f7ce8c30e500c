// The core compiles and works with -fno-exceptions: errors travel as results, and reaching
// for the value of a failed result aborts instead of throwing. Plain checks and a main of its
// own, since doctest's runner is built with exceptions.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include <dualcred/dualcred.hpp>
#include <dualcred/provider/env.hpp>
#include <dualcred/provider/static.hpp>

#if defined(__unix__)
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#endif

#if defined(__cpp_exceptions)
#error "tests/core/test_no_exceptions.cpp must be compiled with -fno-exceptions"
#endif

namespace {

int passed = 0;
int failed = 0;

void check(bool ok, const char* what, int line) {
  if (ok) {
    ++passed;
  } else {
    ++failed;
    std::fprintf(stderr, "test_no_exceptions.cpp:%d: FAILED: %s\n", line, what);
  }
}
#define CHECK(...) check(static_cast<bool>(__VA_ARGS__), #__VA_ARGS__, __LINE__)

dualcred::credential_set make_set(std::string_view current, std::string_view next,
                                  std::string version) {
  return dualcred::credential_set{{"app", dualcred::secret(current)},
                                  dualcred::credential{"app", dualcred::secret(next)},
                                  std::move(version)};
}

// A backend that accepts one password, which the test changes to simulate a rotation.
struct fake_backend {
  std::string* accepted;
  dualcred::result<int> operator()(const dualcred::credential& c) const {
    if (c.password.reveal() != *accepted)
      return dualcred::fail(dualcred::errc::auth_rejected, "password authentication failed");
    return 7;
  }
};

dualcred::result<int> half(int n) {
  if (n % 2 != 0) return dualcred::fail(dualcred::errc::invalid_argument, "odd number");
  return n / 2;
}

dualcred::result<int> quarter(int n) {
  DUALCRED_TRY(h, half(n));
  return half(h);
}

void secret_and_result() {
  dualcred::secret s("hunter2");
  CHECK(s.reveal() == "hunter2");
  CHECK(fmt::format("{}", s) == "***");
  CHECK(s == dualcred::secret("hunter2"));
  CHECK(!(s == dualcred::secret("hunter3")));
  dualcred::secret moved(std::move(s));
  CHECK(s.empty());  // NOLINT(bugprone-use-after-move): moved-from is specified as empty
  CHECK(moved.reveal() == "hunter2");

  CHECK(quarter(8).value() == 2);
  auto odd = quarter(6);
  CHECK(!odd);
  CHECK(odd.error().is(dualcred::errc::invalid_argument));
  CHECK(odd.error().detail == "odd number");
}

void fallback_and_reload() {
  std::string accepted = "pw-alpha";
  dualcred::options o;
  o.min_reload_interval = std::chrono::milliseconds(0);
  auto made = dualcred::make_dual_credential(
      fake_backend{&accepted}, dualcred::static_provider(make_set("pw-alpha", "pw-bravo", "1")), o);
  CHECK(made.has_value());
  if (!made) return;
  auto& dc = made.value();

  CHECK(dc.connect().value() == 7);  // CURRENT
  accepted = "pw-bravo";
  CHECK(dc.connect().value() == 7);  // CURRENT refused, NEXT accepted
  auto s = dc.snapshot();
  CHECK(s.fallbacks == 1);
  CHECK(s.preferred == dualcred::slot::next);

  // Both refused with the loaded set: the reload picks up the promoted one.
  accepted = "pw-charlie";
  dc.provider().set(make_set("pw-bravo", "pw-charlie", "2"));
  CHECK(dc.connect().value() == 7);
  s = dc.snapshot();
  CHECK(s.version == "2");
  CHECK(s.reloads == 2);

  // Refused with nothing new to load: all_rejected, and the detail holds no password.
  accepted = "pw-unknown";
  auto refused = dc.connect();
  CHECK(!refused);
  CHECK(refused.error().is(dualcred::errc::all_rejected));
  CHECK(refused.error().detail.find("password authentication failed") != std::string::npos);
  CHECK(refused.error().detail.find("pw-") == std::string::npos);

  const std::string json = fmt::format("{}", dc.snapshot());
  CHECK(json.find(R"("version":"2")") != std::string::npos);
  CHECK(json.find(R"("last_error":"all_rejected")") != std::string::npos);
}

void env_provider() {
  dualcred::env_provider missing(dualcred::key_names::for_prefix("DUALCRED_NOEXC_UNSET"));
  auto none = missing.load();
  CHECK(!none);
  CHECK(none.error().is(dualcred::errc::not_found));
  CHECK(none.error().detail.find("DUALCRED_NOEXC_UNSET_USER") != std::string::npos);

#if defined(__unix__)
  ::setenv("DUALCRED_NOEXC_USER", "svc", 1);
  ::setenv("DUALCRED_NOEXC_PASS_CURRENT", "p1", 1);
  dualcred::env_provider env(dualcred::key_names::for_prefix("DUALCRED_NOEXC"));
  auto set = env.load();
  CHECK(set.has_value());
  if (set) {
    CHECK(set.value().current.user == "svc");
    CHECK(set.value().current.password.reveal() == "p1");
    CHECK(!set.value().next.has_value());
  }
#endif
}

// Without exceptions the only honest answer to `.value()` on a failure is to stop.
void value_of_failure_aborts() {
#if defined(__unix__)
  std::fflush(nullptr);
  const pid_t child = ::fork();
  if (child == 0) {
    auto r = half(3);
    std::printf("%d\n", r.value());  // must not return
    std::_Exit(0);
  }
  int status = 0;
  CHECK(child > 0 && ::waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
#endif
}

}  // namespace

int main() {
  secret_and_result();
  fallback_and_reload();
  env_provider();
  value_of_failure_aborts();
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
