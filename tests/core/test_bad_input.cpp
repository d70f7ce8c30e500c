// Bad input for the env and file providers: each case must give a clear errc, name what was
// wrong, and never let the secret it holds reach the detail, the status JSON or a log line.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/dual_credential.hpp>
#include <dualcred/log_policy.hpp>
#include <dualcred/provider/env.hpp>
#include <dualcred/provider/file.hpp>

#include <dualcred_testing/scoped_env.hpp>
#include <dualcred_testing/temp_dir.hpp>
#include "support/scripted.hpp"

TEST_SUITE_BEGIN("bad_input");

using namespace dualcred;
using dualcred::testing::scoped_env;
using dualcred::testing::temp_dir;

namespace {

constexpr const char* canary = "Canary-S3cret-9f7e";

struct bad_case {
  const char* name;
  errc expected;
  const char* must_mention;  // what the detail names: the key, the file, the line
  file_options opts = {};
};

struct captured_log {
  std::shared_ptr<std::vector<std::string>> lines = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();
  void operator()(std::string_view l) const {
    std::lock_guard lock(*mutex);
    lines->emplace_back(l);
  }
};

struct never_called {
  result<testing::fake_conn> operator()(const credential&) const {
    return fail(errc::backend_unavailable, "not reached");
  }
};

template <class Provider>
void check_case(const bad_case& c, Provider provider) {
  CAPTURE(c.name);
  auto direct = provider.load();
  REQUIRE_MESSAGE(!direct, c.name);
  CHECK(direct.error().is(c.expected));
  CHECK_MESSAGE(direct.error().detail.find(c.must_mention) != std::string::npos,
                direct.error().detail);
  CHECK(direct.error().detail.find(canary) == std::string::npos);

  captured_log log;
  dual_credential dc(never_called{}, std::move(provider), options{}, log_policy{log});
  auto conn = dc.connect();
  REQUIRE(!conn);
  CHECK(conn.error().is(c.expected));
  CHECK(conn.error().detail.find(canary) == std::string::npos);
  const std::string json = fmt::format("{}", dc.snapshot());
  CHECK(json.find(canary) == std::string::npos);
  CHECK(json.find(std::string(to_string(c.expected))) != std::string::npos);
  REQUIRE(!log.lines->empty());
  for (const auto& line : *log.lines) CHECK(line.find(canary) == std::string::npos);
}

std::string with_canary(const char* pattern) {
  std::string s = pattern;
  const auto at = s.find("@");
  if (at != std::string::npos) s.replace(at, 1, canary);
  return s;
}

}  // namespace

TEST_CASE("bad environment input") {
  const std::vector<std::pair<bad_case, std::vector<std::pair<const char*, const char*>>>> cases = {
      {{"CURRENT unset", errc::not_found, "DB_PASS_CURRENT"},
       {{"DB_USER", "app"}, {"DB_PASS_CURRENT", nullptr}, {"DB_PASS_NEXT", canary}}},
      {{"CURRENT empty", errc::malformed, "DB_PASS_CURRENT"},
       {{"DB_USER", "app"}, {"DB_PASS_CURRENT", ""}, {"DB_PASS_NEXT", canary}}},
      {{"USER unset", errc::not_found, "DB_USER"},
       {{"DB_USER", nullptr}, {"DB_PASS_CURRENT", canary}, {"DB_PASS_NEXT", nullptr}}},
      {{"USER empty", errc::malformed, "DB_USER"},
       {{"DB_USER", ""}, {"DB_PASS_CURRENT", canary}, {"DB_PASS_NEXT", nullptr}}},
      {{"NEXT set but empty", errc::malformed, "DB_PASS_NEXT"},
       {{"DB_USER", "app"}, {"DB_PASS_CURRENT", canary}, {"DB_PASS_NEXT", ""}}},
      {{"USER_NEXT set but empty", errc::malformed, "DB_USER_NEXT"},
       {{"DB_USER", "app"}, {"DB_PASS_CURRENT", canary}, {"DB_USER_NEXT", ""}}},
  };
  for (const auto& [c, vars] : cases) {
    std::vector<std::unique_ptr<scoped_env>> env;
    for (const char* name : {"DB_USER", "DB_PASS_CURRENT", "DB_PASS_NEXT", "DB_USER_NEXT"})
      env.push_back(std::make_unique<scoped_env>(name, nullptr));
    for (const auto& [name, value] : vars) env.push_back(std::make_unique<scoped_env>(name, value));
    check_case(c, env_provider());
  }
}

