#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "secure_zero.hpp"

namespace dualcred::detail {

#if defined(MADV_DONTDUMP)
inline constexpr bool dontdump_available = true;
#else
inline constexpr bool dontdump_available = false;
#endif

[[noreturn]] inline void secret_out_of_memory() {
#if defined(__cpp_exceptions)
  throw std::bad_alloc();
#else
  std::abort();
#endif
}

// Owns a copy of some bytes and a NUL after them, and zeroes the bytes before freeing them.
// The bytes always live in a buffer of their own, never in a small-string buffer that a move
// would copy and leave behind; a move hands the buffer over.
//
// DontDump: the buffer is anonymous pages of its own (mmap), marked MADV_DONTDUMP so a core
// dump leaves them out. Page-granular on purpose: madvise works on whole pages, so sharing
// one with heap data would either dump the secret or hide unrelated memory. Costs a page per
// secret and three system calls per buffer made and freed (see benchmarks/RESULTS.md).
template <bool DontDump>
class secret_storage {
  static_assert(!DontDump || dontdump_available,
                "dualcred: DUALCRED_SECRET_DONTDUMP needs madvise(MADV_DONTDUMP) (Linux 3.4+)");

 public:
  secret_storage() noexcept = default;
  // Throws std::bad_alloc (aborts without exceptions) when memory, or the kernel's promise to
  // leave it out of core dumps, cannot be had.
  explicit secret_storage(std::string_view bytes) : size_(bytes.size()) {
    if (size_ == 0) return;
    data_ = allocate(size_ + 1);
    std::memcpy(data_, bytes.data(), size_);
    data_[size_] = '\0';
  }
  secret_storage(secret_storage&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  secret_storage& operator=(secret_storage&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  secret_storage(const secret_storage&) = delete;
  secret_storage& operator=(const secret_storage&) = delete;
  ~secret_storage() { release(); }

  [[nodiscard]] const char* data() const noexcept { return data_; }  // null when empty
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  // Zeroes and frees the bytes; empty afterwards.
  void release() noexcept {
    if (data_ == nullptr) return;
    secure_zero(data_, size_);
    deallocate(data_, size_ + 1);
    data_ = nullptr;
    size_ = 0;
  }

 private:
#if defined(MADV_DONTDUMP)
  static std::size_t mapped_length(std::size_t n) noexcept {
    static const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return (n + page - 1) / page * page;
  }
#endif

  static char* allocate(std::size_t n) {
#if defined(MADV_DONTDUMP)
    if constexpr (DontDump) {
      const std::size_t length = mapped_length(n);
      void* p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) secret_out_of_memory();
      // Fail closed: a secret this build promised to keep out of dumps is never made dumpable.
      if (::madvise(p, length, MADV_DONTDUMP) != 0) {
        ::munmap(p, length);
        secret_out_of_memory();
      }
      return static_cast<char*>(p);
    }
#endif
    return new char[n];
  }

  static void deallocate(char* p, [[maybe_unused]] std::size_t n) noexcept {
#if defined(MADV_DONTDUMP)
    if constexpr (DontDump) {
      ::munmap(p, mapped_length(n));
      return;
    }
#endif
    delete[] p;
  }

  char* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace dualcred::detail
