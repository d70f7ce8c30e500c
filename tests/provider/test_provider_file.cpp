#include <dualcred/provider/file.hpp>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>

#include <doctest/doctest.h>

#include "support/temp_dir.hpp"

using namespace dualcred;
using dualcred::testing::temp_dir;
namespace fs = std::filesystem;

TEST_CASE("dotenv: export, quotes, escapes, comments and CRLF") {
  temp_dir dir;
  const auto path = dir.write("creds.env",
                              "# rotated by ops\r\n"
                              "export DB_USER=app\r\n"
                              "DB_PASS_CURRENT = \"p w\\\"#1\\\\\" # trailing comment\n"
                              "\n"
                              "DB_PASS_NEXT='lit\\eral #2'\n"
                              "UNRELATED=x#not-a-comment\n");
  file_provider p(path);
  auto s = p.load();
  REQUIRE(s);
  CHECK(s.value().current.user == "app");
  CHECK(s.value().current.password.reveal() == "p w\"#1\\");
  CHECK(s.value().next->password.reveal() == "lit\\eral #2");
}

TEST_CASE("dotenv: an unquoted value ends at ' #' and loses trailing blanks") {
  temp_dir dir;
  file_provider p(dir.write("e", "DB_USER=app\nDB_PASS_CURRENT=abc#def   # note\n"));
  CHECK(p.load().value().current.password.reveal() == "abc#def");
}

TEST_CASE("directory: one file per key, one trailing newline dropped") {
  temp_dir dir;
  dir.write("DB_USER", "app\n");
  dir.write("DB_PASS_CURRENT", "cur\n");
  dir.write("DB_PASS_NEXT", "nxt");
  file_provider p(dir.path().string());
  auto s = p.load();
  REQUIRE(s);
  CHECK(s.value().current.user == "app");
  CHECK(s.value().current.password.reveal() == "cur");
  CHECK(s.value().next->password.reveal() == "nxt");
}

TEST_CASE("directory: NEXT absent is fine; REDIS user defaults") {
  temp_dir dir;
  dir.write("REDIS_PASS_CURRENT", "r1\n");
  file_provider p(dir.path().string(), key_names::for_prefix("REDIS"));
  auto s = p.load();
  REQUIRE(s);
  CHECK(s.value().current.user == "default");
  CHECK(!s.value().next);
}

TEST_CASE("the version changes exactly when the content changes") {
  temp_dir dir;
  const auto path = dir.write("e", "DB_USER=app\nDB_PASS_CURRENT=one\n");
  file_provider p(path);
  const auto v1 = p.load().value().version;
  dir.write("e", "DB_USER=app\nDB_PASS_CURRENT=one\n");  // rewritten, same content
  CHECK(p.load().value().version == v1);
  dir.write("e", "DB_USER=app\nDB_PASS_CURRENT=two\n");
  const auto v2 = p.load().value().version;
  CHECK(v2 != v1);
  dir.write("e", "# a comment changes nothing\nDB_USER=app\nDB_PASS_CURRENT=two\n");
  CHECK(p.load().value().version == v2);
}

namespace {
// Lays out a Kubernetes secret volume revision: ..REV/KEY files.
void write_revision(const temp_dir& dir, const std::string& rev, const std::string& tag) {
  fs::create_directory(dir.path() / rev);
  dir.write(rev + "/DB_USER", "app\n");
  dir.write(rev + "/DB_PASS_CURRENT", tag + "-current\n");
  dir.write(rev + "/DB_PASS_NEXT", tag + "-next\n");
}
// Points ..data at `rev` atomically, as the kubelet does (symlink then rename).
void point_data_at(const temp_dir& dir, const std::string& rev) {
  const auto tmp = dir.path() / "..data_tmp";
  fs::remove(tmp);
  fs::create_directory_symlink(rev, tmp);
  fs::rename(tmp, dir.path() / "..data");
}
}  // namespace

TEST_CASE("Kubernetes volume: keys are read through ..data") {
  temp_dir dir;
  write_revision(dir, "..2026_11_25_a", "A");
  point_data_at(dir, "..2026_11_25_a");
  for (const char* key : {"DB_USER", "DB_PASS_CURRENT", "DB_PASS_NEXT"})
    fs::create_symlink(std::string("..data/") + key, dir.path() / key);
  file_provider p(dir.path().string());
  auto s = p.load();
  REQUIRE(s);
  CHECK(s.value().current.password.reveal() == "A-current");
  write_revision(dir, "..2026_11_25_b", "B");
  point_data_at(dir, "..2026_11_25_b");
  CHECK(p.load().value().current.password.reveal() == "B-current");
}

TEST_CASE("Kubernetes volume: loads stay consistent while ..data is swapped") {
  temp_dir dir;
  write_revision(dir, "..rev_a", "A");
  write_revision(dir, "..rev_b", "B");
  point_data_at(dir, "..rev_a");
  for (const char* key : {"DB_USER", "DB_PASS_CURRENT", "DB_PASS_NEXT"})
    fs::create_symlink(std::string("..data/") + key, dir.path() / key);

  std::atomic<bool> stop{false};
  std::thread kubelet([&] {
    bool b = false;
    while (!stop) {
      point_data_at(dir, b ? "..rev_b" : "..rev_a");
      b = !b;
    }
  });
  file_provider p(dir.path().string());
  int mixed = 0, loaded = 0;
  for (int i = 0; i < 2000; ++i) {
    auto s = p.load();
    if (!s) continue;  // "kept changing" is allowed; a mixed set is not
    ++loaded;
    const auto cur = s.value().current.password.reveal();
    const auto nxt = s.value().next->password.reveal();
    if (cur.substr(0, 1) != nxt.substr(0, 1)) ++mixed;
  }
  stop = true;
  kubelet.join();
  CHECK(mixed == 0);
  CHECK(loaded > 0);
}

TEST_CASE("refuse_shared_permissions accepts 0600 and refuses 0644") {
  temp_dir dir;
  const auto ok = dir.write("ok.env", "DB_USER=a\nDB_PASS_CURRENT=b\n", 0600);
  const auto shared = dir.write("shared.env", "DB_USER=a\nDB_PASS_CURRENT=b\n", 0644);
  file_options strict;
  strict.refuse_shared_permissions = true;
  CHECK(file_provider(ok, key_names::for_prefix("DB"), strict).load());
  auto r = file_provider(shared, key_names::for_prefix("DB"), strict).load();
  REQUIRE(!r);
  CHECK(r.error().is(errc::permission_denied));
  CHECK(r.error().detail.find("0644") != std::string::npos);
  CHECK(file_provider(shared).load());  // off by default
}
