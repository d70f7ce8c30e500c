#pragma once

#include <memory>
#include <mutex>
#include <utility>

#include "../error.hpp"
#include "../secret.hpp"

namespace dualcred {

/// Holds a credential set in memory: for tests, and for callers that fetch their secrets
/// themselves. `set` swaps the held set and is safe while other threads `load`.
/// A set given with an empty `version` is stamped "static-N", N counting the swaps.
class static_provider {
 public:
  explicit static_provider(credential_set set) : state_(std::make_unique<state>()) {
    this->set(std::move(set));
  }

  /// A copy of the held set.
  [[nodiscard]] result<credential_set> load() const {
    std::lock_guard lock(state_->mutex);
    credential_set copy;
    copy.current = state_->set.current;
    copy.next = state_->set.next;
    copy.version = state_->set.version;
    return copy;
  }

  /// Replaces the held set; the next `load` returns it.
  void set(credential_set next) {
    std::lock_guard lock(state_->mutex);
    ++state_->swaps;
    if (next.version.empty()) next.version = "static-" + std::to_string(state_->swaps);
    state_->set = std::move(next);
  }

 private:
  struct state {
    std::mutex mutex;
    credential_set set;
    std::uint64_t swaps = 0;
  };
  std::unique_ptr<state> state_;  // behind a pointer so the provider stays movable
};

}  // namespace dualcred
