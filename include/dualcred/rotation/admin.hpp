#pragma once

#include <concepts>
#include <string>

#include "../error.hpp"
#include "../secret.hpp"

namespace dualcred::rotation {

/// What a backend must do for a rotation.
///
/// \requires
/// - `a.next_user(current_user)` returns `result<std::string>`: whom NEXT logs in as (the
///   same user, or the other of two alternating roles).
/// - `a.accept(cred)` returns `result<void>`: from now on the backend accepts `cred`. Where a
///   user holds one password (a PostgreSQL role) it replaces the old one; where it holds
///   several (a Redis ACL user) it is added. Idempotent.
/// - `a.revoke(cred)` returns `result<void>`: the backend no longer accepts `cred`, unless
///   another accepted credential depends on it (a single role's password is replaced by the
///   next `accept`, so there this does nothing). Idempotent: revoking a password that is
///   gone succeeds.
/// - `a.verify(cred)` returns `result<void>`: a login with `cred` through the real connector.
/// - `a.describe()` names the backend and strategy for messages.
///
/// Errors: the admin's login refused is `auth_rejected`, a missing privilege
/// `permission_denied`, a missing user `not_found`, an unreachable backend
/// `backend_unavailable`. No detail holds a password or a verifier.
template <class A>
concept password_admin = requires(A& a, const A& ca, const credential& cred,
                                  const std::string& user) {
  { a.next_user(user) } -> std::same_as<result<std::string>>;
  { a.accept(cred) } -> std::same_as<result<void>>;
  { a.revoke(cred) } -> std::same_as<result<void>>;
  { a.verify(cred) } -> std::same_as<result<void>>;
  { ca.describe() } -> std::convertible_to<std::string>;
};

}  // namespace dualcred::rotation
