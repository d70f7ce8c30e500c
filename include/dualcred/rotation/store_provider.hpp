#pragma once

#include <memory>
#include <string>
#include <utility>

#include "../error.hpp"
#include "../secret.hpp"
#include "state.hpp"
#include "store.hpp"

namespace dualcred::rotation {

/// A `secret_provider` that reads one backend's login straight from a `writable_store`,
/// with the store's revision as the set's `version`: instances reading through it report
/// exactly the revision a fleet check waits for.
///
/// Holds the store by shared pointer, so the provider stays copyable and may share one
/// store with a rotator in tests and demos. Thread-safety is the store's.
template <class Store>
class store_provider {
  static_assert(writable_store<Store>, "dualcred: store_provider needs a writable_store");

 public:
  explicit store_provider(std::shared_ptr<Store> store,
                          rotation_keys keys = rotation_keys::for_prefix("DB"))
      : store_(std::move(store)), keys_(std::move(keys)) {}
  store_provider(Store store, rotation_keys keys = rotation_keys::for_prefix("DB"))
      : store_provider(std::make_shared<Store>(std::move(store)), std::move(keys)) {}

  [[nodiscard]] result<credential_set> load() {
    DUALCRED_TRY(raw, store_->read());
    DUALCRED_TRY(st, parse_state(raw.data, keys_, store_->describe()));
    credential_set set;
    set.current = std::move(st.current);
    set.next = std::move(st.next);
    set.version = std::to_string(raw.revision);
    return set;
  }

  [[nodiscard]] Store& store() noexcept { return *store_; }

 private:
  std::shared_ptr<Store> store_;
  rotation_keys keys_;
};

}  // namespace dualcred::rotation
