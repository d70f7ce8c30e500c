// One rotator at a time: the rotation lock of the file stores and the Vault store, and two
// rotators racing with random steps on one Redis user, on a dotenv store and on Vault.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/http/curl.hpp>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/redis/admin.hpp>
#include <dualcred/rotation/redis/detail/sha256.hpp>
#include <dualcred/rotation/stores/vault.hpp>

#include <dualcred_testing/kv2_server.hpp>
#include <dualcred_testing/scoped_env.hpp>
#include <dualcred_testing/temp_dir.hpp>
#include "rotation_helpers.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_rotation_lock {

TEST_SUITE_BEGIN("rotation_lock");

using namespace std::chrono_literals;
using namespace dualcred;
using namespace dualcred::rotation;
using kv2test::kv2_server;
using rotation_tests::redis_fixture;
using rotation_tests::redis_params;

namespace {

using vault_store_t = stores::vault_store<curl_transport>;

lock_options as(const std::string& holder, std::chrono::milliseconds wait = 0ms) {
  lock_options o;
  o.holder = holder;
  o.wait = wait;
  return o;
}

// A second lock on `store` fails naming `holder`, then succeeds once the first is gone.
template <class Store>
void check_exclusive(Store& a, Store& b) {
  auto first = a.lock_rotation(as("rotator-A"));
  REQUIRE_MESSAGE(first, first.error().detail);
  auto second = b.lock_rotation(as("rotator-B"));
  REQUIRE_FALSE(second);
  CHECK(second.error().is(errc::locked));
  CHECK(second.error().detail.find("rotator-A") != std::string::npos);
  // A waiting rotator gets the lock once the holder gives it back.
  std::thread releaser([&] {
    std::this_thread::sleep_for(150ms);
    first.value().release();
  });
  auto waited = b.lock_rotation(as("rotator-B", 5s));
  releaser.join();
  REQUIRE_MESSAGE(waited, waited.error().detail);
  CHECK(waited.value().held());
}

}  // namespace

TEST_CASE("file stores: one rotation lock, named holder, bounded wait") {
  testing::temp_dir dir;
  const std::string path = dir.write("app.env", "DB_USER=app\nDB_PASS_CURRENT=one\n");
  stores::file_store a(path), b(path);
  check_exclusive(a, b);

  const std::string sdir = (dir.path() / "secrets").string();
  REQUIRE(::mkdir(sdir.c_str(), 0700) == 0);
  stores::file_store da(sdir), db(sdir);
  REQUIRE(da.is_directory());
  check_exclusive(da, db);
}

TEST_CASE("file stores: a rotator that dies holding the lock leaves it free") {
  testing::temp_dir dir;
  const std::string path = dir.write("app.env", "DB_USER=app\nDB_PASS_CURRENT=one\n");
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    stores::file_store s(path);
    auto held = s.lock_rotation(as("doomed"));
    (void)!::write(ready[1], held ? "y" : "n", 1);
    ::pause();
    ::_exit(0);
  }
  char c = 0;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  REQUIRE(c == 'y');
  stores::file_store s(path);
  auto busy = s.lock_rotation(as("next"));
  REQUIRE_FALSE(busy);
  CHECK(busy.error().detail.find("doomed") != std::string::npos);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  auto free = s.lock_rotation(as("next"));
  CHECK_MESSAGE(free, free.error().detail);
}

TEST_CASE("file stores: a symbolic link as the lock file is refused, its target untouched") {
  testing::temp_dir dir;
  const std::string path = dir.write("app.env", "DB_USER=app\nDB_PASS_CURRENT=one\n");
  const std::string target = (dir.path() / "elsewhere").string();
  REQUIRE(::symlink(target.c_str(), (path + ".rotation-lock").c_str()) == 0);
  auto r = stores::file_store(path).lock_rotation(as("me"));
  REQUIRE_FALSE(r);
  CHECK(r.error().detail.find("symbolic link") != std::string::npos);
  CHECK(::access(target.c_str(), F_OK) != 0);
}

