#pragma once

#include <cstddef>
#include <cstring>

namespace dualcred::detail {

// Overwrites n bytes at p with zeros in a way the optimiser may not drop as a dead store:
// the empty asm statement claims to read the memory after the memset.
inline void secure_zero(void* p, std::size_t n) noexcept {
  if (p == nullptr || n == 0) return;
  std::memset(p, 0, n);
#if defined(__GNUC__) || defined(__clang__)
  __asm__ __volatile__("" : : "r"(p) : "memory");
#else
  auto* volatile vp = static_cast<volatile unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) vp[i] = 0;
#endif
}

}  // namespace dualcred::detail
