// Classification of backend failures, without a server: SQLSTATE parsing and rules, and
// Redis error replies.
#include <doctest/doctest.h>

#include <dualcred/backend/hiredis.hpp>
#include <dualcred/backend/libpq.hpp>
#include <dualcred/concepts.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_classify {

TEST_SUITE_BEGIN("backend_classify");

using dualcred::errc;

TEST_CASE("find_sqlstate reads the code from verbose and sqlstate-only messages") {
  using dualcred::pg::find_sqlstate;
  CHECK(find_sqlstate("connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  28P01: "
                      "password authentication failed for user \"app\"\nLOCATION:  auth.c:323\n") ==
        "28P01");
  CHECK(find_sqlstate("FATAL:  28000\n") == "28000");
  CHECK(find_sqlstate("FATAL:  28000") == "28000");
  // The severity word is localised; the layout is not.
  CHECK(find_sqlstate("failed: FATAL:  3D000: la base de données « x » n'existe pas\n") == "3D000");
  CHECK(find_sqlstate("failed: SCHWERWIEGEND:  28P01: Passwort-Authentifizierung fehlgeschlagen") ==
        "28P01");
}

TEST_CASE("find_sqlstate finds nothing where libpq itself failed") {
  using dualcred::pg::find_sqlstate;
  CHECK(find_sqlstate("connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n"
                      "\tIs the server running on that host and accepting TCP/IP connections?\n")
            .empty());
  CHECK(find_sqlstate("").empty());
  CHECK(find_sqlstate("FATAL:  28p01: lower case is not a SQLSTATE").empty());
  CHECK(find_sqlstate("FATAL:  28P0").empty());
  CHECK(find_sqlstate("ERROR:  28P01x").empty());
}

TEST_CASE("classify_sqlstate: class 28 refuses the credential, the rest does not") {
  using dualcred::pg::classify_sqlstate;
  CHECK(classify_sqlstate("28P01") == errc::auth_rejected);
  CHECK(classify_sqlstate("28000") == errc::auth_rejected);
  CHECK(classify_sqlstate("3D000") == errc::invalid_argument);
  CHECK(classify_sqlstate("57P03") == errc::backend_unavailable);  // starting up
  CHECK(classify_sqlstate("53300") == errc::backend_unavailable);  // too many connections
  CHECK(classify_sqlstate("08P01") == errc::backend_unavailable);
  CHECK(classify_sqlstate("57014") == errc::timeout);
}

TEST_CASE("user rules extend the classification: PgBouncer's 08P01 as a refusal") {
  using dualcred::pg::classify_sqlstate;
  using dualcred::pg::sqlstate_rule;
  const std::vector<sqlstate_rule> rules{{"08P01", errc::auth_rejected}};
  CHECK(classify_sqlstate("08P01", rules) == errc::auth_rejected);
  CHECK(classify_sqlstate("08006", rules) == errc::backend_unavailable);
  CHECK(classify_sqlstate("28P01", rules) == errc::auth_rejected);

  // A class rule, and an exact rule that wins over it whatever the order.
  const std::vector<sqlstate_rule> by_class{{"53", errc::timeout}, {"53300", errc::auth_rejected}};
  CHECK(classify_sqlstate("53300", by_class) == errc::auth_rejected);
  CHECK(classify_sqlstate("53200", by_class) == errc::timeout);
  // A rule may also narrow the built-ins.
  const std::vector<sqlstate_rule> narrow{{"28000", errc::permission_denied}};
  CHECK(classify_sqlstate("28000", narrow) == errc::permission_denied);
  CHECK(classify_sqlstate("28P01", narrow) == errc::auth_rejected);
}

TEST_CASE("Redis error replies: refusals, configuration errors, everything else") {
  using dualcred::redis::classify_reply_error;
  CHECK(classify_reply_error("WRONGPASS invalid username-password pair or user is disabled.") ==
        errc::auth_rejected);
  CHECK(classify_reply_error("ERR invalid password") == errc::auth_rejected);
  CHECK(classify_reply_error("NOAUTH Authentication required.") == errc::auth_rejected);
  CHECK(classify_reply_error("ERR AUTH <password> called without any password configured for "
                             "the default user. Are you sure your configuration is correct?") ==
        errc::invalid_argument);
  CHECK(classify_reply_error("ERR Client sent AUTH, but no password is set") ==
        errc::invalid_argument);
  CHECK(classify_reply_error("ERR DB index is out of range") == errc::invalid_argument);
  CHECK(classify_reply_error("NOPERM this user has no permissions to run the 'select' command") ==
        errc::permission_denied);
  CHECK(classify_reply_error("LOADING Redis is loading the dataset in memory") ==
        errc::backend_unavailable);
  CHECK(classify_reply_error("") == errc::backend_unavailable);
  // Only the reply's start counts: a message quoting WRONGPASS later is not a refusal.
  CHECK(classify_reply_error("ERR unknown command 'WRONGPASS'") == errc::backend_unavailable);
}

TEST_CASE("the connectors model the concepts dual_credential needs") {
  static_assert(dualcred::connector<dualcred::pg::connector>);
  static_assert(!dualcred::two_phase_connector<dualcred::pg::connector>);
  static_assert(dualcred::two_phase_connector<dualcred::redis::connector>);
  static_assert(dualcred::connector<dualcred::redis::connector>);
  static_assert(std::movable<dualcred::pg::connection>);
  static_assert(!std::copyable<dualcred::pg::connection>);
  static_assert(std::movable<dualcred::redis::connection>);
  static_assert(!std::copyable<dualcred::redis::connection>);
  CHECK(dualcred::pg::connection().get() == nullptr);
  CHECK(dualcred::redis::connection().get() == nullptr);
}

TEST_SUITE_END();

}  // namespace test_classify
