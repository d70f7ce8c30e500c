#pragma once

// Numbers every operation a rotation step makes on its store, its backend and its fleet, and
// fails the one asked for: a crash at any point of a step, reproducible by its number. One
// thread at a time.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <dualcred/error.hpp>

namespace dualcred::testing {

class fault_plan {
 public:
  /// Called by each double before it acts: the operation's number is the count so far.
  /// Returns the failure to report when this is the operation asked to fail.
  [[nodiscard]] result<void> step(std::string_view what) {
    ++count_;
    log_.emplace_back(what);
    const bool named = !fail_named_.empty() && what.starts_with(fail_named_);
    if (count_ != fail_at_ && !named) return boost::outcome_v2::success();
    fail_named_.clear();
    failed_ = std::string(what);
    return fail(errc::backend_unavailable, "scripted failure at " + failed_);
  }

  /// Fails the `n`th operation from now on (1 is the next); 0: none.
  void fail_at(std::size_t n) {
    fail_at_ = n == 0 ? 0 : count_ + n;
    failed_.clear();
  }
  /// Fails the next operation whose name starts with `prefix` ("admin.accept").
  void fail_next(std::string_view prefix) {
    fail_named_ = std::string(prefix);
    failed_.clear();
  }
  /// Operations since `reset_count`.
  [[nodiscard]] std::size_t count() const noexcept { return count_ - base_; }
  void reset_count() noexcept { base_ = count_; }
  /// What failed last (empty: nothing).
  [[nodiscard]] const std::string& failed() const noexcept { return failed_; }
  /// Every operation, in order ("store.write", "admin.accept app", ...): never a password.
  [[nodiscard]] const std::vector<std::string>& log() const noexcept { return log_; }

 private:
  std::size_t count_ = 0;
  std::size_t base_ = 0;
  std::size_t fail_at_ = 0;
  std::string fail_named_;
  std::string failed_;
  std::vector<std::string> log_;
};

}  // namespace dualcred::testing
