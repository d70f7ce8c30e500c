#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "concepts.hpp"
#include "credential_tag.hpp"
#include "detail/error_log.hpp"
#include "detail/published_sets.hpp"
#include "detail/refusals.hpp"
#include "detail/set_loader.hpp"
#include "detail/sharded_counters.hpp"
#include "error.hpp"
#include "options.hpp"
#include "policy.hpp"
#include "secret.hpp"
#include "status.hpp"

namespace dualcred {

/// Wraps a connect callable with the CURRENT/NEXT fallback.
///
/// \requires `Connector` models `connector` or `two_phase_connector`; `SecretProvider`
/// models `secret_provider`; `Policy` has `should_fall_back(const error&)` and
/// `on_event(const event&)` (derive from `default_policy`).
///
/// `connect()` may be called from any number of threads at once. The provider is only ever
/// read by one thread at a time. On the happy path a connect takes no lock, allocates
/// nothing, and writes only to its own thread's cache line.
///
/// **Example**
///
///     auto creds = dualcred::make_dual_credential(my_connect, dualcred::env_provider{});
///     if (!creds) return fail(creds.error().detail);
///     auto conn = creds.value().connect();
template <class Connector, class SecretProvider, class Policy = default_policy>
class dual_credential {
  static_assert(connector<Connector> || two_phase_connector<Connector>,
                "dualcred: the Connector must be callable as `c(const dualcred::credential&)` "
                "returning dualcred::result<Connection>, or have `open()` returning "
                "result<Connection> and `authenticate(Connection&, const credential&)` "
                "returning result<void>");
  static_assert(secret_provider<SecretProvider>,
                "dualcred: the SecretProvider must have `load()` returning "
                "dualcred::result<dualcred::credential_set>");
  static_assert(
      requires(Policy & p, const error& e, const event& ev) {
        { p.should_fall_back(e) } -> std::convertible_to<bool>;
        p.on_event(ev);
      },
      "dualcred: the Policy must have `should_fall_back(const error&)` and "
      "`on_event(const event&)`; derive it from dualcred::default_policy");

 public:
  using connector_type = Connector;
  using provider_type = SecretProvider;
  using policy_type = Policy;
  using connection_type = connection_t<Connector>;

  /// Loads nothing yet: the first `connect()` loads. Prefer `make_dual_credential`, which
  /// loads at once so a misconfigured service fails at start-up.
  dual_credential(Connector c, SecretProvider p, options o = {}, Policy policy = {})
      : s_(std::make_unique<state>(std::move(c), std::move(p), o, std::move(policy))) {}

  dual_credential(dual_credential&&) noexcept = default;
  dual_credential& operator=(dual_credential&&) noexcept = default;

  /// Connects with the preferred credential, falling back to the other only when the
  /// backend refuses it. When both are refused, the provider is reloaded once (shared with
  /// every other refused caller) and, if the set changed, both are tried again (as is any
  /// newer set published meanwhile, up to three); otherwise the result is
  /// `errc::all_rejected` naming each attempt's cause. Any error that is not a
  /// refusal is returned at once.
  [[nodiscard]] result<connection_type> connect() { return connect_impl<false>(nullptr); }

  /// `connect()`, and on success `tag` names the set and slot that logged in (left as it
  /// was on failure). Keep it beside the connection and ask `holds(tag)` later.
  [[nodiscard]] result<connection_type> connect(credential_tag& tag) {
    return connect_impl<true>(&tag);
  }

  /// The slot that holds the tag's credential in the set loaded last, or nothing: the
  /// connection is retired. Ask the dual_credential whose connect filled the tag in; a tag
  /// no connect filled in is held by no set. Takes no lock,
  /// allocates nothing and loads nothing: `connect()`, `reload()` and `refresh_if_due()` load.
  [[nodiscard]] std::optional<slot> slot_of(const credential_tag& tag) const noexcept {
    if (tag.generation == 0) return std::nullopt;
    state& st = *s_;
    const detail::shard_ref shard(st.shards);
    const auto guard = st.loader.read(shard);
    const detail::published_set* p = guard.get();
    if (p == nullptr) return std::nullopt;
    if (p->generation == tag.generation) return tag.which;  // the very set: same credentials
    if (detail::fingerprint_of(p->set.current) == tag.fingerprint) return slot::current;
    if (p->set.next && detail::fingerprint_of(*p->set.next) == tag.fingerprint) return slot::next;
    return std::nullopt;
  }

  /// Whether the tag's credential is still CURRENT or NEXT in the published set.
  [[nodiscard]] bool holds(const credential_tag& tag) const noexcept {
    return slot_of(tag).has_value();
  }

  /// Re-reads the provider when `options::refresh_interval` says it is due, as `connect()`
  /// does first: for callers that ask `holds()` more often than they connect (a pool).
  void refresh_if_due() {
    if (s_->opts.refresh_interval.count() > 0) s_->loader.refresh_if_due();
  }

