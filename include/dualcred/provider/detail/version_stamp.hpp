#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "../../secret.hpp"

namespace dualcred::provider::detail {

// Gives sources with no revision of their own (environment, plain files) a version that
// changes exactly when the credentials do. It counts changes rather than hashing values, so
// the version, which is shown in status JSON, reveals nothing about a password.
class version_stamp {
 public:
  version_stamp() : state_(std::make_unique<state>()) {}

  // Sets `set.version` to "N", N growing by one each time the credentials differ from the
  // previous call's.
  void stamp(credential_set& set) {
    std::lock_guard lock(state_->mutex);
    if (!state_->last || !state_->last->same_credentials(set)) {
      ++state_->changes;
      credential_set copy;
      copy.current = set.current;
      copy.next = set.next;
      state_->last = std::move(copy);
    }
    set.version = std::to_string(state_->changes);
  }

 private:
  struct state {
    std::mutex mutex;
    std::optional<credential_set> last;
    std::uint64_t changes = 0;
  };
  std::unique_ptr<state> state_;  // behind a pointer so providers stay movable
};

}  // namespace dualcred::provider::detail
