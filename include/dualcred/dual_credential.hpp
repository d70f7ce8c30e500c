#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "concepts.hpp"
#include "detail/arguments.hpp"
#include "detail/connect_plan.hpp"
#include "detail/error_log.hpp"
#include "detail/published_sets.hpp"
#include "detail/refusals.hpp"
#include "detail/set_loader.hpp"
#include "detail/sharded_counters.hpp"
#include "detail/tag_record.hpp"
#include "error.hpp"
#include "options.hpp"
#include "policy.hpp"
#include "secret.hpp"
#include "status.hpp"

namespace dualcred {

namespace detail {
// async_connect()'s implementation, supplied by <dualcred/asio/connect.hpp> for each
// dual_credential: the core knows no I/O library, and only code that includes that header
// instantiates async_connect().
template <class Credentials>
struct async_connect_impl {
  static_assert(sizeof(Credentials) == 0,
                "dualcred: async_connect() needs #include <dualcred/asio/connect.hpp>");
};
}  // namespace detail

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
  static_assert(detail::check_dual_credential_arguments<Connector, SecretProvider, Policy>());

 public:
  using connector_type = Connector;
  using provider_type = SecretProvider;
  using policy_type = Policy;
  using connection_type = connection_t<Connector>;

  /// Loads nothing yet: the first `connect()` loads. Prefer `make_dual_credential`, which
  /// loads at once so a misconfigured service fails at start-up.
  dual_credential(Connector c, SecretProvider p, options o = {}, Policy policy = {})
      : s_(std::make_shared<state>(std::move(c), std::move(p), o, std::move(policy))) {}

  dual_credential(dual_credential&&) noexcept = default;
  dual_credential& operator=(dual_credential&&) noexcept = default;

  /// Connects with the preferred credential, falling back to the other only when the
  /// backend refuses it. When both are refused, the provider is reloaded once (shared with
  /// every other refused caller) and, if the set changed, both are tried again (as is any
  /// newer set published meanwhile, up to three); otherwise the result is
  /// `errc::all_rejected` naming each attempt's cause. Any error that is not a
  /// refusal is returned at once.
  [[nodiscard, gnu::always_inline]] inline result<connection_type> connect() {
    state& st = *s_;
    const std::size_t index = detail::this_thread_index();
    // The common case in line, the rest out of line: a thread on its own shard, light
    // readers, and no refresh on this connect.
    const bool owned = st.fast_connect.load(std::memory_order_relaxed) &&
                       index != detail::thread_index_registry::shared;
    // Both prvalues: the result is built in the caller's slot either way.
    return owned ? connect_owned(st, index) : connect_any(st, index);
  }

  /// `connect()` without blocking the caller's thread: Asio's completion-token model
  /// (`co_await creds.async_connect(boost::asio::use_awaitable)`, a callback, `use_future`),
  /// completing with `void(result<connection_type>)`, cancellable per operation. A `timeout`
  /// above zero ends it with `errc::timeout`. Needs <dualcred/asio/connect.hpp>, whose
  /// `dualcred::async_connect` also takes the executor provider loads run on.
  template <class Token>
  auto async_connect(Token&& token) {
    return detail::async_connect_impl<dual_credential>::start(s_, {}, std::forward<Token>(token));
  }
  template <class Token>
  auto async_connect(std::chrono::milliseconds timeout, Token&& token) {
    return detail::async_connect_impl<dual_credential>::start(s_, {timeout},
                                                              std::forward<Token>(token));
  }

  /// `connect()`; a success fills `tag` in with the set and slot that logged in (see `holds`).
  [[nodiscard]] result<connection_type> connect(credential_tag& tag) {
    return detail::tag_api<dual_credential>::connect(*s_, tag);
  }

  /// The slot now holding the tag's credential, or nothing (retired). No lock, no allocation.
  [[nodiscard]] std::optional<slot> slot_of(const credential_tag& tag) const noexcept {
    return detail::tag_api<dual_credential>::slot_of(*s_, tag);
  }

  /// Whether the tag's credential is still CURRENT or NEXT in the published set.
  [[nodiscard]] bool holds(const credential_tag& tag) const noexcept {
    return slot_of(tag).has_value();
  }

