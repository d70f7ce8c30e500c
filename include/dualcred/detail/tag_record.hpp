#pragma once

#include <cstdint>
#include <optional>

#include "../credential_tag.hpp"
#include "../secret.hpp"
#include "published_sets.hpp"

namespace dualcred::detail {

// What a connect records of the login that worked. `connect()` records nothing (an empty
// argument, so its code is the same as without one); `connect(credential_tag&)` fills the tag.
struct no_record {
  void operator()(const published_set&, slot) const noexcept {}
};

struct tag_record {
  credential_tag* tag;
  void operator()(const published_set& p, slot which) const noexcept {
    *tag = {p.generation, which, fingerprint_of(*p.get(which))};
  }
};

// The slot of `p` that holds the tag's credential, or nothing (no set, or the credential
// left it). A tag no connect filled in (generation 0) is held by no set.
[[nodiscard]] inline std::optional<slot> slot_holding(const published_set* p,
                                                      const credential_tag& tag) noexcept {
  if (tag.generation == 0 || p == nullptr) return std::nullopt;
  if (p->generation == tag.generation) return tag.which;  // the very set: same credentials
  if (fingerprint_of(p->set.current) == tag.fingerprint) return slot::current;
  if (p->set.next && fingerprint_of(*p->set.next) == tag.fingerprint) return slot::next;
  return std::nullopt;
}

}  // namespace dualcred::detail