 private:
  // connect()'s body; with `Tagged`, a success also fills in `*tag`.
  template <bool Tagged>
  result<connection_type> connect_impl(credential_tag* tag) {
    state& st = *s_;
    if (st.opts.refresh_interval.count() > 0) st.loader.refresh_if_due();
    // Loads started before this connect may have read the store before its refusal's cause.
    const std::uint64_t started = st.loader.loads_started();
    const detail::shard_ref shard(st.shards);
    detail::refusals why;
    std::optional<connection_type> open_conn;
    std::uint64_t tried = 0;
    bool exhausted = true;
    // One named result on every path: GCC elides its copy only then, and a result<T> holds
    // an `error` beside the T, so a copy on the happy path would move a string.
    result<connection_type> r = first_try<Tagged>(st, shard, open_conn, why, exhausted, tried, tag);
    if (exhausted) r = after_refusal<Tagged>(st, shard, started, tried, open_conn, why, tag);
    return r;
  }

 public:
  /// Reads the provider now. On failure the set in use stays as it was.
  result<void> reload() { return s_->loader.reload(); }

  /// Counters, the preferred slot, the version in use (and the oldest one a connect in
  /// flight may still hold) and the last error's code.
  [[nodiscard]] status snapshot() const {
    state& st = *s_;
    status out;
    out.connects_via_current = detail::sum(st.shards, &detail::shard::via_current);
    out.connects_via_next = detail::sum(st.shards, &detail::shard::via_next);
    out.fallbacks = detail::sum(st.shards, &detail::shard::fallbacks);
    out.all_rejected = detail::sum(st.shards, &detail::shard::all_rejected);
    const std::uint64_t connects = out.connects_via_current + out.connects_via_next;
    out.reloads = st.loader.reloads();
    out.reload_failures = st.loader.reload_failures();
    auto sets = st.loader.published();
    out.version = std::move(sets.version);
    out.oldest_version_in_use = std::move(sets.oldest_version);
    out.preferred = preferred_slot(st, sets.generation);
    const detail::error_log::entry last = st.errors.read();
    out.last_error = last.code;
    // Saturating: a connect that another thread is counting can make the sums lag the mark.
    out.connects_since_all_rejected =
        connects > last.connects_at_all_rejected ? connects - last.connects_at_all_rejected : 0;
    return out;
  }

  Connector& connector() noexcept { return s_->connector; }
  SecretProvider& provider() noexcept { return s_->loader.provider(); }
  Policy& policy() noexcept { return s_->policy; }
  [[nodiscard]] const options& config() const noexcept { return s_->opts; }

 private:
  // Everything a connect reads lives here, behind one pointer, so dual_credential moves.
  struct state {
    state(Connector c, SecretProvider p, options o, Policy pol)
        : connector(std::move(c)),
          policy(std::move(pol)),
          opts(o),
          loader(std::move(p), policy, errors, shards, opts) {}

    Connector connector;
    Policy policy;
    const options opts;
    detail::shard_array shards;
    // The slot that last worked, tagged with its set's generation (generation * 2 + slot),
    // so a slow connect finishing with an older set cannot steer the new one: a new set
    // starts from CURRENT, the order in which a single role's password moves.
    std::atomic<std::uint64_t> preferred{0};
    detail::error_log errors;
    // Loading and publishing; its header states the lock order of everything here.
    detail::set_loader<SecretProvider, Policy> loader;
  };

  // One attempt with one credential; a two-phase connector keeps its connection open
  // across refusals so the next credential costs no new connection.
  static result<connection_type> attempt(state& st, const credential& cred,
                                         std::optional<connection_type>& open_conn) {
    if constexpr (two_phase_connector<Connector>) {
      if (!open_conn) {
        auto opened = st.connector.open();
        if (!opened) return std::move(opened).as_failure();
        open_conn.emplace(std::move(opened).value());
      }
      auto authed = st.connector.authenticate(*open_conn, cred);
      if (!authed) {
        if (!st.policy.should_fall_back(authed.error())) open_conn.reset();
        return std::move(authed).as_failure();
      }
      connection_type conn = std::move(*open_conn);
      open_conn.reset();
      return conn;
    } else {
      return st.connector(cred);
    }
  }

  // The set published now, tried; `exhausted` stays true when nothing is loaded yet.
  template <bool Tagged>
  static result<connection_type> first_try(state& st, const detail::shard_ref& shard,
                                           std::optional<connection_type>& open_conn,
                                           detail::refusals& why, bool& exhausted,
                                           std::uint64_t& tried, credential_tag* tag) {
    const auto guard = st.loader.read(shard);
    const detail::published_set* p = guard.get();
    if (p == nullptr) return boost::outcome_v2::failure(error(errc::provider_unavailable, {}));
    tried = p->generation;
    exhausted = false;
    return try_set<Tagged>(st, shard, *p, open_conn, why, exhausted, tag);
  }

