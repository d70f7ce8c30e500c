#include <dualcred/file/lock.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include <doctest/doctest.h>

#include <dualcred_testing/temp_dir.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_file_lock {

using dualcred::errc;
using namespace std::chrono_literals;
namespace dt = dualcred::testing;
namespace file = dualcred::file;

namespace {

dualcred::result<file::unique_fd> lock(const std::string& path, bool exclusive,
                                       std::optional<std::chrono::milliseconds> wait = {}) {
  return file::lock_file(AT_FDCWD, path, path, exclusive, wait);
}

}  // namespace

TEST_SUITE_BEGIN("file_lock");

TEST_CASE("a lock path that is a symlink is refused and nothing is created at its target") {
  dt::temp_dir dir;
  dt::temp_dir outside;
  const std::string path = dir / "x.lock";
  const std::string target = outside / "planted";
  std::filesystem::create_symlink(target, path);
  auto r = lock(path, true);
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::invalid_argument));
  CHECK(r.error().detail.find("symbolic link") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(std::filesystem::symlink_status(target)));
  // Nor through a link to a file that exists, in a directory given by descriptor.
  const std::string existing = outside.write("existing", "kept\n");
  std::filesystem::remove(path);
  std::filesystem::create_symlink(existing, path);
  const file::unique_fd d(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE_FALSE(file::lock_file(d.get(), "x.lock", path, false));
}

TEST_CASE("a lock file that is not a regular file is refused, naming what it is") {
  dt::temp_dir dir;
  const std::string fifo = dir / "fifo.lock";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto r = lock(fifo, true);
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::invalid_argument));
  CHECK(r.error().detail.find("a FIFO") != std::string::npos);
  std::filesystem::create_directory(dir / "d.lock");
  CHECK_FALSE(lock(dir / "d.lock", true));
}

TEST_CASE("the lock file is created 0600 and its descriptor is close-on-exec") {
  dt::temp_dir dir;
  const std::string path = dir / "x.lock";
  auto r = lock(path, true);
  REQUIRE(r);
  const int flags = ::fcntl(r.value().get(), F_GETFD);
  REQUIRE(flags >= 0);
  CHECK((flags & FD_CLOEXEC) != 0);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
}

TEST_CASE("a held lock: a bounded wait gives up with conflict, an unbounded one gets it later") {
  dt::temp_dir dir;
  const std::string path = dir / "x.lock";
  auto held = lock(path, true);
  REQUIRE(held);
  const auto start = std::chrono::steady_clock::now();
  auto busy = lock(path, false, 100ms);
  REQUIRE_FALSE(busy);
  CHECK(busy.error().is(errc::conflict));
  CHECK(busy.error().detail.find("stayed locked") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start >= 100ms);
  // Shared locks do not exclude each other.
  auto first = lock(dir / "s.lock", false);
  REQUIRE(first);
  CHECK(lock(dir / "s.lock", false, 0ms));

  auto waiter = std::async(std::launch::async, [&] { return lock(path, true).has_value(); });
  CHECK(waiter.wait_for(50ms) == std::future_status::timeout);
  held.value().reset();
  CHECK(waiter.get());
}

TEST_SUITE_END();

}  // namespace test_file_lock