TEST_CASE("Vault store: one rotation lock; a lapsed lease frees it; breaking names the holder") {
  kv2_server s;
  REQUIRE(s.put("mutt/prod", R"({"DB_USER":"app","DB_PASS_CURRENT":"one"})") < 300);
  vault_store_t a(curl_transport{}, s.config()), b(curl_transport{}, s.config());
  check_exclusive(a, b);

  // A holder that crashed: its lease still runs, so the lock stays until broken by name.
  const auto in = [](std::chrono::seconds d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                              (std::chrono::system_clock::now() + d).time_since_epoch())
                              .count());
  };
  vault_store_t c(curl_transport{}, s.config());
  REQUIRE(s.put("mutt/prod.rotation-lock",
                R"({"holder":"crashed-rotator","lease_until":")" + in(600s) + "\"}") < 300);
  auto busy = c.lock_rotation(as("me"));
  REQUIRE_FALSE(busy);
  CHECK(busy.error().is(errc::locked));
  CHECK(busy.error().detail.find("crashed-rotator") != std::string::npos);
  CHECK_FALSE(c.break_rotation_lock("somebody-else"));
  REQUIRE(c.break_rotation_lock("crashed-rotator"));
  auto mine = c.lock_rotation(as("me"));
  REQUIRE_MESSAGE(mine, mine.error().detail);

  // A lease that ended frees the lock; the old holder's renewal then fails.
  mine.value().release();
  REQUIRE(s.put("mutt/prod.rotation-lock",
                R"({"holder":"slow-rotator","lease_until":")" + in(-5s) + "\"}") < 300);
  auto after = c.lock_rotation(as("me"));
  REQUIRE_MESSAGE(after, after.error().detail);
  REQUIRE(s.put("mutt/prod.rotation-lock",
                R"({"holder":"thief","lease_until":")" + in(600s) + "\"}") < 300);
  auto renewed = after.value().renew();
  REQUIRE_FALSE(renewed);
  CHECK(renewed.error().is(errc::locked));
}

TEST_CASE("dualcred-rotate: exit 13 naming the holder; --lock-wait waits it out") {
  if (std::getenv("DUALCRED_ROTATE_TOOL") == nullptr) return;  // built without the tool
  testing::temp_dir dir;
  const std::string pw = "seed-" + testing::random_token(16);
  redis_fixture().set_user("tool_locked", {pw});
  const std::string path =
      dir.write("app.env", "REDIS_USER=tool_locked\nREDIS_PASS_CURRENT=" + pw + "\n");
  stores::file_store held_store(path);
  auto held = held_store.lock_rotation(as("an operator's rollback"));
  REQUIRE(held);
  testing::scoped_env admin_pw("REDIS_ADMIN_PASSWORD", redis_fixture().admin_password().c_str());
  const std::string args = "--backend redis --redis-admin-user " + redis_fixture().admin_user() +
                           " --redis-port " + std::to_string(redis_fixture().port()) + " --file " +
                           path;
  const auto refused = rotation_tests::run_rotate_tool(args + " prepare");
  INFO(refused.output);
  CHECK(refused.code == 13);
  CHECK(refused.output.find("an operator's rollback") != std::string::npos);
  CHECK(refused.output.find("--lock-wait") != std::string::npos);  // the tool's hint
  const auto before = stores::file_store(path).read();
  REQUIRE(before);
  CHECK_FALSE(before.value().data.contains("REDIS_PASS_NEXT"));  // nothing was written

  std::thread releaser([&] {
    std::this_thread::sleep_for(300ms);
    held.value().release();
  });
  const auto waited = rotation_tests::run_rotate_tool("--lock-wait 10s " + args + " prepare");
  releaser.join();
  INFO(waited.output);
  CHECK(waited.code == 0);
  const auto broken = rotation_tests::run_rotate_tool(args + " break-lock --lock-holder x");
  CHECK(broken.code == 1);
  CHECK(broken.output.find("flock") != std::string::npos);
}

