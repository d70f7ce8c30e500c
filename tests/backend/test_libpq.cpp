// The libpq connector against a real PostgreSQL that this program starts.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <dualcred/backend/libpq.hpp>
#include <dualcred/dual_credential.hpp>
#include <dualcred/provider/file.hpp>
#include <dualcred/provider/static.hpp>

#include "backend_helpers.hpp"
#include "support/scripted.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_libpq {

TEST_SUITE_BEGIN("backend_libpq");

using namespace std::chrono_literals;
using dualcred::credential;
using dualcred::credential_set;
using dualcred::errc;
using dualcred::secret;
namespace pg = dualcred::pg;

namespace {

using dualcred::testing::make_set;

pg::params server_params() {
  pg::params p;
  p.host = backend_tests::postgres().host();
  p.port = backend_tests::postgres().port();
  p.dbname = "postgres";
  p.connect_timeout = 10s;
  p.application_name = "dualcred-tests";
  return p;
}

// One value from a query on an open connection.
std::string query_one(PGconn* conn, const char* sql) {
  std::unique_ptr<PGresult, void (*)(PGresult*)> res(PQexec(conn, sql), PQclear);
  if (PQresultStatus(res.get()) != PGRES_TUPLES_OK || PQntuples(res.get()) != 1)
    return "<query failed: " + std::string(PQerrorMessage(conn)) + ">";
  return PQgetvalue(res.get(), 0, 0);
}

// A pg::connector that counts its calls, to show a failure was not retried.
struct counted {
  pg::connector inner;
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  dualcred::result<pg::connection> operator()(const credential& c) const {
    ++*calls;
    return inner(c);
  }
};

}  // namespace

TEST_CASE("happy path: CURRENT logs in through dual_credential, with an awkward password") {
  const std::string pw = "pg cur 'quoted' \"double\" \\back slash=x";
  backend_tests::postgres().create_login_role("app_happy", pw);
  auto dc = dualcred::make_dual_credential(
      pg::connector(server_params()),
      dualcred::static_provider(make_set(pw, "n-x", "", "app_happy")));
  REQUIRE(dc);
  auto conn = dc.value().connect();
  REQUIRE_MESSAGE(conn, conn.error().detail);
  CHECK(PQstatus(conn.value().get()) == CONNECTION_OK);
  CHECK(query_one(conn.value().get(), "SELECT current_user") == "app_happy");
  CHECK(query_one(conn.value().get(), "SELECT 1") == "1");
  const auto st = dc.value().snapshot();
  CHECK(st.connects_via_current == 1);
  CHECK(st.connects_via_next == 0);
  CHECK(st.fallbacks == 0);
}

TEST_CASE("ALTER ROLE to NEXT: one fallback, then straight to NEXT") {
  backend_tests::postgres().create_login_role("app_rot", "pg-rot-current-31f");
  auto dc = dualcred::make_dual_credential(
      pg::connector(server_params()),
      dualcred::static_provider(make_set("pg-rot-current-31f", "pg-rot-next-77a", "", "app_rot")));
  REQUIRE(dc);
  auto& db = dc.value();
  REQUIRE(db.connect());
  backend_tests::postgres().set_password("app_rot", "pg-rot-next-77a");
  backend_tests::check_one_fallback_then_sticky(db);
  CHECK(db.snapshot().connects_via_current == 1);
}

TEST_CASE("a wrong port is backend_unavailable at once, with no fallback") {
  pg::params p = server_params();
  p.port = dualcred::testing::free_port();
  counted c{pg::connector(p)};
  auto calls = c.calls;
  auto dc = dualcred::make_dual_credential(
      c, dualcred::static_provider(make_set("pg-port-cur-5c1", "pg-port-next-9d2", "", "app_x")));
  REQUIRE(dc);
  auto r = dc.value().connect();
  backend_tests::check_unavailable_without_fallback(r, dc.value(), *calls, "pg-port-cur-5c1");
}

TEST_CASE("a stopped server is backend_unavailable at once; connects resume after start") {
  auto& server = backend_tests::postgres();
  server.create_login_role("app_stop", "pg-stop-cur-4e8");
  counted c{pg::connector(server_params())};
  auto calls = c.calls;
  auto dc = dualcred::make_dual_credential(
      c,
      dualcred::static_provider(make_set("pg-stop-cur-4e8", "pg-stop-next-0b3", "", "app_stop")));
  REQUIRE(dc);
  server.stop();
  auto r = dc.value().connect();
  server.start();
  backend_tests::check_unavailable_without_fallback(r, dc.value(), *calls, "pg-stop-cur-4e8");
  auto again = dc.value().connect();
  CHECK_MESSAGE(again, again.error().detail);
}

