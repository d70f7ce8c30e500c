#pragma once

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include <libpq-fe.h>
#include <pqxx/basic_connection>
#include <pqxx/connectionpolicy>
#include <pqxx/except>

#include "../error.hpp"
#include "libpq.hpp"

namespace dualcred::libpqxx {

// Why this shape. libpqxx 6 opens a connection inside its connection policy
// (`do_startconnect`), and learns why a login failed only from the message text it throws
// (`pqxx::broken_connection`): no SQLSTATE reaches the caller. dualcred's libpq connector
// classifies a refusal by SQLSTATE (28P01/28000, or the caller's sqlstate_rules), which is
// what decides a fallback. So the login runs there, through `dual_credential`, and the policy
// below only adopts the `PGconn*` it opened. libpqxx constructs the policy itself, from the
// options string alone, so the handle travels beside the constructor call on the constructing
// thread (`detail::pending_opener`), never through the options (no password in them).

/// Opens a `PGconn*` (owned by the caller) or throws `pqxx::broken_connection`.
using opener = std::function<PGconn*()>;

namespace detail {
// Set only for the duration of one connection's construction, on that thread.
inline opener*& pending_opener() noexcept {
  thread_local opener* pending = nullptr;
  return pending;
}
}  // namespace detail

/// A libpqxx connection policy whose connections come from an `opener`: the first from the
/// login dualcred already made, and any reconnect libpqxx makes later (after the server
/// dropped the connection) through `dual_credential::connect()` again, so it too falls back.
class adopting_policy : public ::pqxx::connectionpolicy {
 public:
  explicit adopting_policy(const std::string& options)
      : ::pqxx::connectionpolicy(options),
        open_(detail::pending_opener() ? std::move(*detail::pending_opener()) : opener{}) {}

  handle do_startconnect(handle orig) override {
    // libpqxx reactivates a broken connection by starting it again with the dead handle.
    if (orig != nullptr && PQstatus(orig) == CONNECTION_OK) return orig;
    if (!open_)
      throw ::pqxx::broken_connection(
          "dualcred: this connection can only be made by dualcred::libpqxx::connect");
    handle fresh = open_();  // on a throw libpqxx still holds `orig`, and closes it itself
    if (orig != nullptr) PQfinish(orig);
    return fresh;
  }

 private:
  opener open_;
};

/// A `pqxx::connection` whose logins go through a `dual_credential`.
using connection = ::pqxx::basic_connection_base<adopting_policy>;

/// Connects through `creds` (a `dual_credential` whose connector is `dualcred::pg::connector`
/// or gives `dualcred::pg::connection`s): the same fallback and the same refusal
/// classification as the libpq adapter, then hands the open connection to libpqxx. A failed
/// login is the `dual_credential`'s error (`errc::all_rejected` naming each cause), never an
/// exception. `creds` must outlive the connection: libpqxx's reconnects log in through it.
template <class Creds>
[[nodiscard]] result<std::unique_ptr<connection>> connect(Creds& creds) {
  static_assert(std::is_same_v<typename Creds::connection_type, dualcred::pg::connection>,
                "dualcred::libpqxx::connect needs a dual_credential giving pg::connection");
  auto first = creds.connect();
  if (!first) return std::move(first).as_failure();
  // The first call adopts this login; later ones (reconnects) log in again. Shared so the
  // opener is copyable; if libpqxx throws before adopting it, its owner closes it.
  auto first_conn = std::make_shared<dualcred::pg::connection>(std::move(first).value());
  opener open = [&creds, first_conn]() -> PGconn* {
    if (*first_conn) return first_conn->release();
    auto again = creds.connect();
    if (!again) throw ::pqxx::broken_connection("dualcred: " + again.error().detail);
    return again.value().release();
  };
  struct handoff {
    explicit handoff(opener* o) noexcept { detail::pending_opener() = o; }
    handoff(const handoff&) = delete;
    handoff& operator=(const handoff&) = delete;
    ~handoff() { detail::pending_opener() = nullptr; }
  } h(&open);
  try {
    return std::make_unique<connection>();
  } catch (const std::exception& e) {
    return fail(errc::backend_unavailable, std::string("libpqxx: ") + e.what());
  }
}

}  // namespace dualcred::libpqxx
