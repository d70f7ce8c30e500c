// Plugging in your own driver and your own secret store: two small adapters, nothing else.
//
// `legacy_db` stands for any client library dualcred has never heard of. It reports failures
// with codes of its own; the adapter maps its "access denied" to errc::auth_rejected, which
// is all dualcred needs to know to fall back.
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <dualcred/dualcred.hpp>

// ---- a driver we do not control ---------------------------------------------------------
namespace legacy_db {
enum class code { ok, access_denied, host_unreachable };
struct handle {
  std::string user;
};
// Accepts one password per user; the "server" side of this example.
inline std::map<std::string, std::string>& accounts() {
  static std::map<std::string, std::string> a;
  return a;
}
inline code open(const char* user, const char* password, handle** out) {
  const auto it = accounts().find(user);
  if (it == accounts().end() || it->second != password) return code::access_denied;
  *out = new handle{user};
  return code::ok;
}
inline void close(handle* h) {
  delete h;
}
}  // namespace legacy_db

// ---- adapter 1: the driver as a dualcred connector --------------------------------------
struct legacy_connection {
  std::unique_ptr<legacy_db::handle, decltype(&legacy_db::close)> h{nullptr, &legacy_db::close};
};

struct legacy_connector {
  dualcred::result<legacy_connection> operator()(const dualcred::credential& c) const {
    // The driver wants NUL-terminated strings; a secret's c_str() is one, with no copy.
    legacy_db::handle* h = nullptr;
    switch (legacy_db::open(c.user.c_str(), c.password.c_str(), &h)) {
      case legacy_db::code::ok:
        return legacy_connection{{h, &legacy_db::close}};
      case legacy_db::code::access_denied:
        return dualcred::fail(dualcred::errc::auth_rejected,
                              fmt::format("legacy_db: access denied for user {}", c.user));
      case legacy_db::code::host_unreachable:
        break;
    }
    return dualcred::fail(dualcred::errc::backend_unavailable, "legacy_db: host unreachable");
  }
};

// ---- adapter 2: your secret store as a dualcred provider --------------------------------
// Any store with a revision number works the same way: return the set and its revision.
class config_service {
 public:
  void publish(std::string user, std::string current, std::string next) {
    std::lock_guard lock(mutex_);
    ++revision_;
    user_ = std::move(user);
    current_ = std::move(current);
    next_ = std::move(next);
  }
  dualcred::result<dualcred::credential_set> load() {
    std::lock_guard lock(mutex_);
    if (revision_ == 0) return dualcred::fail(dualcred::errc::not_found, "config_service: empty");
    dualcred::credential_set set;
    set.current = {user_, dualcred::secret(current_)};
    set.next = dualcred::credential{user_, dualcred::secret(next_)};
    set.version = std::to_string(revision_);
    return set;
  }

 private:
  std::mutex mutex_;
  std::uint64_t revision_ = 0;
  std::string user_, current_, next_;
};

// A store the application shares: the provider holds a reference to it.
struct config_service_provider {
  config_service* service;
  dualcred::result<dualcred::credential_set> load() { return service->load(); }
};

// ---- adapter 3 (optional): a policy that feeds your metrics ------------------------------
struct counting_policy : dualcred::default_policy {
  std::shared_ptr<std::atomic<int>> refusals = std::make_shared<std::atomic<int>>(0);
  void on_event(const dualcred::event& e) noexcept {
    if (e.kind == dualcred::event_kind::refused) refusals->fetch_add(1);
  }
};

int main() {
  config_service store;
  store.publish("app", "pw-one", "pw-two");
  legacy_db::accounts()["app"] = "pw-one";

  counting_policy policy;
  auto refusals = policy.refusals;
  dualcred::options opts;
  opts.min_reload_interval = std::chrono::milliseconds(10);
  auto made = dualcred::make_dual_credential(legacy_connector{}, config_service_provider{&store},
                                             opts, policy);
  if (!made) {
    std::fprintf(stderr, "start-up: %s\n", made.error().detail.c_str());
    return 1;
  }
  auto& db = made.value();

  int ok = 0;
  ok += db.connect() ? 1 : 0;                  // pw-one: CURRENT
  legacy_db::accounts()["app"] = "pw-two";     // the backend now takes NEXT
  ok += db.connect() ? 1 : 0;                  // falls back to NEXT
  store.publish("app", "pw-two", "pw-three");  // promoted in the store
  legacy_db::accounts()["app"] = "pw-three";   // ... and the backend moved on again
  ok += db.connect() ? 1 : 0;                  // both refused -> reload -> works

  fmt::print("connected {} of 3; refusals seen by the policy: {}\n", ok, refusals->load());
  fmt::print("status: {}\n", db.snapshot());
  return ok == 3 ? 0 : 1;
}
