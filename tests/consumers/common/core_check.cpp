// What every consumer project builds: the core, used the way an application would, so a
// broken install (a missing header, a wrong include path or link flag) fails here.
#include <cstdio>
#include <string>
#include <utility>

#include <dualcred/dualcred.hpp>
#include <dualcred/provider/env.hpp>
#include <dualcred/provider/static.hpp>

static_assert(DUALCRED_VERSION == DUALCRED_VERSION_MAJOR * 10000 + DUALCRED_VERSION_MINOR * 100 +
                                      DUALCRED_VERSION_PATCH);

int main() {
  // A "server" that has already been rotated to the NEXT password.
  const std::string accepted = "new-password";
  auto connect = [&accepted](const dualcred::credential& c) -> dualcred::result<int> {
    if (c.password.reveal() != accepted)
      return dualcred::fail(dualcred::errc::auth_rejected, "password authentication failed");
    return 42;
  };
  dualcred::credential_set set{{"app", dualcred::secret("old-password")},
                               dualcred::credential{"app", dualcred::secret("new-password")},
                               "1"};
  auto creds = dualcred::make_dual_credential(connect, dualcred::static_provider(std::move(set)));
  if (!creds) {
    std::fprintf(stderr, "make_dual_credential failed: %s\n", creds.error().detail.c_str());
    return 1;
  }
  auto conn = creds.value().connect();
  const dualcred::status s = creds.value().snapshot();
  if (!conn || conn.value() != 42 || s.fallbacks != 1 || s.connects_via_next != 1) {
    std::fprintf(stderr, "expected one fallback to NEXT, got %s\n", fmt::format("{}", s).c_str());
    return 1;
  }

  // The env provider names the variable it missed.
  dualcred::env_provider env(dualcred::key_names::for_prefix("DUALCRED_CONSUMER_UNSET"));
  auto loaded = env.load();
  if (loaded || !loaded.error().is(dualcred::errc::not_found)) {
    std::fprintf(stderr, "env_provider should report a missing variable\n");
    return 1;
  }

  std::printf("dualcred %s %s\n", DUALCRED_VERSION_STRING, fmt::format("{}", s).c_str());
  return 0;
}