  // Tries the preferred slot, then the other; `exhausted` says every slot was refused.
  // Every return names `r`, so the connector's result reaches the caller without a move
  // (with Outcome 2.1 a result<T> holds an `error` beside the T: moving it moves a string).
  // With `Tagged`, a success also fills in `*tag`; untagged connects compile without it.
  template <bool Tagged>
  static result<connection_type> try_set(state& st, const detail::shard_ref& shard,
                                         const detail::published_set& p,
                                         std::optional<connection_type>& open_conn,
                                         detail::refusals& why, bool& exhausted,
                                         credential_tag* tag) {
    const slot first =
        (st.opts.sticky && p.set.next) ? preferred_slot(st, p.generation) : slot::current;
    slot which = first;
    result<connection_type> r = attempt(st, *p.get(which), open_conn);
    for (;;) {
      if (r) {
        shard.add(which == slot::current ? shard.get().via_current : shard.get().via_next);
        if (which != first) on_fell_back(st, shard, which, p);
        if constexpr (Tagged) *tag = {p.generation, which, detail::fingerprint_of(*p.get(which))};
        return r;
      }
      if (!st.policy.should_fall_back(r.error())) {
        st.errors.note(r.error().code);
        return r;
      }
      st.policy.on_event(
          {event_kind::refused, which, r.error().code, r.error().detail, p.set.version});
      st.errors.note(r.error().code);
      why.add(which, std::move(r).error());  // r is ignored when exhausted, else replaced
      const credential* cred = which == first ? p.get(other(first)) : nullptr;
      if (cred == nullptr) {
        exhausted = true;
        return r;
      }
      which = other(first);
      r = attempt(st, *cred, open_conn);
    }
  }

  // `state::preferred`'s value for `used` having worked with the set of this generation.
  static std::uint64_t preference_tag(std::uint64_t generation, slot used) noexcept {
    return generation * 2 + (used == slot::next ? 1 : 0);
  }

  // NEXT only while it is the slot that last worked for this very set (generation 0: none).
  static slot preferred_slot(const state& st, std::uint64_t generation) noexcept {
    return st.preferred.load(std::memory_order_relaxed) == preference_tag(generation, slot::next)
               ? slot::next
               : slot::current;
  }

  static void on_fell_back(state& st, const detail::shard_ref& shard, slot used,
                           const detail::published_set& p) {
    shard.add(shard.get().fallbacks);
    // Only write the shared preference when it changes, so the window costs one write.
    const std::uint64_t tagged = preference_tag(p.generation, used);
    if (st.opts.sticky && st.preferred.load(std::memory_order_relaxed) != tagged)
      st.preferred.store(tagged, std::memory_order_relaxed);
    st.policy.on_event({event_kind::fell_back, used, {}, {}, p.set.version});
  }

  // Newer sets a refused connect tries before it gives up; bounds a connect against a store
  // that changes faster than the backend answers.
  static constexpr int max_sets_retried = 3;

  // Every slot refused (or nothing loaded yet): reload once, shared, then retry if the
  // credentials changed.
  template <bool Tagged>
  static result<connection_type> after_refusal(state& st, const detail::shard_ref& shard,
                                               std::uint64_t started, std::uint64_t tried,
                                               std::optional<connection_type>& open_conn,
                                               detail::refusals& why, credential_tag* tag) {
    std::optional<error> load_error = st.loader.shared_reload(started);
    // A slow login can outlast a whole rotation step, so a set that was new when the retry
    // began may be stale by its end. A set published meanwhile (by the periodic refresh or
    // another caller's reload) gets its own try, without another provider load.
    for (int retried = 0;; ++retried) {
      const auto guard = st.loader.read(shard);
      const detail::published_set* p = guard.get();
      if (p == nullptr) {
        // Nothing was ever loaded: the provider's own error is the most useful answer.
        return boost::outcome_v2::failure(
            load_error.value_or(error(errc::provider_unavailable, "no credential set loaded")));
      }
      if (p->generation == tried || retried == max_sets_retried) break;
      tried = p->generation;
      detail::refusals retry_why;
      bool exhausted = false;
      auto r = try_set<Tagged>(st, shard, *p, open_conn, retry_why, exhausted, tag);
      if (!exhausted) return r;
      why = std::move(retry_why);
    }
    shard.add(shard.get().all_rejected);
    std::string detail = why.describe(load_error);
    st.policy.on_event(
        {event_kind::all_refused, slot::current, make_error_code(errc::all_rejected), detail, {}});
    error e(errc::all_rejected, std::move(detail));
    const std::uint64_t connects = detail::sum(st.shards, &detail::shard::via_current) +
                                   detail::sum(st.shards, &detail::shard::via_next);
    st.errors.note_all_rejected(e.code, connects);
    return boost::outcome_v2::failure(std::move(e));
  }

  std::unique_ptr<state> s_;
};

/// Builds a dual_credential and loads the provider once, so bad configuration or an
/// unreachable store fails here, at start-up, rather than at the first connect.
template <class Connector, class SecretProvider, class Policy = default_policy>
[[nodiscard]] result<dual_credential<Connector, SecretProvider, Policy>> make_dual_credential(
    Connector c, SecretProvider p, options o = {}, Policy policy = {}) {
  dual_credential<Connector, SecretProvider, Policy> dc(std::move(c), std::move(p), o,
                                                        std::move(policy));
  auto loaded = dc.reload();
  if (!loaded) return std::move(loaded).as_failure();
  return dc;
}

}  // namespace dualcred
