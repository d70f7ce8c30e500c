#pragma once

// A `writable_store` in memory with the contract the file and Vault stores keep: check-and-set
// on the revision, all or nothing, values its providers would refuse refused at write. Copies
// share one store, so a rotator that owns its copy and the test see the same keys, and two
// rotators can race on it.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <fmt/format.h>

#include <dualcred/error.hpp>
#include <dualcred/provider/value_rules.hpp>
#include <dualcred/rotation/state.hpp>

#include "support/fault_plan.hpp"

namespace dualcred::testing {

class memory_store {
 public:
  /// An empty store (revision 0), its operations numbered by `plan` when one is given.
  explicit memory_store(std::shared_ptr<fault_plan> plan = nullptr)
      : s_(std::make_shared<shared>()) {
    s_->plan = std::move(plan);
  }

  [[nodiscard]] result<rotation::stored> read() {
    std::lock_guard lock(s_->mutex);
    if (s_->plan) {
      DUALCRED_TRY(s_->plan->step("store.read"));
    }
    return rotation::stored{s_->data, s_->revision};
  }

  [[nodiscard]] result<std::uint64_t> write(const secret_map& data, std::uint64_t expected) {
    std::lock_guard lock(s_->mutex);
    if (s_->plan) {
      DUALCRED_TRY(s_->plan->step("store.write"));
    }
    if (expected != s_->revision)
      return fail(errc::conflict,
                  fmt::format("memory store is at revision {}, not {}", s_->revision, expected));
    for (const auto& [key, value] : data)
      if (!provider::value_defect(value.reveal()).empty())
        return fail(errc::invalid_argument, fmt::format("{}: the value would be refused", key));
    s_->data = data;
    return ++s_->revision;
  }

  [[nodiscard]] std::string describe() const { return "memory store"; }

  /// Another store holding a copy of these keys at the same revision, numbered by `plan`.
  [[nodiscard]] memory_store copy(std::shared_ptr<fault_plan> plan) const {
    memory_store out(std::move(plan));
    std::lock_guard lock(s_->mutex);
    out.s_->data = s_->data;
    out.s_->revision = s_->revision;
    return out;
  }

  /// The keys as they are now, without counting as an operation.
  [[nodiscard]] rotation::stored peek() const {
    std::lock_guard lock(s_->mutex);
    return {s_->data, s_->revision};
  }

 private:
  struct shared {
    mutable std::mutex mutex;
    secret_map data;
    std::uint64_t revision = 0;
    std::shared_ptr<fault_plan> plan;
  };
  std::shared_ptr<shared> s_;
};

}  // namespace dualcred::testing