TEST_CASE("every slot refused: the rewritten file is reloaded and the connect succeeds") {
  dualcred::testing::temp_dir dir("dualcred-pg-file");
  const auto env = dir.path() / "db.env";
  backend_tests::write_file(
      env, "DB_USER=app_reload\nDB_PASS_CURRENT=pg-old-1a2b\nDB_PASS_NEXT=pg-old-3c4d\n");
  backend_tests::postgres().create_login_role("app_reload", "pg-new-5e6f");

  dualcred::options o;
  o.min_reload_interval = 10ms;
  auto dc = dualcred::make_dual_credential(pg::connector(server_params()),
                                           dualcred::file_provider(env.string()), o);
  REQUIRE(dc);
  auto& db = dc.value();

  // Nothing in the file works yet: all_rejected, naming both causes but no password.
  auto refused = db.connect();
  REQUIRE_FALSE(refused);
  CHECK(refused.error().is(errc::all_rejected));
  CHECK(refused.error().detail.find("28P01") != std::string::npos);
  for (const char* pw : {"pg-old-1a2b", "pg-old-3c4d", "pg-new-5e6f"})
    CHECK(refused.error().detail.find(pw) == std::string::npos);

  backend_tests::write_file(env, "DB_USER=app_reload\nDB_PASS_CURRENT=pg-new-5e6f\n");
  const auto reloads_before = db.snapshot().reloads;
  auto ok = db.connect();
  REQUIRE_MESSAGE(ok, ok.error().detail);
  const auto st = db.snapshot();
  CHECK(st.reloads > reloads_before);
  CHECK(st.connects_via_current == 1);
}

TEST_CASE("alternating users: NEXT is another role, and the connection is that role's") {
  auto& server = backend_tests::postgres();
  server.create_login_role("app_blue", "pg-blue-6a1");
  server.create_login_role("app_green", "pg-green-8c2");
  credential_set set{
      {"app_blue", secret("pg-blue-6a1")}, credential{"app_green", secret("pg-green-8c2")}, ""};
  REQUIRE(set.next->user != set.current.user);
  auto dc = dualcred::make_dual_credential(pg::connector(server_params()),
                                           dualcred::static_provider(std::move(set)));
  REQUIRE(dc);
  auto blue = dc.value().connect();
  REQUIRE(blue);
  CHECK(std::string(PQuser(blue.value().get())) == "app_blue");

  // Retire blue the way a rotation would: it may no longer log in (SQLSTATE 28000).
  server.exec("ALTER ROLE app_blue NOLOGIN");
  auto green = dc.value().connect();
  REQUIRE_MESSAGE(green, green.error().detail);
  CHECK(query_one(green.value().get(), "SELECT current_user") == "app_green");
  const auto st = dc.value().snapshot();
  CHECK(st.fallbacks == 1);
  CHECK(st.connects_via_next == 1);
  server.exec("ALTER ROLE app_blue LOGIN");
}

TEST_CASE("a refused login is auth_rejected with the server's SQLSTATE and no password") {
  backend_tests::postgres().create_login_role("app_detail", "pg-right-0f9e");
  const std::string wrong = "pg-WRONG-Zq81 with spaces";
  auto r = pg::connector(server_params())(credential{"app_detail", secret(wrong)});
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::auth_rejected));
  CHECK(r.error().detail.find("28P01") != std::string::npos);
  CHECK(r.error().detail.find("app_detail") != std::string::npos);
  CHECK(r.error().detail.find(wrong) == std::string::npos);
  CHECK(r.error().detail.find("pg-WRONG") == std::string::npos);
  CHECK(r.error().detail.find("LOCATION") == std::string::npos);
  CHECK(r.error().detail.find('\n') == std::string::npos);
}

TEST_CASE("a missing database is a configuration error, not a refusal") {
  backend_tests::postgres().create_login_role("app_nodb", "pg-nodb-2d4");
  pg::params p = server_params();
  p.dbname = "no_such_database";
  auto r = pg::connector(p)(credential{"app_nodb", secret("pg-nodb-2d4")});
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::invalid_argument));
  CHECK(r.error().detail.find("3D000") != std::string::npos);
}

