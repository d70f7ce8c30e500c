// Live rotation: client threads connect without pause while the test rotates both servers'
// passwords several times by the five steps of the runbook. Not one connect may fail.
#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <dualcred/backend/hiredis.hpp>
#include <dualcred/backend/libpq.hpp>
#include <dualcred/dual_credential.hpp>
#include <dualcred/provider/static.hpp>

#include "backend_helpers.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_live_rotation {

TEST_SUITE_BEGIN("backend_live_rotation");

using namespace std::chrono_literals;
using dualcred::credential;
using dualcred::credential_set;
using dualcred::secret;

namespace {

struct tally {
  std::atomic<long> ok{0};
  std::atomic<long> failed{0};
  std::mutex mutex;
  std::vector<std::string> errors;  // the first few, for the report

  void fail(std::string detail) {
    ++failed;
    std::lock_guard lock(mutex);
    if (errors.size() < 5) errors.push_back(std::move(detail));
  }
};

template <class Creds, class Use>
void keep_connecting(Creds& creds, const std::atomic<bool>& stop, tally& t,
                     std::atomic<long>& finished, Use use) {
  for (; !stop.load(std::memory_order_relaxed); ++finished) {
    auto conn = creds.connect();
    if (!conn) {
      t.fail(conn.error().detail);
      continue;
    }
    if (use(conn.value()))
      ++t.ok;
    else
      t.fail("connected, but the connection did not work");
  }
}

credential_set with_next(const std::string& user, const std::string& current,
                         const std::string& next) {
  return credential_set{{user, secret(current)}, credential{user, secret(next)}, ""};
}

std::string password(const char* backend, int generation) {
  return std::string(backend) + "-live-gen" + std::to_string(generation) + "-" +
         dualcred::testing::random_token(8);
}

}  // namespace

TEST_CASE("live rotation of PostgreSQL and Redis passwords: no connect fails") {
  auto& pgs = backend_tests::postgres();
  auto& rds = backend_tests::redis();
  constexpr int rounds = 3;
  std::vector<std::string> pg_pw, rd_pw;
  for (int g = 0; g <= rounds + 1; ++g) {
    pg_pw.push_back(password("pg", g));
    rd_pw.push_back(password("rd", g));
  }
  pgs.create_login_role("app_live", pg_pw[0]);
  rds.set_user("app_live", {rd_pw[0]});

  // Clients re-read the provider every 50 ms, as a service would on a timer.
  dualcred::options o;
  o.refresh_interval = 50ms;
  o.min_reload_interval = 20ms;

  dualcred::pg::params pp;
  pp.host = pgs.host();
  pp.port = pgs.port();
  pp.dbname = "postgres";
  pp.connect_timeout = 10s;
  dualcred::redis::params rp;
  rp.host = rds.host();
  rp.port = rds.port();

  auto pg_dc = dualcred::make_dual_credential(
      dualcred::pg::connector(pp),
      dualcred::static_provider(credential_set{{"app_live", secret(pg_pw[0])}, {}, ""}), o);
  auto rd_dc = dualcred::make_dual_credential(
      dualcred::redis::connector(rp),
      dualcred::static_provider(credential_set{{"app_live", secret(rd_pw[0])}, {}, ""}), o);
  REQUIRE(pg_dc);
  REQUIRE(rd_dc);
  auto& pg_creds = pg_dc.value();
  auto& rd_creds = rd_dc.value();

  tally pg_tally, rd_tally;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  // Connects each client finished: a step is done once every client finished two connects
  // after it, so no connect began before it. Real rotations wait minutes; this machine's
  // connects can take hundreds of milliseconds when it is busy.
  std::array<std::atomic<long>, 4> finished{};
  for (int i = 0; i < 2; ++i) {
    clients.emplace_back([&, i] {
      keep_connecting(pg_creds, stop, pg_tally, finished[2 * i], [](dualcred::pg::connection& c) {
        return PQstatus(c.get()) == CONNECTION_OK;
      });
    });
    clients.emplace_back([&, i] {
      keep_connecting(rd_creds, stop, rd_tally, finished[2 * i + 1],
                      [](dualcred::redis::connection& c) {
                        auto* reply = static_cast<redisReply*>(redisCommand(c.get(), "PING"));
                        const bool ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS;
                        if (reply != nullptr) freeReplyObject(reply);
                        return ok;
                      });
    });
  }

  auto settle = [&] {
    std::array<long, 4> at{};
    for (std::size_t i = 0; i < at.size(); ++i) at[i] = finished[i].load();
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    std::this_thread::sleep_for(100ms);
    for (std::size_t i = 0; i < at.size(); ++i)
      while (finished[i].load() < at[i] + 2 && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(5ms);
  };
  try {
    // Step 1 of the first round: NEXT goes to the provider.
    pg_creds.provider().set(with_next("app_live", pg_pw[0], pg_pw[1]));
    rd_creds.provider().set(with_next("app_live", rd_pw[0], rd_pw[1]));
    settle();
    for (int g = 0; g < rounds; ++g) {
      // 2. The backend accepts NEXT. Redis takes it beside the old one; PostgreSQL's single
      //    role can hold one password, so clients fall back to NEXT.
      rds.must({"ACL", "SETUSER", "app_live", ">" + rd_pw[g + 1]});
      pgs.set_password("app_live", pg_pw[g + 1]);
      settle();
      // 3. Promote NEXT to CURRENT in the provider, with a fresh NEXT (step 1 of the next round).
      pg_creds.provider().set(with_next("app_live", pg_pw[g + 1], pg_pw[g + 2]));
      rd_creds.provider().set(with_next("app_live", rd_pw[g + 1], rd_pw[g + 2]));
      settle();
      // 4. Verify: the new CURRENT logs in by itself.
      CHECK(dualcred::pg::connector(pp)(credential{"app_live", secret(pg_pw[g + 1])}));
      CHECK(dualcred::redis::connector(rp)(credential{"app_live", secret(rd_pw[g + 1])}));
      // 5. Remove the old password.
      rds.must({"ACL", "SETUSER", "app_live", "<" + rd_pw[g]});
      settle();
    }
  } catch (...) {
    stop = true;
    for (auto& t : clients) t.join();
    throw;
  }
  stop = true;
  for (auto& t : clients) t.join();

  for (const auto& e : pg_tally.errors) MESSAGE("postgres: " << e);
  for (const auto& e : rd_tally.errors) MESSAGE("redis: " << e);
  CHECK(pg_tally.failed == 0);
  CHECK(rd_tally.failed == 0);
  CHECK(pg_tally.ok > rounds);
  CHECK(rd_tally.ok > rounds);
  const auto pg_st = pg_creds.snapshot();
  const auto rd_st = rd_creds.snapshot();
  MESSAGE("postgres: " << pg_tally.ok.load() << " connects, " << fmt::format("{}", pg_st));
  MESSAGE("redis: " << rd_tally.ok.load() << " connects, " << fmt::format("{}", rd_st));
  // PostgreSQL clients had to fall back each round; Redis accepted both passwords meanwhile.
  CHECK(pg_st.fallbacks >= 1);
  CHECK(pg_st.reloads >= static_cast<std::uint64_t>(rounds));
  CHECK(rd_st.reloads >= static_cast<std::uint64_t>(rounds));
  // The old passwords are gone from both servers.
  CHECK_FALSE(dualcred::pg::connector(pp)(credential{"app_live", secret(pg_pw[rounds - 1])}));
  CHECK_FALSE(dualcred::redis::connector(rp)(credential{"app_live", secret(rd_pw[rounds - 1])}));
}

TEST_SUITE_END();

}  // namespace test_live_rotation
