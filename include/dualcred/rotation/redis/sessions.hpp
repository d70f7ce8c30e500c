#pragma once

// The connections Redis still holds for a password decommission removed, on every node the
// admin changes: read from `CLIENT LIST`, ended with `CLIENT KILL ID`. Link with hiredis (the
// `dualcred-hiredis` dependency).

#include <hiredis/hiredis.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "../../backend/hiredis.hpp"
#include "../../error.hpp"
#include "../detail/decimal.hpp"
#include "../drain.hpp"
#include "replies.hpp"
#include "topology.hpp"

namespace dualcred::rotation::redis::detail {

// The value of `name=` in one `CLIENT LIST` line ("" when absent).
[[nodiscard]] inline std::string_view client_field(std::string_view line, std::string_view name) {
  for (std::size_t at = 0; at < line.size();) {
    const std::size_t end = std::min(line.find(' ', at), line.size());
    const std::string_view field = line.substr(at, end - at);
    if (field.size() > name.size() && field.starts_with(name) && field[name.size()] == '=')
      return field.substr(name.size() + 1);
    at = end + 1;
  }
  return {};
}

// How a request's connections are picked. A user other than CURRENT's lost its password:
// each of its connections logged in with it. A user CURRENT shares holds both passwords
// until the revoke, and Redis does not record which one a connection sent, so only its age
// tells: one opened before the promote most likely sent the old one.
struct client_filter {
  std::string user;
  std::optional<std::int64_t> opened_before;  // Unix seconds (the server's `TIME`)
  std::string basis, cannot_tell;
};

inline client_filter client_filter_for(const drain_request& req) {
  client_filter f{req.old.user.empty() ? std::string("default") : req.old.user, {}, {}, {}};
  if (req.old.user == req.current_user) {
    f.cannot_tell = fmt::format(
        "user '{}' keeps its connections when a password is removed, and Redis does not record "
        "which password a connection sent: those opened before the promote are counted, though "
        "some may use the new one, and one opened after it by a client that had not yet "
        "reloaded is not",
        f.user);
    if (req.promoted_at) f.opened_before = req.promoted_at->time_since_epoch().count();
  }
  f.basis = f.opened_before ? fmt::format("connections of user '{}' opened before the promote ({})",
                                          f.user, format_rfc3339(*req.promoted_at))
                            : fmt::format("connections of user '{}'", f.user);
  return f;
}

inline result<std::int64_t> reply_integer(dualcred::redis::connection& conn,
                                          std::initializer_list<std::string_view> cmd,
                                          const std::string& where) {
  DUALCRED_TRY(r, dualcred::redis::command(conn, cmd, where));
  if (r->type == REDIS_REPLY_INTEGER) return static_cast<std::int64_t>(r->integer);
  if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_STRING)
    if (const auto t = rotation::detail::parse_decimal<std::int64_t>(
            std::string_view(r->element[0]->str, r->element[0]->len)))
      return *t;  // TIME: seconds, microseconds
  return fail(errc::backend_unavailable, fmt::format("{}: unexpected reply", where));
}

// On one node: the connections `f` picks, but the admin's own and replication links (a
// replica logs in again with its masterauth, which accept already moved on); counted, or
// each ended by its id when `end`. Redis 7.0 (Debian 12) has no USER filter for CLIENT LIST,
// so the `user=` field is read.
inline result<std::size_t> old_clients_on(dualcred::redis::connection& conn,
                                          const std::string& where, const client_filter& f,
                                          bool end) {
  DUALCRED_TRY(own, reply_integer(conn, {"CLIENT", "ID"}, where));
  std::int64_t now = 0;
  if (f.opened_before) {
    DUALCRED_TRY(t, reply_integer(conn, {"TIME"}, where));
    now = t;
  }
  DUALCRED_TRY(list, dualcred::redis::command(conn, {"CLIENT", "LIST"}, where));
  const std::string text = dualcred::redis::reply_text(list.get());
  std::size_t n = 0;
  for (std::size_t at = 0; at < text.size();) {
    const std::string_view line = replies::next_line(text, at);
    const std::string_view id = client_field(line, "id"), flags = client_field(line, "flags");
    if (client_field(line, "user") != f.user || id == std::to_string(own) ||
        flags.find_first_of("SM") != std::string_view::npos)
      continue;
    // An age it cannot read counts the connection: better one too many than one missed.
    const auto age = rotation::detail::parse_decimal<std::int64_t>(client_field(line, "age"));
    if (f.opened_before && age && now - *age >= *f.opened_before) continue;
    if (end) {
      DUALCRED_TRY(killed, reply_integer(conn, {"CLIENT", "KILL", "ID", id}, where));
      if (killed == 0) continue;  // it ended meanwhile
    }
    ++n;
  }
  return n;
}

// Every node discovery finds (the allow list honoured), with the admin's login on each.
inline result<session_survey> redis_old_sessions(const deployment& d,
                                                 const dualcred::redis::params& seed,
                                                 const credential& admin, const drain_request& req,
                                                 bool end) {
  const client_filter f = client_filter_for(req);
  session_survey out{{}, f.basis, f.cannot_tell};
  for (const auto& n : d.nodes) {
    DUALCRED_TRY(conn, redis_login(n.at, seed, admin));
    DUALCRED_TRY(count, old_clients_on(conn, fmt::format("Redis {}", n.name()), f, end));
    out.nodes.push_back({fmt::format("{}:{}", n.at.host, n.at.port), count});
  }
  return out;
}

}  // namespace dualcred::rotation::redis::detail
