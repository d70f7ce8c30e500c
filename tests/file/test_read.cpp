#include <dualcred/file/read.hpp>

#include <sys/stat.h>

#include <string>
#include <string_view>
#include <utility>

#include <doctest/doctest.h>

#include <dualcred_testing/temp_dir.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_file_read {

using dualcred::errc;
namespace dt = dualcred::testing;
namespace file = dualcred::file;

// The rules a secret file must meet (regular file, no symlink where refused, FIFO and
// device refused without blocking, permissions, ..data) are tested through the file
// provider in tests/provider/test_provider_file.cpp; these are the reader's own.
TEST_SUITE_BEGIN("file_read");

TEST_CASE("read_file: the bytes and the descriptor's stat, nullopt for a missing file") {
  dt::temp_dir dir;
  const std::string path = dir.write("a", std::string("one\0two\n", 8), 0640);
  auto r = file::read_file(path, {});
  REQUIRE(r);
  REQUIRE(r.value());
  CHECK(r.value()->text.s == std::string_view("one\0two\n", 8));
  CHECK((r.value()->st.st_mode & 07777) == 0640);
  CHECK(r.value()->st.st_size == 8);
  auto missing = file::read_file(dir / "none", {});
  REQUIRE(missing);
  CHECK_FALSE(missing.value());
  auto empty = file::read_secret_file(dir.write("empty", ""), {});
  REQUIRE(empty);
  REQUIRE(empty.value());
  CHECK(empty.value()->reveal().empty());
}

TEST_CASE("read_file: a file of max_size bytes is read, one byte more is refused unread") {
  dt::temp_dir dir;
  file::read_limits limits;
  limits.max_size = 10;
  auto at = file::read_secret_file(dir.write("ten", "0123456789"), limits);
  REQUIRE(at);
  CHECK(at.value()->reveal() == "0123456789");
  auto over = file::read_secret_file(dir.write("eleven", "0123456789a"), limits);
  REQUIRE_FALSE(over);
  CHECK(over.error().is(errc::malformed));
  CHECK(over.error().detail.find("larger than 10 bytes") != std::string::npos);
}

TEST_CASE("the read buffer is sized once from fstat: its capacity is the file's size plus one") {
  dt::temp_dir dir;
  const std::string body(100000, 'v');
  auto r = file::read_file(dir.write("big", body), {1 << 20, false, false});
  REQUIRE(r);
  CHECK(r.value()->text.s == body);
  CHECK(r.value()->text.s.capacity() <= body.size() + 1);
}

TEST_CASE("scrubbed_string: zeroed when moved from, wiped or destroyed") {
  dualcred::detail::scrubbed_string small;
  small.s = "hunter2";  // within the small-string buffer: a move copies it
  const char* inside = small.s.data();
  dualcred::detail::scrubbed_string moved(std::move(small));
  CHECK(moved.s == "hunter2");
  CHECK(std::string_view(inside, 7) == std::string_view("\0\0\0\0\0\0\0", 7));
  dualcred::detail::scrubbed_string other;
  other.s = "correct horse";
  const char* source = moved.s.data();
  other = std::move(moved);
  CHECK(other.s == "hunter2");
  CHECK(std::string_view(source, 7) == std::string_view("\0\0\0\0\0\0\0", 7));
  other.s.assign(200, 'k');
  const char* heap = other.s.data();
  other.s.resize(3);  // shorter, same buffer: the tail is still there until wiped
  other.wipe();
  CHECK(other.s.empty());
  CHECK(other.s.data() == heap);
  CHECK(std::string_view(heap, 200) == std::string(200, '\0'));
}

TEST_SUITE_END();

}  // namespace test_file_read
