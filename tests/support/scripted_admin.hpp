#pragma once

// A `password_admin` over a backend kept in memory: which passwords each user's login
// accepts, as a PostgreSQL role (one password: accept replaces it, revoke leaves it) or a
// Redis ACL user (several: accept adds, revoke removes) holds them, with one user or two
// alternating. Every call goes through a `fault_plan`, so any of them can fail on demand.
// Copies share the backend.

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <dualcred/error.hpp>
#include <dualcred/secret.hpp>

#include "support/fault_plan.hpp"

namespace dualcred::testing {

class scripted_admin {
 public:
  enum class strategy { one_password, several_passwords };

  /// `users`: one user, or two that alternate (NEXT is the other one).
  scripted_admin(strategy how, std::vector<std::string> users, std::shared_ptr<fault_plan> plan)
      : b_(std::make_shared<backend>()) {
    b_->how = how;
    b_->users = std::move(users);
    b_->plan = std::move(plan);
  }

  [[nodiscard]] result<std::string> next_user(const std::string& current_user) {
    DUALCRED_TRY(b_->plan->step("admin.next_user " + current_user));
    const auto& u = b_->users;
    if (u.size() == 2) return current_user == u[0] ? u[1] : u[0];
    return u.at(0);
  }

  [[nodiscard]] result<void> accept(const credential& c) {
    DUALCRED_TRY(known(c.user));
    DUALCRED_TRY(b_->plan->step("admin.accept " + c.user));
    auto& held = b_->accepted[c.user];
    if (b_->how == strategy::one_password) held.clear();
    if (!holds(c)) held.push_back(c.password);
    return boost::outcome_v2::success();
  }

  [[nodiscard]] result<void> revoke(const credential& c) {
    DUALCRED_TRY(known(c.user));
    DUALCRED_TRY(b_->plan->step("admin.revoke " + c.user));
    if (b_->how == strategy::one_password) return boost::outcome_v2::success();
    auto& held = b_->accepted[c.user];
    held.erase(std::remove(held.begin(), held.end(), c.password), held.end());
    return boost::outcome_v2::success();
  }

  [[nodiscard]] result<void> verify(const credential& c) {
    DUALCRED_TRY(b_->plan->step("admin.verify " + c.user));
    if (!holds(c)) return fail(errc::auth_rejected, fmt::format("'{}' is refused", c.user));
    return boost::outcome_v2::success();
  }

  [[nodiscard]] std::string describe() const {
    return b_->how == strategy::one_password ? "scripted backend (one password per user)"
                                             : "scripted backend (several passwords per user)";
  }

  /// Another backend accepting what this one accepts, numbered by `plan`.
  [[nodiscard]] scripted_admin copy(std::shared_ptr<fault_plan> plan) const {
    scripted_admin out(b_->how, b_->users, std::move(plan));
    out.b_->accepted = b_->accepted;
    return out;
  }

  /// Whether a login with `c` works now (not an operation: nothing can fail it).
  [[nodiscard]] bool holds(const credential& c) const {
    const auto it = b_->accepted.find(c.user);
    if (it == b_->accepted.end()) return false;
    return std::find(it->second.begin(), it->second.end(), c.password) != it->second.end();
  }
  /// Every password any user accepts.
  [[nodiscard]] std::size_t accepted_count() const {
    std::size_t n = 0;
    for (const auto& [user, held] : b_->accepted) n += held.size();
    return n;
  }

 private:
  struct backend {
    strategy how = strategy::several_passwords;
    std::vector<std::string> users;
    std::map<std::string, std::vector<secret>> accepted;
    std::shared_ptr<fault_plan> plan;
  };

  result<void> known(const std::string& user) const {
    if (std::find(b_->users.begin(), b_->users.end(), user) == b_->users.end())
      return fail(errc::not_found, fmt::format("no user '{}'", user));
    return boost::outcome_v2::success();
  }

  std::shared_ptr<backend> b_;
};

}  // namespace dualcred::testing