TEST_CASE("user, password and dbname are refused in params::extra") {
  pg::params p = server_params();
  p.extra = {{"password", "pg-extra-leak-77"}};
  auto r = pg::connector(p)(credential{"app", secret("x")});
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::invalid_argument));
  CHECK(r.error().detail.find("pg-extra-leak-77") == std::string::npos);
}

TEST_CASE("extra libpq keywords reach the server") {
  backend_tests::postgres().create_login_role("app_extra", "pg-extra-3b7");
  pg::params p = server_params();
  p.extra = {{"options", "-c search_path=dualcred_test"}};
  auto r = pg::connector(p)(credential{"app_extra", secret("pg-extra-3b7")});
  REQUIRE_MESSAGE(r, r.error().detail);
  CHECK(query_one(r.value().get(), "SHOW search_path") == "dualcred_test");
  CHECK(query_one(r.value().get(), "SELECT current_setting('application_name')") ==
        "dualcred-tests");
}

TEST_CASE("a server that accepts TCP and never answers times out within the bound") {
  backend_tests::silent_listener silent;
  pg::params p;
  p.host = "127.0.0.1";
  p.port = silent.port();
  p.dbname = "postgres";
  p.connect_timeout = 300ms;
  backend_tests::check_silent_server_times_out(pg::connector(p), "pg-silent-8e1");
}

namespace {
// Speaks just enough of the PostgreSQL protocol to refuse a login the way PgBouncer does
// when its own login to the server keeps failing: ErrorResponse, SQLSTATE 08P01.
void refuse_like_pgbouncer(int listen_fd) {
  const int fd = ::accept(listen_fd, nullptr, nullptr);
  if (fd < 0) return;
  unsigned char len_buf[4];
  if (::recv(fd, len_buf, 4, MSG_WAITALL) == 4) {
    const std::size_t len = (std::size_t{len_buf[0]} << 24) | (std::size_t{len_buf[1]} << 16) |
                            (std::size_t{len_buf[2]} << 8) | len_buf[3];
    std::string rest(len > 4 ? len - 4 : 0, '\0');
    if (!rest.empty()) (void)::recv(fd, rest.data(), rest.size(), MSG_WAITALL);
    std::string fields;
    for (const auto& [tag, text] :
         {std::pair{'S', "FATAL"}, std::pair{'V', "FATAL"}, std::pair{'C', "08P01"},
          std::pair{'M', "server login has been failing, try again later (server_login_retry)"}}) {
      fields += tag;
      fields += text;
      fields += '\0';
    }
    fields += '\0';
    const std::uint32_t n = static_cast<std::uint32_t>(fields.size() + 4);
    std::string msg = "E";
    for (int shift = 24; shift >= 0; shift -= 8) msg += static_cast<char>((n >> shift) & 0xff);
    msg += fields;
    (void)::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL);
  }
  ::close(fd);
}
}  // namespace

TEST_CASE("a user rule makes PgBouncer's 08P01 a refusal, so dual_credential falls back") {
  backend_tests::silent_listener listener;  // we do accept from this one, in a thread
  pg::params p;
  p.host = "127.0.0.1";
  p.port = listener.port();
  p.dbname = "app";
  p.sslmode = "disable";
  p.extra = {{"gssencmode", "disable"}};
  p.connect_timeout = 5s;

  {
    std::thread server(refuse_like_pgbouncer, listener.fd());
    auto r = pg::connector(p)(credential{"app", secret("pg-bouncer-1c9")});
    server.join();
    REQUIRE_FALSE(r);
    CHECK(r.error().is(errc::backend_unavailable));  // built-in: a protocol violation
    CHECK(r.error().detail.find("server login has been failing") != std::string::npos);
  }
  p.sqlstate_rules = {{"08P01", errc::auth_rejected}};
  {
    std::thread server(refuse_like_pgbouncer, listener.fd());
    auto r = pg::connector(p)(credential{"app", secret("pg-bouncer-1c9")});
    server.join();
    REQUIRE_FALSE(r);
    CHECK(r.error().is(errc::auth_rejected));
    CHECK(dualcred::is_auth_failure(r.error()));
    CHECK(r.error().detail.find("pg-bouncer-1c9") == std::string::npos);
  }
}

TEST_SUITE_END();

}  // namespace test_libpq
