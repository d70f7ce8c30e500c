// The README's program: a connect that survives a password rotation.
//
// The "backend" here is an in-process stand-in that accepts one password, so the example
// runs anywhere; swap `fake_backend` for dualcred::pg::connector or redis::connector.
#include <cstdio>
#include <string>

#include <dualcred/dualcred.hpp>
#include <dualcred/provider/static.hpp>

struct session {
  std::string user;
};

// Accepts only the password it currently holds, like a database role.
struct fake_backend {
  std::string* accepted;
  dualcred::result<session> operator()(const dualcred::credential& c) const {
    if (c.password.reveal() != *accepted)
      return dualcred::fail(dualcred::errc::auth_rejected, "password authentication failed");
    return session{c.user};
  }
};

int main() {
  std::string server_password = "old-secret";
  dualcred::credential_set set{{"app", dualcred::secret("old-secret")},
                               dualcred::credential{"app", dualcred::secret("new-secret")},
                               "1"};

  auto creds = dualcred::make_dual_credential(fake_backend{&server_password},
                                              dualcred::static_provider(std::move(set)));
  if (!creds) {
    std::fprintf(stderr, "start-up failed: %s\n", creds.error().detail.c_str());
    return 1;
  }
  auto& db = creds.value();

  auto before = db.connect();      // CURRENT works
  server_password = "new-secret";  // the operator rotates the backend
  auto after = db.connect();       // CURRENT refused, NEXT accepted
  auto again = db.connect();       // sticky: straight to NEXT

  fmt::print("before rotation: {}\n", before ? "connected" : before.error().detail);
  fmt::print("after rotation:  {}\n", after ? "connected" : after.error().detail);
  fmt::print("status: {}\n", db.snapshot());
  return before && after && again ? 0 : 1;
}
