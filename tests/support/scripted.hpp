#pragma once

// Deterministic stand-ins for a backend, used to drive every branch of the fallback.
// They are test doubles for the *driver*; the integration tests use real servers.

#include <atomic>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <dualcred/dualcred.hpp>

namespace dualcred::testing {

struct fake_conn {
  std::string user;
  int id = 0;
};

// Accepts a set of passwords; records, in order, which password each attempt used.
class scripted_backend {
 public:
  void accept_only(std::set<std::string> passwords) {
    std::lock_guard lock(mutex_);
    accepted_ = std::move(passwords);
  }
  // The next `count` attempts fail with `e` instead of being judged.
  void fail_next(error e, int count = 1) {
    std::lock_guard lock(mutex_);
    failure_ = std::move(e);
    failures_left_ = count;
  }
  void fail_open(std::optional<error> e) {
    std::lock_guard lock(mutex_);
    open_failure_ = std::move(e);
  }

  result<void> judge(const credential& c) {
    std::lock_guard lock(mutex_);
    attempts_.emplace_back(c.password.reveal());
    if (failures_left_ > 0) {
      --failures_left_;
      return boost::outcome_v2::failure(*failure_);
    }
    if (accepted_.count(std::string(c.password.reveal())) == 0)
      return fail(errc::auth_rejected,
                  fmt::format("password authentication failed for {}", c.user));
    return boost::outcome_v2::success();
  }
  result<void> open() {
    opens_.fetch_add(1);
    std::lock_guard lock(mutex_);
    if (open_failure_) return boost::outcome_v2::failure(*open_failure_);
    return boost::outcome_v2::success();
  }

  std::vector<std::string> attempts() const {
    std::lock_guard lock(mutex_);
    return attempts_;
  }
  void clear_attempts() {
    std::lock_guard lock(mutex_);
    attempts_.clear();
  }
  int opens() const { return opens_.load(); }

 private:
  mutable std::mutex mutex_;
  std::set<std::string> accepted_;
  std::optional<error> failure_;
  int failures_left_ = 0;
  std::optional<error> open_failure_;
  std::vector<std::string> attempts_;
  std::atomic<int> opens_{0};
};

// A plain connector: one new "connection" per attempt.
struct scripted_connector {
  scripted_backend* backend;
  result<fake_conn> operator()(const credential& c) const {
    DUALCRED_TRY(backend->open());
    DUALCRED_TRY(backend->judge(c));
    return fake_conn{c.user, backend->opens()};
  }
};

// A two-phase connector: one open, then as many AUTHs as needed on it.
struct scripted_two_phase {
  scripted_backend* backend;
  result<fake_conn> open() const {
    DUALCRED_TRY(backend->open());
    return fake_conn{"", backend->opens()};
  }
  result<void> authenticate(fake_conn& conn, const credential& c) const {
    DUALCRED_TRY(backend->judge(c));
    conn.user = c.user;
    return boost::outcome_v2::success();
  }
};

// A provider whose answers the test scripts, counting loads.
class scripted_provider {
 public:
  struct script {
    std::mutex mutex;
    std::optional<credential_set> set;
    std::optional<error> failure;
    std::atomic<int> loads{0};

    // What the next load() answers, set while a load may be running.
    void publish(credential_set next_answer) {
      std::lock_guard lock(mutex);
      set = std::move(next_answer);
    }
    void fail_with(error next_failure) {
      std::lock_guard lock(mutex);
      failure = std::move(next_failure);
    }
  };
  explicit scripted_provider(std::shared_ptr<script> s) : s_(std::move(s)) {}

  result<credential_set> load() {
    s_->loads.fetch_add(1);
    std::lock_guard lock(s_->mutex);
    if (s_->failure) return boost::outcome_v2::failure(*s_->failure);
    credential_set copy;
    copy.current = s_->set->current;
    copy.next = s_->set->next;
    copy.version = s_->set->version;
    return copy;
  }

 private:
  std::shared_ptr<script> s_;
};

inline credential_set make_set(std::string current, std::optional<std::string> next,
                               std::string version = "", std::string user = "app") {
  credential_set s;
  s.current = credential{user, secret(current)};
  if (next) s.next = credential{user, secret(*next)};
  s.version = std::move(version);
  return s;
}

}  // namespace dualcred::testing
