#pragma once

// `rotator::init`: a backend's keys created in the store, once, consistently; keys already
// there are checked, never overwritten.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "../error.hpp"
#include "../secret.hpp"
#include "detail/rotator_core.hpp"
#include "failure.hpp"
#include "state.hpp"
#include "store.hpp"

namespace dualcred::rotation {

/// What `rotator::init` provisions with.
struct init_request {
  /// The login role or ACL user; empty: the store's user key, else the keys' default user.
  std::string user;
  /// The password the backend holds now for `user`: checked with a login, then stored.
  std::optional<secret> current;
  /// Without `current`: make CURRENT and apply it to the backend (then log in with it).
  bool generate = false;
  /// With `generate`: creates the user (and NEXT's, when the admin alternates two) before
  /// its password is set; called for each, it must succeed when the user exists.
  std::function<result<void>(const std::string& user)> create_user;
};

struct init_report {
  bool changed = false;  ///< false: consistent keys were there already
  std::uint64_t revision = 0;
  std::string summary;
};

namespace detail {

// Keys that contradict each other or the request: nothing is written. Not a store conflict:
// that is a lost check-and-set race, which running again fixes; this needs a person.
template <class Core>
auto init_conflict(Core& c, std::string why) {
  return c.failed(std::nullopt, failure_site::order,
                  error(errc::invalid_argument, std::move(why) + "; nothing written"),
                  condition::keys_conflict);
}

// Keys already there: consistent ones are success without a change, the rest a conflict.
template <class Core>
step_result<init_report> init_existing(Core& c, const init_request& req, const stored& raw,
                                       bool both) {
  const std::string source = c.store_.describe();
  const rotation_keys& k = c.keys_;
  if (!both) {
    const bool has_current = raw.data.contains(k.names.current);
    return init_conflict(
        c, fmt::format("{} holds {} but not {}: half the keys are there; complete or remove them",
                       source, has_current ? k.names.current : k.names.next,
                       has_current ? k.names.next : k.names.current));
  }
  auto parsed = parse_state(raw.data, k, source);
  if (!parsed) return c.failed(std::nullopt, failure_site::store, parsed.error());
  const rotation_state& st = parsed.value();
  if (!req.user.empty() && req.user != st.current.user)
    return init_conflict(c, fmt::format("{} in {} names '{}', not the user given", k.names.user,
                                        source, st.current.user));
  if (req.current && !(st.current.password == *req.current))
    return init_conflict(
        c, fmt::format("{} in {} differs from the CURRENT given", k.names.current, source));
  if (st.phase == phase::idle) {
    if (auto ok = c.admin_.verify(st.current); !ok) {
      if (is_auth_failure(ok.error()))
        return init_conflict(c, fmt::format("{} refuses {} of {} for '{}'", c.admin_.describe(),
                                            k.names.current, source, st.current.user));
      return c.failed(std::nullopt, failure_site::verify, ok.error());
    }
  }
  return init_report{false, raw.revision,
                     fmt::format("{} already holds {} and {} for '{}' (phase {}): nothing to do",
                                 source, k.names.current, k.names.next, st.current.user, st.phase)};
}

// The user of a new login: the one given, else the store's user key, else the default.
template <class Core>
step_result<std::string> init_user(Core& c, const init_request& req, const stored& raw) {
  const rotation_keys& k = c.keys_;
  const std::string source = c.store_.describe();
  std::string user = req.user;
  if (const auto it = raw.data.find(k.names.user); user.empty() && it != raw.data.end())
    user = std::string(it->second.reveal_public());
  else if (it != raw.data.end() && it->second.reveal_public() != user)
    return init_conflict(
        c, fmt::format("{} in {} names another user than the one given", k.names.user, source));
  if (user.empty()) user = k.names.default_user;
  if (user.empty())
    return c.out_of_order(
        std::nullopt, errc::invalid_argument,
        fmt::format("init needs the user ({} is not in {})", k.names.user, source));
  return user;
}

// CURRENT of a new login: the one given, checked with a login, or made and applied.
template <class Core>
step_result<void> init_current(Core& c, const init_request& req, rotation_state& st) {
  const std::string& user = st.current.user;
  if (req.current) {
    if (req.generate || static_cast<bool>(req.create_user))
      return c.out_of_order(std::nullopt, errc::invalid_argument,
                            "init takes a CURRENT or generates one, not both");
    st.current.password = secret(req.current->reveal());
    if (auto ok = c.admin_.verify(st.current); !ok) {
      if (is_auth_failure(ok.error()))
        return init_conflict(c, fmt::format("{} refuses the CURRENT given for '{}' (as {})",
                                            c.admin_.describe(), user, c.keys_.names.current));
      return c.failed(std::nullopt, failure_site::verify, ok.error());
    }
    return boost::outcome_v2::success();
  }
  if (!req.generate)
    return c.out_of_order(std::nullopt, errc::invalid_argument,
                          "init needs the present password (init_request::current) or "
                          "init_request::generate");
  DUALCRED_TRY(pw, c.generated(std::nullopt, st));
  st.current.password = std::move(pw);
  if (req.create_user) {
    DUALCRED_TRY(other, c.admin_step(std::nullopt, c.admin_.next_user(user)));
    DUALCRED_TRY(c.admin_step(std::nullopt, req.create_user(user)));
    if (other != user) {
      DUALCRED_TRY(c.admin_step(std::nullopt, req.create_user(other)));
    }
  }
  DUALCRED_TRY(c.renew_lock(std::nullopt));
  DUALCRED_TRY(c.admin_step(std::nullopt, c.admin_.accept(st.current)));
  if (auto ok = c.admin_.verify(st.current); !ok)
    return c.failed(std::nullopt, failure_site::verify, ok.error());
  return boost::outcome_v2::success();
}

template <class Core>
step_result<init_report> init_keys(Core& c, const init_request& req) {
  const rotation_keys& k = c.keys_;
  stored raw;
  if (auto read = c.store_.read()) {
    raw = std::move(read).value();
  } else if (!read.error().is(errc::not_found)) {
    return c.failed(std::nullopt, failure_site::store, read.error());
  }
  const std::string source = c.store_.describe();
  const auto has = [&](const std::string& key) { return !key.empty() && raw.data.contains(key); };
  const bool has_current = has(k.names.current), has_next = has(k.names.next);
  if (has_current || has_next) return init_existing(c, req, raw, has_current && has_next);
  for (const std::string* key : {&k.previous, &k.user_previous, &k.names.user_next, &k.phase})
    if (has(*key))
      return init_conflict(c, fmt::format("{} holds {} but neither {} nor {}", source, *key,
                                          k.names.current, k.names.next));

  // A new login: its user, CURRENT (given and checked, or made and applied), a fresh NEXT.
  rotation_state st;
  DUALCRED_TRY(user, init_user(c, req, raw));
  st.current.user = user;
  if (c.opts_.policy) st.policy = c.opts_.policy;
  DUALCRED_TRY(init_current(c, req, st));
  DUALCRED_TRY(next, c.fresh_next(std::nullopt, user, st));
  st.next = std::move(next);
  st.rotated_at = c.now();
  st.phase_since = st.rotated_at;
  store_state(raw.data, k, st);
  auto rev = c.store_.write(raw.data, raw.revision);
  if (!rev) {
    error e = rev.error();
    // Only this caller knows the backend already switched: init must generate CURRENT again.
    if (req.generate)
      e.detail += fmt::format(
          "; {} now holds a password that is in no store: init must generate CURRENT again",
          c.admin_.describe());
    return c.failed(std::nullopt, failure_site::store, e);
  }
  return init_report{true, rev.value(),
                     fmt::format("wrote {}, {} and {} for '{}' to {}", k.names.current,
                                 k.names.next, k.rotated_at, user, source)};
}

}  // namespace detail
}  // namespace dualcred::rotation
