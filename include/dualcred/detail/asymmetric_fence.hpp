#pragma once

// An asymmetric fence: the frequent side (a connect) pays a compiler barrier, the rare side
// (a reload freeing an old set) pays a system call that runs a full memory barrier on every
// thread of the process (Linux `membarrier`, private expedited). Together they order a
// reader's store before its later load as a locked instruction would, without the reader
// paying for one on every connect.
//
// Define DUALCRED_NO_MEMBARRIER to never use it; `available()` then says false and
// callers keep their locked instruction.

#include <atomic>

#if defined(__linux__) && !defined(DUALCRED_NO_MEMBARRIER)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#define DUALCRED_DETAIL_MEMBARRIER 1
#endif

namespace dualcred::detail {

struct asymmetric_fence {
  // Whether `heavy()` works in this process (Linux 4.14 or later, and not refused by a
  // seccomp filter). Asked once per process; registers the process on first use.
  [[nodiscard]] static bool available() noexcept {
    static const bool ok = register_process();
    return ok;
  }

  // The reader's side: keeps the compiler from moving memory accesses across it.
  static void light() noexcept { std::atomic_signal_fence(std::memory_order_seq_cst); }

  // The writer's side: on return, every thread of the process has passed a full barrier.
  // False if the call failed; then nothing is ordered and the caller must not rely on it.
  [[nodiscard]] static bool heavy() noexcept {
#ifdef DUALCRED_DETAIL_MEMBARRIER
    return membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0;
#else
    return false;
#endif
  }

 private:
  static bool register_process() noexcept {
#ifdef DUALCRED_DETAIL_MEMBARRIER
    const long supported = membarrier(MEMBARRIER_CMD_QUERY);
    if (supported < 0 || (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
    return membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
#else
    return false;
#endif
  }

#ifdef DUALCRED_DETAIL_MEMBARRIER
  // glibc has no wrapper for it.
  static long membarrier(int command) noexcept {
    return ::syscall(SYS_membarrier, command, 0, 0);
  }
#endif
};

}  // namespace dualcred::detail
