#include <dualcred/rotation/pg/pgbouncer_auth_file.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <dualcred_testing/temp_dir.hpp>
#include "file/file_helpers.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_pgbouncer_auth_file {

using dualcred::errc;
using dualcred::secret;
using dualcred::rotation::pg::update_auth_file;
namespace dt = dualcred::testing;
using test_file_helpers::names;
using test_file_helpers::slurp;

namespace {

// Made on first use, not at static initialisation: the leak audit records every secret.
const secret& verifier() {
  static const secret v("SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy");
  return v;
}

}  // namespace

TEST_SUITE_BEGIN("pgbouncer_auth_file");

TEST_CASE("a lock path that is a symlink is refused and nothing is created at its target") {
  dt::temp_dir dir;
  dt::temp_dir outside;
  const std::string path = dir.write("userlist.txt", "\"alice\" \"pw\"\n", 0640);
  const std::string target = outside / "planted";
  std::filesystem::create_symlink(target, path + ".lock");
  auto r = update_auth_file(path, {"alice", &verifier(), false});
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::invalid_argument));
  CHECK(r.error().detail.find("symbolic link") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(std::filesystem::symlink_status(target)));
  CHECK(slurp(path) == "\"alice\" \"pw\"\n");
  // A dangling link to a file that does exist is not followed either: its content is kept.
  const std::string existing = outside.write("existing", "kept\n", 0600);
  std::filesystem::remove(path + ".lock");
  std::filesystem::create_symlink(existing, path + ".lock");
  REQUIRE_FALSE(update_auth_file(path, {"alice", &verifier(), false}));
  CHECK(slurp(existing) == "kept\n");
}

TEST_CASE("a refused update leaves the file as it was and no temporary file beside it") {
  dt::temp_dir dir;
  const std::string body = "\"alice\" \"pw\"\nbob hunter2-secret\n";
  const std::string path = dir.write("userlist.txt", body, 0600);
  auto r = update_auth_file(path, {"alice", &verifier(), false});
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::malformed));
  CHECK(r.error().detail.find("hunter2") == std::string::npos);
  CHECK(slurp(path) == body);
  CHECK(names(dir) == std::vector<std::string>{"userlist.txt", "userlist.txt.lock"});
}

TEST_CASE("a temporary file a crashed writer left beside the auth_file is removed") {
  dt::temp_dir dir;
  const std::string path = dir.write("userlist.txt", "\"alice\" \"pw\"\n", 0600);
  dir.write(".userlist.txt.tmp.AbC123", "\"alice\" \"old verifier\"\n", 0600);
  REQUIRE(update_auth_file(path, {"alice", &verifier(), false}));
  CHECK(slurp(path) == "\"alice\" \"" + std::string(verifier().reveal()) + "\"\n");
  CHECK(names(dir) == std::vector<std::string>{"userlist.txt", "userlist.txt.lock"});
}

TEST_CASE("a large file with many users keeps every other line byte for byte") {
  dt::temp_dir dir;
  std::string body;
  for (int i = 0; i < 5000; ++i)
    body += "\"user" + std::to_string(i) + "\" \"SCRAM-SHA-256$4096:c2FsdA==$" + std::to_string(i) +
            ":c2VydmVy\"\n";
  const std::string path = dir.write("userlist.txt", body, 0600);
  REQUIRE(update_auth_file(path, {"user2500", &verifier(), false}));
  const std::string after = slurp(path);
  const std::string old_line = "\"user2500\" \"SCRAM-SHA-256$4096:c2FsdA==$2500:c2VydmVy\"\n";
  const std::string new_line = "\"user2500\" \"" + std::string(verifier().reveal()) + "\"\n";
  std::string expected = body;
  expected.replace(expected.find(old_line), old_line.size(), new_line);
  CHECK(after == expected);
}

TEST_SUITE_END();

}  // namespace test_pgbouncer_auth_file