namespace {

// The passwords (as SHA-256 hex) Redis holds for `user`.
std::set<std::string> redis_password_hashes(const std::string& user) {
  std::set<std::string> out;
  for (const auto& line : redis_fixture().must({"ACL", "LIST"}).items) {
    if (!line.starts_with("user " + user + " ")) continue;
    for (std::size_t at = line.find(" #"); at != std::string::npos; at = line.find(" #", at + 2))
      out.insert(line.substr(at + 2, 64));
  }
  return out;
}

int race_rounds() {
  const char* v = std::getenv("DUALCRED_LOCK_RACE_ROUNDS");
  return v != nullptr ? std::max(1, std::atoi(v)) : 100;
}

// Two rotators with random steps, started together, `race_rounds()` times; after each round
// the backend accepts the store's CURRENT, and every password it holds is one a store holds.
template <class MakeStore, class ReadStore>
void race(const std::string& user, MakeStore make_store, ReadStore read_store) {
  const credential admin{redis_fixture().admin_user(), secret(redis_fixture().admin_password())};
  const auto keys = rotation_keys::for_prefix("REDIS");
  std::mt19937 rng(20261206);
  const step steps[] = {step::prepare, step::apply,        step::promote,
                        step::verify,  step::decommission, step::rollback};
  int locked = 0, ran = 0;
  for (int round = 0; round < race_rounds(); ++round) {
    int pick[2] = {static_cast<int>(rng() % 7), static_cast<int>(rng() % 7)};
    std::chrono::milliseconds settle[2] = {std::chrono::milliseconds(rng() % 40),
                                           std::chrono::milliseconds(rng() % 40)};
    std::chrono::milliseconds wait = (rng() % 2) != 0 ? 3s : 0ms;
    std::vector<std::thread> pair;
    std::atomic<int> go{0};
    std::atomic<int> lost{0};
    for (int i = 0; i < 2; ++i)
      pair.emplace_back([&, i] {
        rotator_options o;
        o.settle = settle[i];
        o.lock = as(fmt::format("racer-{}", i), wait);
        rotator r(make_store(), rotation::redis::acl_admin(redis_params(), admin), keys, o);
        go.fetch_add(1);
        while (go.load() < 2) std::this_thread::yield();
        bool ok = true;
        if (pick[i] == 6) {
          auto all = r.run_all();
          ok = all || !all.error().is(errc::locked);
        } else {
          auto one = r.run(steps[pick[i]]);
          ok = one || !one.error().is(errc::locked);
        }
        if (!ok) lost.fetch_add(1);
      });
    for (auto& t : pair) t.join();
    locked += lost.load();
    ++ran;
    auto st = read_store();
    REQUIRE(st);
    const rotation_state& v = st.value();
    INFO("round " << round << ", steps " << pick[0] << " and " << pick[1] << ", phase "
                  << to_string(v.phase));
    REQUIRE(static_cast<bool>(dualcred::redis::connector(redis_params())(v.current)));
    std::set<std::string> held{rotation::redis::detail::sha256_hex(v.current.password.reveal())};
    if (v.next) held.insert(rotation::redis::detail::sha256_hex(v.next->password.reveal()));
    if (v.previous) held.insert(rotation::redis::detail::sha256_hex(v.previous->password.reveal()));
    for (const auto& h : redis_password_hashes(user)) REQUIRE_MESSAGE(held.contains(h), h);
  }
  MESSAGE(ran << " rounds, " << locked << " steps refused with the lock held");
}

}  // namespace

TEST_CASE("two rotators racing on a dotenv store never lock the clients out") {
  testing::temp_dir dir;
  const std::string pw = "seed-" + testing::random_token(16);
  redis_fixture().set_user("racer_file", {pw});
  const std::string path =
      dir.write("app.env", "REDIS_USER=racer_file\nREDIS_PASS_CURRENT=" + pw + "\n");
  const auto keys = rotation_keys::for_prefix("REDIS");
  race(
      "racer_file", [&] { return stores::file_store(path); },
      [&]() -> result<rotation_state> {
        DUALCRED_TRY(raw, stores::file_store(path).read());
        return parse_state(raw.data, keys, path);
      });
}

TEST_CASE("two rotators racing on a Vault store never lock the clients out") {
  kv2_server s;
  const std::string pw = "seed-" + testing::random_token(16);
  redis_fixture().set_user("racer_vault", {pw});
  REQUIRE(s.put("mutt/prod", R"({"REDIS_USER":"racer_vault","REDIS_PASS_CURRENT":")" + pw + "\"}") <
          300);
  const auto keys = rotation_keys::for_prefix("REDIS");
  race(
      "racer_vault", [&] { return vault_store_t(curl_transport{}, s.config()); },
      [&]() -> result<rotation_state> {
        DUALCRED_TRY(raw, vault_store_t(curl_transport{}, s.config()).read());
        return parse_state(raw.data, keys, "vault");
      });
}

TEST_SUITE_END();

}  // namespace test_rotation_lock
