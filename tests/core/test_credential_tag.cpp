// Tags: which credential opened a connection, and whether the published set still holds it.
#include <dualcred/credential_tag.hpp>

#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/dual_credential.hpp>
#include <dualcred/provider/static.hpp>

#include "support/scripted.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_credential_tag {

TEST_SUITE_BEGIN("credential_tag");

using namespace dualcred;
using dualcred::testing::make_set;
using dualcred::testing::scripted_backend;
using dualcred::testing::scripted_connector;

namespace {
options fast() {
  options o;
  o.min_reload_interval = std::chrono::milliseconds(0);
  return o;
}
}  // namespace

TEST_CASE("a tagged connect names the set and slot that logged in") {
  scripted_backend db;
  db.accept_only({"nxt"});
  static_provider provider(make_set("cur", "nxt"));
  auto dc = make_dual_credential(scripted_connector{&db}, std::move(provider), fast());
  REQUIRE(dc);
  credential_tag tag;
  CHECK_FALSE(dc.value().holds(tag));  // filled in by no connect
  REQUIRE(dc.value().connect(tag));
  CHECK(tag.generation == 1);
  CHECK(tag.which == slot::next);
  CHECK(dc.value().slot_of(tag) == slot::next);
  // A refused connect leaves the tag as it was.
  db.accept_only({});
  const credential_tag before = tag;
  CHECK_FALSE(dc.value().connect(tag));
  CHECK(tag == before);
}

TEST_CASE("a rotation moves the tag's password from NEXT to CURRENT, then out: retired") {
  scripted_backend db;
  db.accept_only({"old", "new"});
  static_provider provider(make_set("old", "new"));
  auto made = make_dual_credential(scripted_connector{&db}, std::move(provider), fast());
  REQUIRE(made);
  auto& dc = made.value();
  credential_tag on_old, on_new;
  REQUIRE(dc.connect(on_old));
  CHECK(on_old.which == slot::current);
  db.accept_only({"new"});  // the backend switched: the next connect falls back to NEXT
  REQUIRE(dc.connect(on_new));
  CHECK(on_new.which == slot::next);
  CHECK(on_new.fingerprint != on_old.fingerprint);

  dc.provider().set(make_set("new", std::nullopt));  // promoted
  REQUIRE(dc.reload());
  CHECK(dc.slot_of(on_new) == slot::current);  // same password, now in CURRENT
  CHECK_FALSE(dc.holds(on_old));               // retired
  dc.provider().set(make_set("new", "newer"));
  REQUIRE(dc.reload());
  CHECK(dc.slot_of(on_new) == slot::current);
  CHECK_FALSE(dc.holds(on_old));
}

TEST_CASE("a fingerprint covers the user: the same password for another user is not held") {
  scripted_backend db;
  db.accept_only({"pw"});
  static_provider provider(make_set("pw", std::nullopt, "", "role_a"));
  auto made = make_dual_credential(scripted_connector{&db}, std::move(provider), fast());
  REQUIRE(made);
  credential_tag tag;
  REQUIRE(made.value().connect(tag));
  made.value().provider().set(make_set("pw", std::nullopt, "", "role_b"));
  REQUIRE(made.value().reload());
  CHECK_FALSE(made.value().holds(tag));
}

TEST_CASE("fingerprints: equal only for equal logins, keyed per process") {
  const credential a{"app", secret("pw")}, b{"app", secret("pw")}, c{"app", secret("pX")},
      d{"ap", secret("ppw")};
  CHECK(detail::fingerprint_of(a) == detail::fingerprint_of(b));
  CHECK(detail::fingerprint_of(a) != detail::fingerprint_of(c));
  CHECK(detail::fingerprint_of(a) != detail::fingerprint_of(d));  // the separator counts
  CHECK(detail::process_fingerprint_key().k0 != 0);
}

TEST_CASE("siphash24: the reference vectors (key 00..0f, input 00..n-1)") {
  // The first entries of the SipHash-2-4 paper's 64-bit test vectors.
  const std::uint64_t expected[] = {0x726fdb47dd0e0e31ULL, 0x74f839c593dc67fdULL,
                                    0x0d6c8009d9a94f5aULL, 0x85676696d7fb7e2dULL};
  std::string input;
  for (std::size_t n = 0; n < 4; ++n) {
    detail::siphash24 h(0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL);
    h.update(input);
    CHECK(h.finish() == expected[n]);
    input.push_back(static_cast<char>(n));
  }
  std::string fifteen;
  for (int i = 0; i < 15; ++i) fifteen.push_back(static_cast<char>(i));
  detail::siphash24 h(0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL);
  h.update(fifteen);
  CHECK(h.finish() == 0xa129ca6149be45e5ULL);
}

TEST_SUITE_END();

}  // namespace test_credential_tag
