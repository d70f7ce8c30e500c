// PostgreSQL admin sessions end every statement by its bound: a statement that runs long, one
// that waits behind another session's lock, and a server that stops answering after login
// (its backend stopped with SIGSTOP) each return errc::timeout at the bound; the wait for a
// standby's replay ends within a second of the replay timeout when the standby stops answering.
#include <signal.h>
#include <sys/types.h>

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <dualcred/rotation/pg/admin.hpp>

#include <dualcred_testing/pg_topology.hpp>
#include <dualcred_testing/postgres.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_pg_deadlines {

TEST_SUITE_BEGIN("rotation_pg_deadlines");

using namespace std::chrono_literals;
using namespace dualcred;
using namespace dualcred::rotation;
namespace dt = dualcred::testing;
namespace rpg = dualcred::rotation::pg;
using clock_type = std::chrono::steady_clock;

namespace {

// A primary whose postgres role logs in over TCP with a password, and its hot standby: one
// per test program, started on first use (its backends get stopped, so not the shared one).
struct servers {
  dt::postgres_server primary;
  std::string super_pw = "deadline-super-" + dt::random_token(12);
  std::unique_ptr<dt::pg_standby> standby;
  servers() { primary.set_password("postgres", super_pw); }
  std::string conninfo() const {
    return "host=127.0.0.1 port=" + std::to_string(primary.port()) +
           " user=postgres dbname=postgres password=" + super_pw;
  }
};

servers& srv() {
  static servers s;
  return s;
}

// Stops a server process (SIGSTOP) from a thread once `find` names it, as a server that
// hangs after login, and resumes it (SIGCONT) when the test is done or after `at_most`: code
// that waits without a bound then finishes late instead of never.
class freezer {
 public:
  template <class Find>
  freezer(Find find, std::chrono::milliseconds at_most) {
    thread_ = std::thread([this, find, at_most] {
      const auto give_up = clock_type::now() + 20s;
      pid_t pid = 0;
      while (pid == 0 && !done() && clock_type::now() < give_up) {
        pid = find();
        if (pid == 0) std::this_thread::sleep_for(10ms);
      }
      if (pid == 0 || ::kill(pid, SIGSTOP) != 0) return;
      stopped_ = true;
      std::unique_lock lock(mutex_);
      cv_.wait_for(lock, at_most, [this] { return done_; });
      ::kill(pid, SIGCONT);
    });
  }
  freezer(const freezer&) = delete;
  freezer& operator=(const freezer&) = delete;
  ~freezer() { release(); }
  void release() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  [[nodiscard]] bool stopped() const { return stopped_; }

 private:
  bool done() {
    std::lock_guard lock(mutex_);
    return done_;
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::atomic<bool> stopped_{false};
  std::thread thread_;
};

std::chrono::milliseconds since(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t);
}

}  // namespace

TEST_CASE("admin statements end at their bound: server timeouts, a lock wait, a long statement") {
  const secret info(srv().conninfo());
  rpg::detail::admin_session s(info, 1500ms, "deadline test");
  REQUIRE_MESSAGE(s.ready(), s.ready().error().detail);
  // The server knows the bound: both timeouts set, a little under 1500 ms.
  const auto set = s.row(
      "SELECT pg_catalog.current_setting('statement_timeout'), "
      "pg_catalog.current_setting('lock_timeout')",
      "reading the timeouts");
  REQUIRE_MESSAGE(set, set.error().detail);
  for (const std::string& v : set.value()) {
    CAPTURE(v);
    CHECK(v.ends_with("ms"));
    const long ms = v.ends_with("ms") ? std::atol(v.c_str()) : 0;
    CHECK(ms > 1000);
    CHECK(ms <= 1500);
  }

  // A statement that would run for 6 s.
  auto start = clock_type::now();
  const auto slept = s.row("SELECT pg_catalog.pg_sleep(6)::text", "sleeping");
  MESSAGE("pg_sleep(6) returned after " << since(start).count() << " ms");
  CHECK(since(start) < 2500ms);
  CHECK(!slept);
  if (!slept) CHECK(slept.error().is(errc::timeout));

  // Another session holds the role's row (an uncommitted ALTER ROLE) for 6 s.
  srv().primary.exec("DROP ROLE IF EXISTS dl_locked");
  srv().primary.exec("CREATE ROLE dl_locked LOGIN");
  std::unique_ptr<PGconn, void (*)(PGconn*)> holder(
      PQconnectdb(srv().primary.admin_conninfo().c_str()), PQfinish);
  REQUIRE(PQstatus(holder.get()) == CONNECTION_OK);
  REQUIRE(PQsendQuery(holder.get(),
                      "BEGIN; ALTER ROLE dl_locked PASSWORD NULL; SELECT pg_sleep(6); ROLLBACK") ==
          1);
  for (int i = 0; i < 500; ++i) {
    if (!srv()
             .primary
             .exec("SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query "
                   "LIKE 'BEGIN; ALTER ROLE dl_locked%'")
             .empty())
      break;
    std::this_thread::sleep_for(10ms);
  }
  rpg::detail::admin_session second(info, 1500ms, "deadline test");
  REQUIRE_MESSAGE(second.ready(), second.ready().error().detail);
  const secret pw("dl-locked-new-password");
  start = clock_type::now();
  const auto changed = second.set_password("dl_locked", &pw);
  MESSAGE("ALTER ROLE behind a lock returned after " << since(start).count() << " ms");
  CHECK(since(start) < 2500ms);
  CHECK(!changed);
  if (!changed) {
    CHECK(changed.error().is(errc::timeout));
    CHECK_MESSAGE(changed.error().detail.find("lock") != std::string::npos, changed.error().detail);
  }
  // The holder gives up its transaction now: the role's row is free again.
  std::unique_ptr<PGcancel, void (*)(PGcancel*)> cancel(PQgetCancel(holder.get()), PQfreeCancel);
  char err[256];
  CHECK(PQcancel(cancel.get(), err, sizeof err) == 1);
}