  /// connect()'s periodic refresh, for callers that ask `holds()` more often than they connect.
  void refresh_if_due() { detail::tag_api<dual_credential>::refresh_if_due(*s_); }

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
    out.preferred = detail::preferred_slot(st.preferred, sets.generation);
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
    // Whether a connect runs the periodic refresh itself: `opts.refresh_interval` is set
    // and no refresher owned by the user is attached (then no connect loads on interval).
    std::atomic<bool> refresh_on_connect{opts.refresh_interval.count() > 0};
    // Neither a refresh on connect nor locked reader marks: connect()'s in-line path applies.
    std::atomic<bool> fast_connect{!refresh_on_connect.load(std::memory_order_relaxed) &&
                                   loader.light_readers()};
    std::mutex refreshers_mutex;  // a leaf: guards `refreshers` and the flag's updates
    int refreshers = 0;
  };

  template <class>
  friend class refresh_schedule;
  template <class>
  friend struct detail::tag_api;
  template <class>
  friend struct detail::async_connect_impl;

  // connect()'s read section on the thread's own shard; ends it unless handed over.
  struct owned_guard {
    explicit owned_guard(detail::published_sets::section s) noexcept : held(s) {}
    owned_guard(const owned_guard&) = delete;
    owned_guard& operator=(const owned_guard&) = delete;
    ~owned_guard() {
      if (held.mark != nullptr) detail::published_sets::leave_owned(held);
    }
    detail::published_sets::section hand_over() noexcept {
      const auto out = held;
      held.mark = nullptr;
      return out;
    }
    detail::published_sets::section held;
  };

  // connect() on the thread's own shard, with light readers and no refresh due on connect.
  [[gnu::always_inline]] static result<connection_type> connect_owned(state& st,
                                                                      std::size_t index) {
    // Loads started before this connect may have read the store before its refusal's cause.
    const std::uint64_t started = st.loader.loads_started();
    const detail::shard_ref shard(st.shards, index);
    open_connection open_conn;
    owned_guard guard{st.loader.read_owned(shard)};
    const detail::published_set* p = guard.held.set;
    const slot first = p != nullptr ? first_slot(st, *p) : slot::current;
    // One named result on every path: GCC elides its copy only then, and a result<T> holds
    // an `error` beside the T, so a copy on the happy path would move a string.
    result<connection_type> r = p != nullptr ? attempt(st, *p->get(first), open_conn) : no_set();
    if (r) [[likely]] {
      auto& via = first == slot::current ? shard.get().via_current : shard.get().via_next;
      via.store(via.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    } else {
      not_connected(st, started, guard.hand_over(), first, r, open_conn);
    }
    return r;
  }

  // Every connect that connect()'s in-line path does not take: the shared shard, locked
  // reader marks, or a periodic refresh due on connect.
  [[gnu::noinline]] static result<connection_type> connect_any(state& st, std::size_t index) {
    if (st.refresh_on_connect.load(std::memory_order_relaxed)) st.loader.refresh_if_due();
    const std::uint64_t started = st.loader.loads_started();
    const detail::shard_ref shard(st.shards, index);
    open_connection open_conn;
    read_guard guard = st.loader.read(shard);
    const detail::published_set* p = guard.get();
    const slot first = p != nullptr ? first_slot(st, *p) : slot::current;
    result<connection_type> r = p != nullptr ? attempt(st, *p->get(first), open_conn) : no_set();
    if (r)
      shard.add(first == slot::current ? shard.get().via_current : shard.get().via_next);
    else
      not_connected(st, started, guard.hand_over(), first, r, open_conn);
    return r;
  }

  // What a two-phase connector keeps open across a refusal; nothing for a plain connector,
  // whose happy path then keeps no optional on the stack.
  struct no_open_connection {};
  using open_connection = std::conditional_t<two_phase_connector<Connector>,
                                             std::optional<connection_type>, no_open_connection>;
  using read_guard = detail::published_sets::read_guard;

  // One attempt with one credential; a two-phase connector keeps its connection open
  // across refusals so the next credential costs no new connection.
  static result<connection_type> attempt(state& st, const credential& cred,
                                         [[maybe_unused]] open_connection& open_conn) {
    static_assert(!async_only_connector<Connector>,
                  "dualcred: this Connector only connects asynchronously: use async_connect()");
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

  [[gnu::cold]] static result<connection_type> no_set() {
    return boost::outcome_v2::failure(error(errc::provider_unavailable, {}));
  }

  // The slot a set is tried with first.
  static slot first_slot(const state& st, const detail::published_set& p) noexcept {
    return detail::first_slot(st.opts.sticky, st.preferred, p);
  }

  template <class Record = detail::no_record>
  using plan_type = detail::connect_plan<state, connection_type, Record>;

  // The first attempt failed (or nothing is loaded yet: `held` holds no set): the plan
  // decides the rest. Leaves the outcome in `r`.
  [[gnu::noinline]] static void not_connected(state& st, std::uint64_t started,
                                              detail::published_sets::section held, slot first,
                                              result<connection_type>& r,
                                              open_connection& open_conn) {
    plan_type<> plan(st, held.shard, started);
    read_guard guard(held);
    run(st, plan, plan.after_first(held.set, first, r), guard, r, open_conn);
  }

  // Carries out the plan's steps, blocking, until it is done; `r` then holds the outcome.
  template <class Plan>
  static void run(state& st, Plan& plan, detail::next_step step, read_guard& guard,
                  result<connection_type>& r, open_connection& open_conn) {
    for (;;) {
      switch (step) {
        case detail::next_step::attempt:
          r = attempt(st, plan.credential_to_try(), open_conn);
          step = plan.attempted(r);
          break;
        case detail::next_step::reload:
          guard.release();  // the reload must not keep the refused set from being freed
          step = plan.reloaded(st.loader.shared_reload(plan.started()));
          break;
        case detail::next_step::read:
          guard.assign(st.loader.read(plan.shard()).hand_over());
          step = plan.read(guard.get(), r);
          break;
        case detail::next_step::done:
          return;
      }
    }
  }

  // Shared with async connects in flight, whose provider loads may outlast a cancelled
  // connect; connect() only ever dereferences it.
  std::shared_ptr<state> s_;
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
