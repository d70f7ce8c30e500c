#pragma once

// Counts heap allocations made by the calling thread. The counting replacement of the
// global operator new lives in alloc_count.cpp; link it into a benchmark to use this.

#include <cstdint>

namespace dualcred::bench {

/// Allocations (any form of operator new) made by this thread so far.
std::uint64_t allocations_on_this_thread() noexcept;

}  // namespace dualcred::bench