TEST_CASE("a server that stops answering after login: the client gives up at the bound") {
  const secret info(srv().conninfo());
  rpg::detail::admin_session s(info, 1500ms, "deadline test");
  REQUIRE_MESSAGE(s.ready(), s.ready().error().detail);
  const auto me = s.row("SELECT pg_catalog.pg_backend_pid()::text", "reading the backend pid");
  REQUIRE_MESSAGE(me, me.error().detail);
  const pid_t pid = static_cast<pid_t>(std::atol(me.value()[0].c_str()));
  freezer frozen([pid] { return pid; }, 8s);
  for (int i = 0; i < 1000 && !frozen.stopped(); ++i) std::this_thread::sleep_for(5ms);
  REQUIRE(frozen.stopped());
  const auto start = clock_type::now();
  const auto r = s.row("SELECT 1::text", "a trivial statement");
  MESSAGE("a stopped backend: the statement returned after " << since(start).count() << " ms");
  CHECK(since(start) < 2500ms);
  REQUIRE(!r);
  CHECK(r.error().is(errc::timeout));
  CHECK_MESSAGE(r.error().detail.find("no answer within 1500 ms") != std::string::npos,
                r.error().detail);
  CHECK(r.error().detail.find(srv().super_pw) == std::string::npos);
  // The connection is closed: later statements fail at once, with the same error.
  const auto after = s.row("SELECT 1::text", "another statement");
  REQUIRE(!after);
  CHECK(after.error().is(errc::timeout));
}

TEST_CASE("waiting for a standby that stops answering ends a second after the replay timeout") {
  if (!srv().standby) srv().standby = std::make_unique<dt::pg_standby>(srv().primary);
  const dt::pg_standby& standby = *srv().standby;
  dualcred::pg::params sp;
  sp.host = "127.0.0.1";
  sp.port = standby.port();
  sp.dbname = "postgres";
  const secret info(srv().conninfo());
  const rpg::standby_check sc{info, 10s, "deadline test"};
  // The standby answers: the check passes, and a reachable target is replayed.
  REQUIRE(rpg::check_is_standby(sc, sp));
  const auto lsn = rpg::parse_lsn(srv().primary.exec("SELECT pg_current_wal_insert_lsn()")[0][0]);
  REQUIRE(lsn);
  const auto replayed = rpg::wait_for_replay(sc, {sp}, *lsn, 30s);
  REQUIRE_MESSAGE(replayed, replayed.error().detail);

  // A target it never reaches, and its backend stopped once the wait's session is logged in.
  freezer frozen(
      [&standby]() -> pid_t {
        const auto rows = standby.exec(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> "
            "pg_backend_pid() AND state IN ('idle', 'active')");
        return rows.empty() ? 0 : static_cast<pid_t>(std::atol(rows[0][0].c_str()));
      },
      12s);
  const auto start = clock_type::now();
  const auto r = rpg::wait_for_replay(sc, {sp}, *lsn + (std::uint64_t{1} << 40), 3s);
  const auto took = since(start);
  frozen.release();
  MESSAGE("wait_for_replay with a stopped standby returned after " << took.count() << " ms");
  CHECK(frozen.stopped());
  CHECK(took < 4500ms);  // the replay timeout, a second to spare, and slack
  REQUIRE(!r);
  CHECK(r.error().is(errc::timeout));
  CHECK_MESSAGE(r.error().detail.find("standby 127.0.0.1:" + std::to_string(standby.port())) !=
                    std::string::npos,
                r.error().detail);
}

TEST_SUITE_END();

}  // namespace test_pg_deadlines
