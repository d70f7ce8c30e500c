#include <dualcred/secret.hpp>

#include <cstdlib>
#include <new>
#include <sstream>
#include <string>
#include <type_traits>

#include <doctest/doctest.h>

TEST_SUITE_BEGIN("secret");

using dualcred::credential;
using dualcred::secret;

// No implicit road from a secret to any text type: that is what keeps fmt from printing it.
// The test replaces array new/delete to look at a buffer's bytes as it is freed.
namespace {
bool watch_array_frees = false;
int watched_frees = 0;
int nonzero_frees = 0;
}  // namespace

void* operator new[](std::size_t n) {
  // Room for the size in front, so delete[] knows how many bytes to inspect.
  auto* raw = static_cast<std::size_t*>(std::malloc(n + sizeof(std::max_align_t)));
  if (raw == nullptr) throw std::bad_alloc();
  *raw = n;
  return reinterpret_cast<char*>(raw) + sizeof(std::max_align_t);
}
void operator delete[](void* p) noexcept {
  if (p == nullptr) return;
  char* raw = static_cast<char*>(p) - sizeof(std::max_align_t);
  const std::size_t n = *reinterpret_cast<std::size_t*>(raw);
  if (watch_array_frees) {
    ++watched_frees;
    for (std::size_t i = 0; i < n; ++i)
      if (static_cast<char*>(p)[i] != 0) {
        ++nonzero_frees;
        break;
      }
  }
  std::free(raw);
}
void operator delete[](void* p, std::size_t) noexcept {
  operator delete[](p);
}

static_assert(!std::is_convertible_v<secret, std::string>);
static_assert(!std::is_convertible_v<secret, std::string_view>);
static_assert(!std::is_convertible_v<secret, const char*>);
static_assert(!std::is_convertible_v<std::string, secret>, "construction must be explicit");
static_assert(std::is_nothrow_move_constructible_v<secret>);

TEST_CASE("reveal gives the bytes, size and empty agree") {
  const secret s("hunter2");
  CHECK(s.reveal() == "hunter2");
  CHECK(s.size() == 7);
  CHECK(!s.empty());
  CHECK(secret().empty());
  CHECK(secret().reveal().empty());
}

TEST_CASE("bytes with NULs and non-ASCII survive") {
  const std::string raw("a\0b\xff", 4);
  const secret s{std::string_view(raw)};
  CHECK(s.reveal() == raw);
}

TEST_CASE("fmt and ostream print *** only") {
  const secret s("hunter2");
  CHECK(fmt::format("{}", s) == "***");
  CHECK(fmt::format("{:>5}", s) == "  ***");
  std::ostringstream os;
  os << s;
  CHECK(os.str() == "***");
  CHECK(fmt::format("{}", credential{"app", secret("hunter2")}) == "app:***");
}

TEST_CASE("moving leaves the source empty") {
  secret a("hunter2");
  secret b(std::move(a));
  CHECK(b.reveal() == "hunter2");
  CHECK(a.empty());  // NOLINT(bugprone-use-after-move): the contract under test
  secret c;
  c = std::move(b);
  CHECK(c.reveal() == "hunter2");
  CHECK(b.empty());  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("construction from an rvalue string scrubs the string") {
  std::string s = "a-long-password-that-does-not-fit-in-sso";
  const secret sec(std::move(s));
  CHECK(sec.reveal() == "a-long-password-that-does-not-fit-in-sso");
  CHECK(s.empty());  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("copies are deep and equal; equality compares bytes") {
  const secret a("same");
  const secret b = a;
  CHECK(a == b);
  CHECK(a.reveal().data() != b.reveal().data());
  CHECK(!(a == secret("diff")));
  CHECK(!(a == secret("sam")));
  CHECK(secret() == secret(""));
}

TEST_CASE("secure_zero zeroes a buffer") {
  char buffer[8] = {'p', 'a', 's', 's', 'w', 'o', 'r', 'd'};
  dualcred::detail::secure_zero(buffer, sizeof buffer);
  for (const char c : buffer) CHECK(c == 0);
}

TEST_CASE("the buffer is zeroed before it is freed: destruction and assignment") {
  watched_frees = 0;
  nonzero_frees = 0;
  watch_array_frees = true;
  {
    secret a("destroy-me-please");
    secret b("overwritten-secret");
    b = secret("x");  // b's old buffer is freed here
  }
  watch_array_frees = false;
  // a's buffer, b's old buffer, the temporary's (moved-from: no buffer) and b's new one.
  CHECK(watched_frees >= 2);
  CHECK(nonzero_frees == 0);
}

TEST_CASE("credentials compare by user and password") {
  CHECK(credential{"a", secret("x")} == credential{"a", secret("x")});
  CHECK(!(credential{"a", secret("x")} == credential{"b", secret("x")}));
  CHECK(!(credential{"a", secret("x")} == credential{"a", secret("y")}));
  CHECK(dualcred::other(dualcred::slot::current) == dualcred::slot::next);
  CHECK(fmt::format("{}", dualcred::slot::next) == "next");
}

TEST_SUITE_END();
