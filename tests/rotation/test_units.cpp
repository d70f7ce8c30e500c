// The backend-agnostic parts: generated passwords, the state's keys, the Redis ACL hash,
// and the file store (dotenv and directory) with its check-and-set, read by file_provider.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/concepts.hpp>
#include <dualcred/provider/file.hpp>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/drain.hpp>
#include <dualcred/rotation/redis/detail/sha256.hpp>

#include <dualcred_testing/temp_dir.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_units {

TEST_SUITE_BEGIN("rotation_units");

using namespace dualcred;
using namespace dualcred::rotation;

static_assert(writable_store<dualcred::rotation::stores::file_store>);
static_assert(secret_provider<store_provider<dualcred::rotation::stores::file_store>>);
struct not_a_store {
  int read();
};
static_assert(!writable_store<not_a_store>);
static_assert(!password_admin<not_a_store>);

namespace {
secret_map vals(std::initializer_list<std::pair<const char*, const char*>> kv) {
  secret_map out;
  for (const auto& [k, v] : kv) out.emplace(k, secret(v));
  return out;
}
}  // namespace

TEST_CASE("generated passwords: CSPRNG, the safe alphabet, the length asked, all different") {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto pw = generate_password();
    REQUIRE(pw);
    const std::string_view v = pw.value().reveal();
    CHECK(v.size() == 32);
    CHECK(v.find_first_not_of(password_alphabet) == std::string_view::npos);
    seen.emplace(v);
  }
  CHECK(seen.size() == 200);
  CHECK(generate_password(64).value().size() == 64);
  CHECK(generate_password(8).error().is(errc::invalid_argument));
  // Every character of the alphabet turns up (no modulo bias that drops any).
  std::set<char> chars;
  for (const auto& s : seen) chars.insert(s.begin(), s.end());
  CHECK(chars.size() == password_alphabet.size());
}

TEST_CASE("state: keys round-trip, other keys untouched, absent users mean CURRENT's") {
  secret_map data =
      vals({{"DB_USER", "app"}, {"DB_PASS_CURRENT", "c1"}, {"REDIS_PASS_CURRENT", "r"}});
  const auto keys = rotation_keys::for_prefix("DB");
  auto st = parse_state(data, keys, "test");
  REQUIRE(st);
  CHECK(st.value().phase == phase::idle);
  CHECK_FALSE(st.value().next);
  rotation_state s2 = st.value();
  s2.next = credential{"app_b", secret("n1")};
  s2.previous = credential{"app", secret("p1")};
  s2.phase = phase::promoted;
  store_state(data, keys, s2);
  CHECK(data.at("DB_USER_NEXT").reveal() == "app_b");
  CHECK_FALSE(data.contains("DB_USER_PREVIOUS"));
  CHECK(data.at("DB_ROTATION_PHASE").reveal() == "promoted");
  CHECK(data.at("REDIS_PASS_CURRENT").reveal() == "r");
  auto back = parse_state(data, keys, "test");
  REQUIRE(back);
  CHECK(back.value().next->user == "app_b");
  CHECK(back.value().previous->user == "app");
  s2.phase = phase::idle;
  s2.next.reset();
  store_state(data, keys, s2);
  CHECK_FALSE(data.contains("DB_ROTATION_PHASE"));
  CHECK_FALSE(data.contains("DB_USER_NEXT"));

  // Redis: the user key is optional and stays absent.
  secret_map redis = vals({{"REDIS_PASS_CURRENT", "r"}});
  auto rs = parse_state(redis, rotation_keys::for_prefix("REDIS"), "test");
  REQUIRE(rs);
  CHECK(rs.value().current.user == "default");
  store_state(redis, rotation_keys::for_prefix("REDIS"), rs.value());
  CHECK_FALSE(redis.contains("REDIS_USER"));

  secret_map bad = vals({{"DB_USER", "app"}, {"DB_PASS_CURRENT", "sekret"}, {"DB_PASS_NEXT", ""}});
  auto e = parse_state(bad, keys, "src");
  REQUIRE_FALSE(e);
  CHECK(e.error().is(errc::malformed));
  CHECK(e.error().detail == "DB_PASS_NEXT is empty in src");
  CHECK(parse_state(vals({{"DB_USER", "app"}}), keys, "src").error().is(errc::not_found));
}

