#pragma once

#include <chrono>

namespace dualcred {

/// How a dual_credential behaves. Every field has a safe default.
struct options {
  /// Keep trying NEXT first once it is the one that worked, so a rotation window costs one
  /// refused attempt per process instead of one per connect.
  bool sticky = true;
  /// Reloads caused by refusals are at least this far apart; a connect that comes sooner
  /// waits for the next reload instead of failing. Protects the secret store from a storm.
  std::chrono::milliseconds min_reload_interval{1000};
  /// When positive, the first connect after this much time re-reads the provider (one
  /// thread does, and waits for the load; the others go on with the cached set). Zero turns
  /// it off. A `refresh_schedule` or `background_refresher` (dualcred/refresher.hpp) takes
  /// the refresh off the connect path: while one is attached no connect loads on interval.
  std::chrono::milliseconds refresh_interval{0};
};

}  // namespace dualcred
