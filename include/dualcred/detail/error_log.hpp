#pragma once

#include <cstdint>
#include <mutex>
#include <system_error>

namespace dualcred::detail {

// The most recent failure's code, and how many connects had succeeded when every credential
// was last refused, for status(). Its mutex is a leaf: nothing else is locked or called while
// it is held (see the lock order in set_loader.hpp).
class error_log {
 public:
  struct entry {
    std::error_code code;
    std::uint64_t connects_at_all_rejected = 0;
  };

  void note(std::error_code code) {
    std::lock_guard lock(mutex_);
    last_.code = code;
  }
  void note_all_rejected(std::error_code code, std::uint64_t successful_connects) {
    std::lock_guard lock(mutex_);
    last_ = {code, successful_connects};
  }
  [[nodiscard]] entry read() const {
    std::lock_guard lock(mutex_);
    return last_;
  }

 private:
  mutable std::mutex mutex_;
  entry last_;
};

}  // namespace dualcred::detail