TEST_CASE("sha256_hex, the Redis ACL password hash: FIPS 180-4 vectors, every padding case") {
  using rotation::redis::detail::sha256_hex;
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");  // 56 bytes
  CHECK(sha256_hex(std::string(1'000'000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  CHECK(sha256_hex(std::string(64, '\xff')).size() == 64);
}

TEST_CASE("file store, dotenv: atomic rewrite, escaping, revision, CAS, file_provider reads it") {
  testing::temp_dir dir;
  const std::string path =
      dir.write("app.env", "# a comment\nDB_USER=app\nDB_PASS_CURRENT=one\n", 0640);
  dualcred::rotation::stores::file_store fs(path);
  auto r0 = fs.read();
  REQUIRE(r0);
  CHECK(r0.value().revision == 0);
  secret_map v = r0.value().data;
  v.insert_or_assign("DB_PASS_NEXT", secret("a \"quoted\" \\ value\twith # and $HOME"));
  auto w1 = fs.write(v, 0);
  REQUIRE(w1);
  CHECK(w1.value() == 1);
  auto r1 = fs.read();
  REQUIRE(r1);
  CHECK(r1.value().revision == 1);
  CHECK(r1.value().data.at("DB_PASS_NEXT").reveal() == v.at("DB_PASS_NEXT").reveal());
  CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
         std::filesystem::perms::group_read));
  auto set = file_provider(path).load();
  REQUIRE(set);
  CHECK(set.value().next->password.reveal() == v.at("DB_PASS_NEXT").reveal());

  auto stale = fs.write(v, 0);
  REQUIRE_FALSE(stale);
  CHECK(stale.error().is(errc::conflict));
  CHECK(stale.error().detail.find("revision is 1, not 0") != std::string::npos);
  CHECK(fs.write(vals({{"DUALCRED_REVISION", "9"}}), 1).error().is(errc::invalid_argument));
  CHECK(fs.write(vals({{"bad key", "x"}}), 1).error().is(errc::invalid_argument));
  CHECK(fs.read().value().revision == 1);
  // No temporary files left beside it.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  CHECK(entries == 2);  // app.env and app.env.lock
}

TEST_CASE("file store: concurrent writers with one revision, exactly one wins") {
  testing::temp_dir dir;
  const std::string path = dir.write("app.env", "DB_USER=app\nDB_PASS_CURRENT=one\n");
  std::atomic<int> won{0}, lost{0};
  std::vector<std::thread> writers;
  for (int i = 0; i < 6; ++i)
    writers.emplace_back([&, i] {
      dualcred::rotation::stores::file_store fs(path);
      auto w = fs.write(vals({{"DB_USER", "app"}, {"DB_PASS_CURRENT", i % 2 ? "x" : "y"}}), 0);
      if (w)
        ++won;
      else if (w.error().is(errc::conflict))
        ++lost;
    });
  for (auto& t : writers) t.join();
  CHECK(won == 1);
  CHECK(lost == 5);
  CHECK(dualcred::rotation::stores::file_store(path).read().value().revision == 1);
}

TEST_CASE("file store, directory: ..data swap, key links, readers never see a torn set") {
  testing::temp_dir dir;
  const std::string d = dir / "secrets";
  std::filesystem::create_directory(d);
  dir.write("secrets/DB_USER", "app");
  dir.write("secrets/DB_PASS_CURRENT", "gen-0");
  dualcred::rotation::stores::file_store fs(d);
  REQUIRE(fs.read());

  std::atomic<bool> stop{false};
  std::atomic<int> torn{0}, reads{0};
  std::thread reader([&] {
    file_provider p(d);
    while (!stop) {
      auto s = p.load();
      if (!s) continue;  // a load may lose a race with a swap five times in a row
      ++reads;
      const std::string_view cur = s.value().current.password.reveal();
      // CURRENT gen-N always comes with NEXT gen-(N+1).
      if (s.value().next) {
        const int n = std::stoi(std::string(cur.substr(4)));
        if (s.value().next->password.reveal() != "gen-" + std::to_string(n + 1)) ++torn;
      }
    }
  });
  for (int n = 0; n < 50; ++n) {
    auto raw = fs.read();
    REQUIRE(raw);
    secret_map v = raw.value().data;
    v.insert_or_assign("DB_PASS_CURRENT", secret("gen-" + std::to_string(n)));
    v.insert_or_assign("DB_PASS_NEXT", secret("gen-" + std::to_string(n + 1)));
    REQUIRE(fs.write(v, raw.value().revision));
  }
  stop = true;
  reader.join();
  CHECK(torn == 0);
  CHECK(reads > 0);
  CHECK(fs.read().value().revision == 50);
  CHECK(std::filesystem::is_symlink(d + "/..data"));
  CHECK(std::filesystem::is_symlink(d + "/DB_PASS_NEXT"));
  int revisions = 0;
  for (const auto& e : std::filesystem::directory_iterator(d))
    if (e.path().filename().string().starts_with("..rev_")) ++revisions;
  CHECK(revisions == 1);  // old revisions are removed
  // A key dropped from the store loses its link.
  auto raw = fs.read().value();
  raw.data.erase("DB_PASS_NEXT");
  REQUIRE(fs.write(raw.data, raw.revision));
  CHECK_FALSE(std::filesystem::exists(std::filesystem::symlink_status(d + "/DB_PASS_NEXT")));
  CHECK(file_provider(d).load().value().current.password.reveal() == "gen-49");
}

TEST_CASE("store_provider: the set's version is the store revision") {
  testing::temp_dir dir;
  const std::string path = dir.write("app.env", "DB_USER=app\nDB_PASS_CURRENT=one\n");
  store_provider<dualcred::rotation::stores::file_store> p{
      dualcred::rotation::stores::file_store(path)};
  CHECK(p.load().value().version == "0");
  REQUIRE(p.store().write(vals({{"DB_USER", "app"}, {"DB_PASS_CURRENT", "two"}}), 0));
  auto s = p.load();
  REQUIRE(s);
  CHECK(s.value().version == "1");
  CHECK(s.value().current.password.reveal() == "two");
}

namespace {
// Both shapes of file store, each seeded with one valid login.
struct store_dirs {
  testing::temp_dir dir;
  std::string dotenv = dir.write("app.env", "DB_USER=app\nDB_PASS_CURRENT=one\n");
  std::string secrets = [this] {
    std::filesystem::create_directory(dir / "secrets");
    dir.write("secrets/DB_USER", "app\n");
    dir.write("secrets/DB_PASS_CURRENT", "one\n");
    return dir / "secrets";
  }();
};
constexpr const char* canary = "Canary-Zq81";
}  // namespace

TEST_CASE("file stores refuse at write, naming the key, every value file_provider refuses") {
  const std::vector<std::pair<const char*, std::string>> bad = {
      {"NUL", std::string("pre") + '\0' + canary},
      {"line feed", std::string(canary) + "\nsecond"},
      {"trailing newline", std::string(canary) + "\n"},
      {"carriage return", std::string(canary) + "\r"},
      {"control byte", std::string(canary) + "\x01"},
      {"DEL", std::string(canary) + "\x7f"},
  };
  for (const auto& entry : bad) {
    const char* what = entry.first;  // not a structured binding: CAPTURE needs clang 16 there
    const std::string& value = entry.second;
    store_dirs s;
    for (const std::string& path : {s.dotenv, s.secrets}) {
      CAPTURE(what);
      CAPTURE(path);
      dualcred::rotation::stores::file_store fs(path);
      const auto before = fs.read();
      REQUIRE(before);
      secret_map v = before.value().data;
      v.insert_or_assign("DB_PASS_NEXT", secret(value));
      auto w = fs.write(v, before.value().revision);
      REQUIRE_FALSE(w);
      CHECK(w.error().is(errc::invalid_argument));
      CHECK_MESSAGE(w.error().detail.find("DB_PASS_NEXT") != std::string::npos, w.error().detail);
      CHECK(w.error().detail.find(canary) == std::string::npos);
      CHECK(fs.read().value().revision == before.value().revision);
      CHECK(file_provider(path).load());  // nothing was written
    }
    // The provider refuses the same value on read, in either shape.
    // (A key file "X\r\n" is X and its end of line: a store cannot keep X\r there at all.)
    if (!value.ends_with('\r')) {
      s.dir.write("secrets/DB_PASS_NEXT", value + "\n");
      CHECK_FALSE(file_provider(s.secrets).load());
    }
    if (value.find('\0') == std::string::npos) {  // a NUL makes the dotenv file binary
      std::string escaped;
      for (const char c : value)
        escaped += c == '\n'   ? std::string("\\n")
                   : c == '\r' ? std::string("\\r")
                               : std::string(1, c);
      s.dir.write("app.env",
                  "DB_USER=app\nDB_PASS_CURRENT=one\nDB_PASS_NEXT=\"" + escaped + "\"\n");
    } else {
      s.dir.write("app.env", "DB_USER=app\nDB_PASS_CURRENT=one\nDB_PASS_NEXT=" + value + "\n");
    }
    CHECK_FALSE(file_provider(s.dotenv).load());
  }
}

TEST_CASE("directory store: ..data must name a ..-prefixed entry; nothing outside is removed") {
  testing::temp_dir outside;
  outside.write("DB_USER", "app\n");
  outside.write("DB_PASS_CURRENT", "outside-value\n");
  for (const std::string& target : {outside.path().string(), std::string(".."), std::string("."),
                                    "../" + outside.path().filename().string()}) {
    CAPTURE(target);
    store_dirs s;
    std::filesystem::create_directory_symlink(target, s.secrets + "/..data");
    dualcred::rotation::stores::file_store fs(s.secrets);
    // Written first: the old store wrote, then removed the old `..data` target, outside.
    CHECK_FALSE(fs.write(vals({{"DB_USER", "app"}, {"DB_PASS_CURRENT", "two"}}), 0));
    CHECK(std::filesystem::exists(outside / "DB_PASS_CURRENT"));
    CHECK(std::filesystem::exists(s.secrets + "/DB_PASS_CURRENT"));
    auto r = fs.read();
    REQUIRE_FALSE(r);
    CHECK(r.error().is(errc::malformed));
    CHECK(r.error().detail.find("..data") != std::string::npos);
  }
}

TEST_CASE("directory store: a key file that is a symlink is refused, not followed") {
  testing::temp_dir outside;
  outside.write("stolen", "outside-value\n");
  store_dirs s;
  std::filesystem::create_symlink(outside / "stolen", s.secrets + "/DB_PASS_NEXT");
  auto r = dualcred::rotation::stores::file_store(s.secrets).read();
  REQUIRE_FALSE(r);
  CHECK(r.error().detail.find("DB_PASS_NEXT is a symbolic link") != std::string::npos);
}

TEST_CASE("file stores: a lock file that is a symlink is refused, its target not created") {
  testing::temp_dir outside;
  store_dirs s;
  std::filesystem::create_symlink(outside / "dotenv-target", s.dotenv + ".lock");
  std::filesystem::create_symlink(outside / "dir-target", s.secrets + "/..dualcred.lock");
  for (const std::string& path : {s.dotenv, s.secrets}) {
    CAPTURE(path);
    auto w = dualcred::rotation::stores::file_store(path).write(
        vals({{"DB_USER", "app"}, {"DB_PASS_CURRENT", "two"}}), 0);
    REQUIRE_FALSE(w);
    CHECK(w.error().detail.find("lock file") != std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists(outside / "dotenv-target"));
  CHECK_FALSE(std::filesystem::exists(outside / "dir-target"));
}

TEST_CASE("file stores: what a crashed writer left is removed by the next write") {
  store_dirs s;
  // dotenv: a temporary file that was never renamed over the store.
  const std::string tmp = s.dir.write(".app.env.tmp.Ab12Cd", std::string("DB_PASS_NEXT=") + canary);
  REQUIRE(dualcred::rotation::stores::file_store(s.dotenv).write(
      vals({{"DB_USER", "app"}, {"DB_PASS_CURRENT", "two"}}), 0));
  CHECK_FALSE(std::filesystem::exists(tmp));
  CHECK(std::filesystem::exists(s.dotenv));

  // directory: a revision that never went live, and a temporary link.
  dualcred::rotation::stores::file_store fs(s.secrets);
  REQUIRE(fs.write(vals({{"DB_USER", "app"}, {"DB_PASS_CURRENT", "two"}}), 0));
  std::filesystem::create_directory(s.secrets + "/..rev_2.Zz99Yy");
  s.dir.write("secrets/..rev_2.Zz99Yy/DB_PASS_CURRENT", canary);
  std::filesystem::create_symlink("..rev_2.Zz99Yy/DB_PASS_CURRENT",
                                  s.secrets + "/DB_PASS_CURRENT.dualcred-tmp");
  REQUIRE(fs.write(vals({{"DB_USER", "app"}, {"DB_PASS_CURRENT", "three"}}), 1));
  CHECK_FALSE(std::filesystem::exists(s.secrets + "/..rev_2.Zz99Yy"));
  CHECK_FALSE(std::filesystem::exists(
      std::filesystem::symlink_status(s.secrets + "/DB_PASS_CURRENT.dualcred-tmp")));
  int revisions = 0;
  for (const auto& e : std::filesystem::directory_iterator(s.secrets))
    if (e.path().filename().string().starts_with("..rev_")) ++revisions;
  CHECK(revisions == 1);
  CHECK(file_provider(s.secrets).load().value().current.password.reveal() == "three");
}

TEST_CASE("file stores: the revision cannot wrap past 2^64-1") {
  store_dirs s;
  s.dir.write("app.env",
              "DB_USER=app\nDB_PASS_CURRENT=one\nDUALCRED_REVISION=18446744073709551615\n");
  s.dir.write("secrets/DUALCRED_REVISION", "18446744073709551615\n");
  for (const std::string& path : {s.dotenv, s.secrets}) {
    CAPTURE(path);
    dualcred::rotation::stores::file_store fs(path);
    const auto r = fs.read();
    REQUIRE(r);
    CHECK(r.value().revision == UINT64_MAX);
    auto w = fs.write(vals({{"DB_USER", "app"}, {"DB_PASS_CURRENT", "two"}}), UINT64_MAX);
    REQUIRE_FALSE(w);
    CHECK(w.error().detail.find("cannot grow") != std::string::npos);
    CHECK(fs.read().value().revision == UINT64_MAX);
    CHECK(file_provider(path).load().value().current.password.reveal() == "one");
  }
  s.dir.write("app.env",
              "DB_USER=app\nDB_PASS_CURRENT=one\nDUALCRED_REVISION=18446744073709551616\n");
  CHECK(dualcred::rotation::stores::file_store(s.dotenv).read().error().is(errc::malformed));
}

TEST_CASE("the last drain's record: written, read back, and anything else refused") {
  using namespace dualcred::rotation;
  drain_record r;
  r.at = *parse_rfc3339("2026-12-01T09:00:00Z");
  r.mode = drain_mode::wait;
  r.outcome = "timed_out";
  r.found = 3;
  r.remaining = 2;
  r.nodes = {{"127.0.0.1:5432", 2}, {"[::1]:5433", 1}};
  const std::string text = format_drain_record(r);
  CHECK(text ==
        "2026-12-01T09:00:00Z mode=wait outcome=timed_out found=3 ended=0 remaining=2 "
        "nodes=127.0.0.1:5432=2,[::1]:5433=1");
  const auto back = parse_drain_record(text);
  REQUIRE(back);
  CHECK(back->at == r.at);
  CHECK(back->mode == drain_mode::wait);
  CHECK(back->outcome == "timed_out");
  CHECK(back->found == 3);
  CHECK(back->remaining == 2);
  REQUIRE(back->nodes.size() == 2);
  CHECK(back->nodes[1].node == "[::1]:5433");
  CHECK(back->nodes[1].sessions == 1);
  r.nodes.clear();
  CHECK(parse_drain_record(format_drain_record(r)));  // no node
  for (const char* bad : {"", "yesterday mode=wait", "2026-12-01T09:00:00Z mode=later",
                          "2026-12-01T09:00:00Z mode=wait outcome=x found=-1 ended=0 remaining=0 "
                          "nodes=",
                          "2026-12-01T09:00:00Z mode=wait outcome=x found=1 ended=0 remaining=0 "
                          "nodes=a:1=x"})
    CHECK_MESSAGE(!parse_drain_record(bad), bad);
  // The state keeps it beside the time apply changed the backend.
  const auto keys = rotation_keys::for_prefix("DB");
  CHECK(keys.applied_at == "DB_APPLIED_AT");
  CHECK(keys.last_drain == "DB_LAST_DRAIN");
}

TEST_SUITE_END();

}  // namespace test_units
