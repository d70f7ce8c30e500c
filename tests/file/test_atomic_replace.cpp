#include <dualcred/file/atomic_replace.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <dualcred_testing/temp_dir.hpp>
#include "file/file_helpers.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_file_atomic_replace {

using dualcred::errc;
namespace dt = dualcred::testing;
namespace file = dualcred::file;
using test_file_helpers::names;
using test_file_helpers::slurp;

namespace {

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_SUITE_BEGIN("file_atomic_replace");

TEST_CASE("replace: new content, the old mode kept, a new file's mode given, nothing left") {
  dt::temp_dir dir;
  const std::string path = dir.write("a.env", "old\n", 0640);
  REQUIRE(file::atomic_replace(path, "new\n"));
  CHECK(slurp(path) == "new\n");
  CHECK(mode_of(path) == 0640);
  file::replace_options opts;
  opts.new_file_mode = 0604;
  REQUIRE(file::atomic_replace(dir / "b.env", "fresh\n", opts));
  CHECK(slurp(dir / "b.env") == "fresh\n");
  CHECK(mode_of(dir / "b.env") == 0604);
  CHECK(names(dir) == std::vector<std::string>{"a.env", "b.env"});
}

TEST_CASE("the temporary file is beside the target, 0600 and close-on-exec until the rename") {
  dt::temp_dir dir;
  const std::string path = dir.write("a.env", "old\n", 0644);
  file::replace_options opts;
  int flags = -1;
  std::string temp_name;
  mode_t temp_mode = 0;
  opts.before_rename = [&](int fd) -> dualcred::result<void> {
    flags = ::fcntl(fd, F_GETFD);
    char link[4096] = {};
    const std::string proc = "/proc/self/fd/" + std::to_string(fd);
    const ssize_t n = ::readlink(proc.c_str(), link, sizeof link - 1);
    if (n > 0) temp_name = std::filesystem::path(std::string(link, n)).filename().string();
    struct stat st {};
    if (::fstat(fd, &st) == 0) temp_mode = st.st_mode & 07777;
    return boost::outcome_v2::success();
  };
  REQUIRE(file::atomic_replace(path, "new\n", opts));
  REQUIRE(flags >= 0);
  CHECK((flags & FD_CLOEXEC) != 0);
  CHECK(temp_name.starts_with(file::temp_prefix(path)));
  CHECK(temp_name.size() == file::temp_prefix(path).size() + 6);
  CHECK(temp_mode == 0644);  // the old file's mode, given before any byte is written
}

TEST_CASE("a check that fails before the rename leaves the old content and no temporary file") {
  dt::temp_dir dir;
  const std::string path = dir.write("a.env", "old\n");
  file::replace_options opts;
  opts.before_rename = [](int) -> dualcred::result<void> {
    return dualcred::fail(errc::conflict, "changed by someone else");
  };
  auto r = file::atomic_replace(path, "new\n", opts);
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::conflict));
  CHECK(r.error().detail == "changed by someone else");
  CHECK(slurp(path) == "old\n");
  CHECK(names(dir) == std::vector<std::string>{"a.env"});
}

TEST_CASE("a write that fails leaves the old content and no temporary file") {
  dt::temp_dir dir;
  const std::string path = dir.write("a.env", "old\n");
  // A child whose files may not grow past 16 bytes: the write of the temporary file fails.
  CHECK(test_file_helpers::exit_code_in_child([&] {
          ::signal(SIGXFSZ, SIG_IGN);
          const rlimit limit{16, 16};
          if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 2;
          auto r = file::atomic_replace(path, std::string(4096, 'x'));
          return !r && r.error().detail.find("cannot write") != std::string::npos ? 0 : 1;
        }) == 0);
  CHECK(slurp(path) == "old\n");
  CHECK(names(dir) == std::vector<std::string>{"a.env"});
}

TEST_CASE("a file that is not what was written, read back after the rename, is reported") {
  dt::temp_dir dir;
  const std::string path = dir.write("a.env", "old\n");
  file::replace_options opts;
  // Another writer with the temporary file open changes it between the fsync and the rename.
  opts.before_rename = [](int fd) -> dualcred::result<void> {
    if (::pwrite(fd, "N", 1, 0) != 1) return dualcred::fail(errc::malformed, "pwrite failed");
    return boost::outcome_v2::success();
  };
  auto r = file::atomic_replace(path, "new\n", opts);
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::conflict));
  CHECK(r.error().detail.find("does not hold what was just written") != std::string::npos);
  CHECK(r.error().detail.find(path) != std::string::npos);
}

TEST_CASE("the owner is kept; a required owner it may not give is refused, the file untouched") {
  if (::geteuid() != 0) return;  // giving a file away takes root
  dt::temp_dir dir;
  const std::string path = dir.write("a.env", "old\n", 0640);
  REQUIRE(::chown(path.c_str(), 65534, 65534) == 0);
  file::replace_options opts;
  opts.keep_owner = file::owner_policy::required;
  REQUIRE(file::atomic_replace(path, "new\n", opts));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK(st.st_uid == 65534);
  CHECK(st.st_gid == 65534);
  REQUIRE(::chmod(dir.path().c_str(), 0777) == 0);
  REQUIRE(::chown(path.c_str(), 0, 0) == 0);
  CHECK(test_file_helpers::exit_code_in_child([&] {
          if (::setgid(65534) != 0 || ::setuid(65534) != 0) return 2;
          auto r = file::atomic_replace(path, "theirs\n", opts);
          return !r && r.error().is(errc::permission_denied) ? 0 : 1;
        }) == 0);
  CHECK(slurp(path) == "new\n");
  CHECK(names(dir) == std::vector<std::string>{"a.env"});
}

TEST_CASE("leftovers: only this file's temporary names are removed") {
  dt::temp_dir dir;
  const std::string path = dir.write("a.env", "x\n");
  dir.write(".a.env.tmp.Ab12Cd", "secret\n");
  dir.write(".a.env.tmp.toolong", "kept\n");
  dir.write(".b.env.tmp.Ab12Cd", "kept\n");
  file::remove_temp_leftovers(path);
  CHECK(names(dir) == std::vector<std::string>{".a.env.tmp.toolong", ".b.env.tmp.Ab12Cd", "a.env"});
}

TEST_SUITE_END();

}  // namespace test_file_atomic_replace