TEST_CASE("bad file input") {
  struct file_case {
    bad_case c;
    std::function<std::string(const temp_dir&)> make;
  };
  const std::string big(70 * 1024, 'x');
  const std::vector<file_case> cases = {
      {{"missing file", errc::not_found, "does not exist"},
       [](const temp_dir& d) { return d / "nope.env"; }},
      {{"oversized dotenv", errc::malformed, "larger than"},
       [&](const temp_dir& d) {
         return d.write("big.env", with_canary("DB_USER=a\nDB_PASS_CURRENT=@\n# ") + big);
       }},
      {{"binary dotenv", errc::malformed, "binary"},
       [](const temp_dir& d) {
         return d.write("bin.env",
                        with_canary("DB_USER=a\nDB_PASS_CURRENT=@\n") + std::string(1, '\0'));
       }},
      {{"unterminated double quote", errc::malformed,
        "line 2: unterminated double quote in DB_PASS_CURRENT"},
       [](const temp_dir& d) {
         return d.write("q.env", with_canary("DB_USER=a\nDB_PASS_CURRENT=\"@\n"));
       }},
      {{"unterminated single quote", errc::malformed, "unterminated single quote in DB_PASS_NEXT"},
       [](const temp_dir& d) {
         return d.write("q.env", with_canary("DB_USER=a\nDB_PASS_CURRENT=x\nDB_PASS_NEXT='@\n"));
       }},
      {{"line without =", errc::malformed, "line 2: expected '=' after DB_PASS_CURRENT"},
       [](const temp_dir& d) {
         return d.write("e.env", with_canary("DB_USER=a\nDB_PASS_CURRENT @\n"));
       }},
      {{"invalid key", errc::malformed, "line 1: expected a KEY=VALUE line"},
       [](const temp_dir& d) { return d.write("e.env", with_canary("1DB=@\n")); }},
      {{"text after a quoted value", errc::malformed,
        "unexpected text after the quoted value of DB_PASS_CURRENT"},
       [](const temp_dir& d) {
         return d.write("e.env", with_canary("DB_USER=a\nDB_PASS_CURRENT=\"@\" tail\n"));
       }},
      {{"CURRENT missing in dotenv", errc::not_found, "DB_PASS_CURRENT is not set"},
       [](const temp_dir& d) {
         return d.write("e.env", with_canary("DB_USER=a\nDB_PASS_NEXT=@\n"));
       }},
      {{"empty CURRENT in dotenv", errc::malformed, "DB_PASS_CURRENT is empty"},
       [](const temp_dir& d) {
         return d.write("e.env", with_canary("DB_USER=a\nDB_PASS_CURRENT=\nDB_PASS_NEXT=@\n"));
       }},
      {{"empty directory", errc::not_found, "DB_USER is not set"},
       [](const temp_dir& d) { return d.path().string(); }},
      {{"multi-line key file", errc::malformed, "more than one line"},
       [](const temp_dir& d) {
         d.write("DB_USER", "a\n");
         d.write("DB_PASS_CURRENT", with_canary("@\nsecond line\n"));
         return d.path().string();
       }},
      {{"key file is a directory", errc::invalid_argument, "DB_PASS_CURRENT is not a regular file"},
       [](const temp_dir& d) {
         d.write("DB_USER", "a\n");
         std::filesystem::create_directory(d.path() / "DB_PASS_CURRENT");
         d.write("DB_PASS_NEXT", with_canary("@"));
         return d.path().string();
       }},
      {{"oversized key file", errc::malformed, "larger than"},
       [&](const temp_dir& d) {
         d.write("DB_USER", "a\n");
         d.write("DB_PASS_CURRENT", with_canary("@") + big);
         return d.path().string();
       }},
      {{"empty key file", errc::malformed, "DB_PASS_CURRENT is empty"},
       [](const temp_dir& d) {
         d.write("DB_USER", "a\n");
         d.write("DB_PASS_CURRENT", "\n");
         d.write("DB_PASS_NEXT", with_canary("@"));
         return d.path().string();
       }},
      {{"group-readable file refused", errc::permission_denied, "readable by group or others",
        file_options{true, 64 * 1024}},
       [](const temp_dir& d) {
         return d.write("e.env", with_canary("DB_USER=a\nDB_PASS_CURRENT=@\n"), 0640);
       }},
      {{"dangling ..data link", errc::not_found, "DB_USER is not set"},
       [](const temp_dir& d) {
         std::filesystem::create_directory_symlink("..gone", d.path() / "..data");
         return d.path().string();
       }},
      {{"key file is a FIFO", errc::invalid_argument,
        "DB_PASS_CURRENT is not a regular file (a FIFO)"},
       [](const temp_dir& d) {
         d.write("DB_USER", "a\n");
         ::mkfifo((d / "DB_PASS_CURRENT").c_str(), 0600);
         d.write("DB_PASS_NEXT", with_canary("@"));
         return d.path().string();
       }},
      {{"key file is a symlink", errc::invalid_argument, "DB_PASS_CURRENT is a symbolic link"},
       [](const temp_dir& d) {
         d.write("DB_USER", "a\n");
         d.write("elsewhere", with_canary("@"));
         std::filesystem::create_symlink(d / "elsewhere", d.path() / "DB_PASS_CURRENT");
         return d.path().string();
       }},
      {{"..data to an absolute path", errc::malformed, "..data must point to a ..-prefixed"},
       [](const temp_dir& d) {
         std::filesystem::create_directory(d.path() / "abs");
         d.write("abs/DB_USER", "a\n");
         d.write("abs/DB_PASS_CURRENT", with_canary("@"));
         std::filesystem::create_directory_symlink(d.path() / "abs", d.path() / "..data");
         return d.path().string();
       }},
      {{"..data to ..", errc::malformed, "..data must point to a ..-prefixed"},
       [](const temp_dir& d) {
         std::filesystem::create_directory_symlink("..", d.path() / "..data");
         return d.path().string();
       }},
      {{"..data to .", errc::malformed, "..data must point to a ..-prefixed"},
       [](const temp_dir& d) {
         d.write("DB_USER", "a\n");
         d.write("DB_PASS_CURRENT", with_canary("@"));
         std::filesystem::create_directory_symlink(".", d.path() / "..data");
         return d.path().string();
       }},
      {{"NUL in a key file", errc::malformed, "DB_PASS_CURRENT holds a NUL byte"},
       [](const temp_dir& d) {
         d.write("DB_USER", "a\n");
         d.write("DB_PASS_CURRENT", with_canary("x") + std::string(1, '\0') + with_canary("@"));
         return d.path().string();
       }},
      {{"line break in a dotenv credential", errc::malformed, "DB_PASS_CURRENT in "},
       [](const temp_dir& d) {
         return d.write("e.env", with_canary("DB_USER=a\nDB_PASS_CURRENT=\"@\\nx\"\n"));
       }},
      {{"control byte in a dotenv user", errc::malformed, "DB_USER in "},
       [](const temp_dir& d) {
         return d.write("e.env", with_canary("DB_USER=a\x01b\nDB_PASS_CURRENT=@\n"));
       }},
  };
  CHECK(cases.size() >= 23);
  for (const auto& fc : cases) {
    temp_dir dir;
    const std::string path = fc.make(dir);
    check_case(fc.c, file_provider(path, key_names::for_prefix("DB"), fc.c.opts));
  }
}

TEST_CASE("an unreadable file is permission_denied (skipped as root, which reads anything)") {
  if (::geteuid() == 0) return;
  temp_dir dir;
  const auto path = dir.write("locked.env", with_canary("DB_USER=a\nDB_PASS_CURRENT=@\n"), 0000);
  check_case(bad_case{"unreadable", errc::permission_denied, "permission denied"},
             file_provider(path));
}

TEST_SUITE_END();
