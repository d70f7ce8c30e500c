#include <dualcred/secret.hpp>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <doctest/doctest.h>

#if defined(__linux__)
#include <unistd.h>
#endif

TEST_SUITE_BEGIN("secret");

using dualcred::credential;
using dualcred::secret;

// No implicit road from a secret to any text type: that is what keeps fmt from printing it.
// The test replaces array new/delete to look at a buffer's bytes as it is freed, except under
// clang's ThreadSanitizer, whose static runtime defines them too (the other builds check it).
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DUALCRED_TEST_NO_NEW_REPLACEMENT 1
#endif
#endif
#ifndef DUALCRED_TEST_NO_NEW_REPLACEMENT
#define DUALCRED_TEST_NO_NEW_REPLACEMENT 0
#endif

namespace {
bool watch_array_frees = false;
int watched_frees = 0;
int nonzero_frees = 0;
}  // namespace

#if !DUALCRED_TEST_NO_NEW_REPLACEMENT
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
#endif

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
  if (DUALCRED_SECRET_DONTDUMP) return;  // no heap buffer to watch; see the tests below
  if (DUALCRED_TEST_NO_NEW_REPLACEMENT) {
    MESSAGE("clang TSan build: operator new[] is the sanitizer's, the frees are not watched");
    return;
  }
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

#if defined(__linux__)
namespace {

// The VmFlags of the mapping that holds `p` ("dd": left out of core dumps), from
// /proc/self/smaps; nullopt when no mapping holds it.
std::optional<std::vector<std::string>> vm_flags(const void* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t start = 0, end = 0;
    char dash = 0;
    std::istringstream fields(line);
    if (line.rfind("VmFlags:", 0) == 0) {
      if (!inside) continue;
      std::vector<std::string> flags;
      std::string word;
      fields >> word;  // "VmFlags:"
      while (fields >> word) flags.push_back(word);
      return flags;
    }
    if (fields >> std::hex >> start >> dash >> end && dash == '-' && line.find(':') > 8)
      inside = start <= address && address < end;
  }
  return std::nullopt;
}

bool dumped(const void* p) {
  const auto flags = vm_flags(p);
  REQUIRE(flags.has_value());
  for (const auto& f : *flags)
    if (f == "dd") return false;
  return true;
}

const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));

}  // namespace

TEST_CASE("DUALCRED_SECRET_DONTDUMP decides whether a secret's bytes reach a core dump") {
  const secret s("hunter2");
  CHECK(dumped(s.reveal().data()) == !DUALCRED_SECRET_DONTDUMP);
  const secret copy = s;  // NOLINT(performance-unnecessary-copy-initialization)
  CHECK(dumped(copy.reveal().data()) == !DUALCRED_SECRET_DONTDUMP);
}

TEST_CASE("dont-dump storage: pages of its own, each marked, moved without a copy, unmapped") {
  using dont_dump = dualcred::detail::secret_storage<true>;
  using heap = dualcred::detail::secret_storage<false>;
  const heap on_heap("hunter2");
  CHECK(dumped(on_heap.data()));  // the reader sees the difference

  const std::string big(page + 10, 'x');  // more than a page: every page is marked
  dont_dump a("hunter2");
  const dont_dump b{std::string_view(big)};
  CHECK(reinterpret_cast<std::uintptr_t>(a.data()) % page == 0);
  CHECK(!dumped(a.data()));
  CHECK(!dumped(b.data()));
  CHECK(!dumped(b.data() + page));
  CHECK(b.data()[big.size()] == '\0');
  CHECK(std::string_view(b.data(), b.size()) == big);

  // A small secret still gets a page no other secret shares.
  const dont_dump c("hunter2");
  CHECK(reinterpret_cast<std::uintptr_t>(c.data()) / page !=
        reinterpret_cast<std::uintptr_t>(a.data()) / page);

  // A move hands the pages over: no second copy anywhere.
  const char* where = a.data();
  dont_dump moved(std::move(a));
  CHECK(moved.data() == where);
  CHECK(a.data() == nullptr);  // NOLINT(bugprone-use-after-move)
  CHECK(a.size() == 0);        // NOLINT(bugprone-use-after-move)

  moved.release();
  CHECK(moved.data() == nullptr);
  CHECK(!vm_flags(where).has_value());  // unmapped, not kept around dumpable or not

  const dont_dump empty("");
  CHECK(empty.data() == nullptr);  // nothing mapped for nothing
}
#endif

TEST_SUITE_END();
