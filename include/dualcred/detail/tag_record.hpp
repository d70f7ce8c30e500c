#pragma once

#include <cstdint>
#include <optional>

#include "../credential_tag.hpp"
#include "../error.hpp"
#include "../secret.hpp"
#include "published_sets.hpp"
#include "refusals.hpp"
#include "sharded_counters.hpp"

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

// dual_credential's tag API, kept apart from the untagged connect so that one's code stays
// as it is. The tagged connect takes connect_any's steps (the set published now, then the
// shared reload) and records the slot that worked in the tag.
template <class Credentials>
struct tag_api {
  using state = typename Credentials::state;
  using result_type = result<typename Credentials::connection_type>;

  [[gnu::noinline]] static result_type connect(state& st, credential_tag& tag) {
    if (st.refresh_on_connect.load(std::memory_order_relaxed)) st.loader.refresh_if_due();
    const shard_ref shard(st.shards);
    typename Credentials::template plan_type<tag_record> plan(st, shard, st.loader.loads_started(),
                                                              tag_record{&tag});
    typename Credentials::open_connection open_conn;
    published_sets::read_guard guard(st.loader.read(shard).hand_over());
    result_type r = boost::outcome_v2::failure(error{});
    Credentials::run(st, plan, plan.begin(guard.get()), guard, r, open_conn);
    return r;
  }

  // Reads the set loaded last; a tag no connect filled in is held by no set.
  static std::optional<slot> slot_of(state& st, const credential_tag& tag) noexcept {
    const shard_ref shard(st.shards);
    const auto guard = st.loader.read(shard);
    return slot_holding(guard.get(), tag);
  }

  // What connect() runs first; nothing while a refresher owns the periodic refresh.
  static void refresh_if_due(state& st) {
    if (st.refresh_on_connect.load(std::memory_order_relaxed)) st.loader.refresh_if_due();
  }
};

}  // namespace dualcred::detail
