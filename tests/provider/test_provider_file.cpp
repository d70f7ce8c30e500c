#include <dualcred/provider/file.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include <doctest/doctest.h>

#include <dualcred_testing/temp_dir.hpp>

TEST_SUITE_BEGIN("provider_file");

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

namespace {
// Runs `p.load()` on a thread; a load that blocks (a FIFO opened for reading waits for a
// writer) fails the test after 5 s instead of hanging the suite, and is then released by
// opening the FIFO for writing.
result<credential_set> load_within_5s(file_provider& p, const std::string& fifo) {
  std::promise<result<credential_set>> done;
  auto got = done.get_future();
  std::thread t([&] { done.set_value(p.load()); });
  if (got.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    FAIL_CHECK("load() blocked on " << fifo);
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
  }
  t.join();
  return got.get();
}
}  // namespace

TEST_CASE("a FIFO as a key file or as the dotenv file is refused at once, naming it") {
  temp_dir dir;
  dir.write("DB_USER", "app\n");
  const std::string fifo = dir / "DB_PASS_CURRENT";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  file_provider from_dir(dir.path().string());
  auto r = load_within_5s(from_dir, fifo);
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::invalid_argument));
  CHECK_MESSAGE(
      r.error().detail.find(fifo + " is not a regular file (a FIFO)") != std::string::npos,
      r.error().detail);

  file_provider from_fifo(fifo);
  auto d = load_within_5s(from_fifo, fifo);
  REQUIRE_FALSE(d);
  CHECK(d.error().is(errc::invalid_argument));
  CHECK(d.error().detail.find(fifo + " is not a regular file") != std::string::npos);
}

TEST_CASE("a device as a key file is refused, naming it") {
  temp_dir dir;
  dir.write("DB_USER", "app\n");
  const std::string dev = dir / "DB_PASS_CURRENT";
  if (::mknod(dev.c_str(), S_IFCHR | 0600, ::makedev(1, 3)) != 0) {  // /dev/null's numbers
    MESSAGE("mknod needs root; skipped");
    return;
  }
  auto r = file_provider(dir.path().string()).load();
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::invalid_argument));
  CHECK(r.error().detail.find(dev + " is not a regular file (a character device)") !=
        std::string::npos);
}

TEST_CASE("a symlink as a key file of a plain directory is refused, naming it") {
  temp_dir dir;
  temp_dir elsewhere;
  dir.write("DB_USER", "app\n");
  elsewhere.write("stolen", "not-a-store-value\n");
  fs::create_symlink(elsewhere / "stolen", dir.path() / "DB_PASS_CURRENT");
  auto r = file_provider(dir.path().string()).load();
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::invalid_argument));
  CHECK(r.error().detail.find("DB_PASS_CURRENT is a symbolic link") != std::string::npos);
  CHECK(r.error().detail.find("not-a-store-value") == std::string::npos);
}

TEST_CASE("..data must name a ..-prefixed entry of the directory itself") {
  temp_dir outside;
  outside.write("DB_USER", "app\n");
  outside.write("DB_PASS_CURRENT", "outside-value\n");
  for (const std::string& target :
       {outside.path().string(), std::string(".."), std::string("."),
        "../" + outside.path().filename().string(), std::string("..rev/../..")}) {
    CAPTURE(target);
    temp_dir dir;
    dir.write("DB_USER", "app\n");
    dir.write("DB_PASS_CURRENT", "inside\n");
    fs::create_directory_symlink(target, dir.path() / "..data");
    auto r = file_provider(dir.path().string()).load();
    REQUIRE_FALSE(r);
    CHECK(r.error().is(errc::malformed));
    CHECK_MESSAGE(r.error().detail.find("..data") != std::string::npos, r.error().detail);
    CHECK(r.error().detail.find("outside-value") == std::string::npos);
  }
}

TEST_CASE("control bytes and NUL in a credential are refused in both shapes, naming the key") {
  temp_dir dir;
  auto r =
      file_provider(dir.write("e.env", "DB_USER=app\nDB_PASS_CURRENT=\"two\\nlines\"\n")).load();
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::malformed));
  CHECK(r.error().detail.find("DB_PASS_CURRENT") != std::string::npos);
  CHECK(r.error().detail.find("lines") == std::string::npos);

  temp_dir keys;
  keys.write("DB_USER", "app\n");
  keys.write("DB_PASS_CURRENT", std::string("nul\0Tail9x", 10));
  auto k = file_provider(keys.path().string()).load();
  REQUIRE_FALSE(k);
  CHECK(k.error().is(errc::malformed));
  CHECK(k.error().detail.find("DB_PASS_CURRENT") != std::string::npos);
  CHECK(k.error().detail.find("Tail9x") == std::string::npos);
  // A tab is text, one trailing newline is the file's end of line.
  keys.write("DB_PASS_CURRENT", "tab\there\n");
  CHECK(file_provider(keys.path().string()).load().value().current.password.reveal() ==
        "tab\there");
}

TEST_SUITE_END();
