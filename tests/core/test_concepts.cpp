#include <dualcred/concepts.hpp>

#include <memory>
#include <string>

#include <doctest/doctest.h>

TEST_SUITE_BEGIN("concepts");

using namespace dualcred;

namespace {
struct conn {};
struct good_connector {
  result<conn> operator()(const credential&) const { return conn{}; }
};
struct returns_plain_conn {
  conn operator()(const credential&) const { return {}; }
};
struct takes_string {
  result<conn> operator()(const std::string&) const { return conn{}; }
};
struct immovable {
  immovable() = default;
  immovable(immovable&&) = delete;
};
struct makes_immovable {
  result<std::unique_ptr<immovable>> operator()(const credential&) const { return nullptr; }
};
struct two_phase {
  result<conn> open() { return conn{}; }
  result<void> authenticate(conn&, const credential&) { return boost::outcome_v2::success(); }
};
struct two_phase_bad_auth {
  result<conn> open() { return conn{}; }
  bool authenticate(conn&, const credential&) { return true; }
};
struct good_provider {
  result<credential_set> load() { return credential_set{}; }
};
struct provider_returning_set {
  credential_set load() { return {}; }
};
struct not_a_provider {};
}  // namespace

static_assert(connector<good_connector>);
static_assert(connector<makes_immovable>, "a unique_ptr to an immovable is itself movable");
static_assert(!connector<returns_plain_conn>, "must return result<Conn>");
static_assert(!connector<takes_string>, "must accept a credential");
static_assert(!connector<int>);
static_assert(two_phase_connector<two_phase>);
static_assert(!two_phase_connector<two_phase_bad_auth>, "authenticate must return result<void>");
static_assert(!two_phase_connector<good_connector>);
static_assert(secret_provider<good_provider>);
static_assert(!secret_provider<provider_returning_set>, "load must return result<credential_set>");
static_assert(!secret_provider<not_a_provider>);
static_assert(std::is_same_v<connection_t<good_connector>, conn>);
static_assert(std::is_same_v<connection_t<two_phase>, conn>);

TEST_CASE("the concepts accept the right shapes and refuse the wrong ones") {
  // Everything here is decided at compile time by the static_asserts above; this case
  // exists so the file counts as a test.
  CHECK(connector<good_connector>);
  CHECK(!secret_provider<not_a_provider>);
}

TEST_SUITE_END();
