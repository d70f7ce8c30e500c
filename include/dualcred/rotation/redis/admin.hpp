#pragma once

// The Redis password admin, over hiredis: link with hiredis (the `dualcred-hiredis`
// dependency). Every node of a deployment (replicas, Sentinel-managed groups, clusters).

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include "../../backend/hiredis.hpp"
#include "../../backend/hiredis_sentinel.hpp"
#include "../../detail/redact.hpp"
#include "../../detail/secure_zero.hpp"
#include "../../error.hpp"
#include "../../secret.hpp"
#include "detail/sha256.hpp"
#include "sessions.hpp"
#include "topology.hpp"

namespace dualcred::rotation::redis {

struct admin_options {
  /// Persist each change on every node: `ACL SAVE` where an `aclfile` is set, else `CONFIG
  /// REWRITE` (users from the config file). A node with neither fails the step before any
  /// change: it would forget the new password on restart.
  bool acl_save = false;
  /// Which nodes: by default the admin's node and its replication group.
  redis::topology topology{};
  /// Hosts a discovered node may be on besides those the operator named in `topology` (and
  /// the admin's own host): `--redis-allow`. A node discovery finds outside them stops the
  /// step before anything is sent to it or changed anywhere (see `discover_nodes`). Empty by
  /// default: only named hosts.
  allow_list allow{};
  /// One line per node changed or checked (the tool prints them). No secret in any line.
  std::function<void(std::string_view)> on_node;
  /// How long a replica whose `masterauth` followed may take to report
  /// `master_link_status:up`.
  std::chrono::milliseconds link_wait{10'000};
};

/// Rotates one Redis ACL user's password on every node of a deployment: `accept` adds it
/// beside the others, `revoke` removes it, so during a rotation the user accepts both
/// CURRENT and NEXT. NEXT is the same user. Passwords go as their SHA-256 (`ACL SETUSER user
/// #<sha256>` to add, `!<sha256>` to remove), so the plaintext never crosses the admin's
/// connection for the ACL and no byte of a password can be read as another rule.
///
/// ACL users are not replicated, so each step finds the nodes afresh (`topology`: a
/// failover may have moved the primary), checks every node first (admin login, the user
/// exists, persistence possible), then changes each and verifies it there: `accept` logs in
/// with the new password on that node, `revoke` sees it refused. Any node unreachable
/// (`backend_unavailable`) or refusing (`permission_denied`, `not_found`, ...) fails the step,
/// naming the node; running the step again finishes it (each change is idempotent).
///
/// Replication follows: a node whose `masteruser` is the rotated user (or, for `default`,
/// one with a `masterauth` and no `masteruser`) gets `CONFIG SET masterauth` to the accepted
/// password once every node accepts it, and each replica must then report
/// `master_link_status:up`; `revoke` refuses to remove the password a node's `masterauth`
/// still holds. Sentinels that log in to the primary as the rotated user (seen as
/// `name=sentinel-*` connections in the primary's `CLIENT LIST`) get `SENTINEL SET <master>
/// auth-pass`.
///
/// The admin logs in with its own credential (`admin`) on every node; it needs `+acl`,
/// `+info`, `+config` (masterauth, persistence), `+client|list`, and `+cluster|nodes` for a
/// cluster. The user must exist already on every node, with its permissions: the admin only
/// changes passwords, and refuses to create a user (`errc::not_found`). Error details are
/// redacted of the password Redis may echo.
class acl_admin {
 public:
  acl_admin(dualcred::redis::params server, credential admin, admin_options opts = {})
      : server_(std::move(server)), admin_(std::move(admin)), opts_(std::move(opts)) {}

  [[nodiscard]] result<std::string> next_user(const std::string& current_user) const {
    return current_user.empty() ? std::string("default") : current_user;
  }

  [[nodiscard]] result<void> accept(const credential& cred) const { return change(cred, '#'); }

  [[nodiscard]] result<void> revoke(const credential& cred) const { return change(cred, '!'); }

  /// On every node: a new connection as `cred`, then `PING`.
  [[nodiscard]] result<void> verify(const credential& cred) const {
    DUALCRED_TRY(found, nodes());
    for (const auto& n : found.nodes) {
      DUALCRED_TRY(log_in(n, cred));
    }
    return boost::outcome_v2::success();
  }

  [[nodiscard]] std::string describe() const {
    if (last_nodes_.empty()) return fmt::format("Redis {}:{} (ACL)", server_.host, server_.port);
    std::string list;
    for (const auto& n : last_nodes_) list += fmt::format("{}{}", list.empty() ? "" : ", ", n);
    return fmt::format("Redis ACL on {} node{} ({})", last_nodes_.size(),
                       last_nodes_.size() == 1 ? "" : "s", list);
  }

  /// Before a step: every node found, reachable and letting the admin in (and able to keep
  /// the change, with `acl_save`), so a tool can refuse before it writes its store.
  [[nodiscard]] result<deployment> check() const {
    DUALCRED_TRY(found, nodes());
    DUALCRED_TRY(prepare(found, std::string()));
    return found;
  }

  /// The user's connections, on every node the steps change, that may still be logged in
  /// with the password decommission removed (`detail::client_filter_for` says which).
  [[nodiscard]] result<session_survey> old_sessions(const drain_request& req) const {
    DUALCRED_TRY(found, nodes());
    return detail::redis_old_sessions(found, server_, admin_, req, false);
  }
  /// `CLIENT KILL ID` for each of `old_sessions` (the admin needs `+client|kill`).
  [[nodiscard]] result<session_survey> end_old_sessions(const drain_request& req) const {
    DUALCRED_TRY(found, nodes());
    return detail::redis_old_sessions(found, server_, admin_, req, true);
  }

  /// The nodes the next step would change, discovered now.
  [[nodiscard]] result<deployment> nodes() const {
    DUALCRED_TRY(found, discover_nodes(opts_.topology, server_, admin_, opts_.allow));
    last_nodes_.clear();
    for (const auto& n : found.nodes) last_nodes_.push_back(n.name());
    return found;
  }

 private:
  struct node_session {
    redis::node node;
    dualcred::redis::connection conn;
    std::string persist;  // "ACL SAVE", "CONFIG REWRITE" or empty
    bool has_config_file = false;
  };

  static std::string where(const node& n) { return fmt::format("Redis {}", n.name()); }

  void progress(const std::string& line) const {
    if (opts_.on_node) opts_.on_node(line);
  }

  result<void> log_in(const node& n, const credential& cred) const {
    dualcred::redis::connector c(detail::redis_params_at(n.at, server_));
    DUALCRED_TRY(conn, c(cred));
    DUALCRED_TRY(dualcred::redis::command(conn, {"PING"}, where(n)));
    return boost::outcome_v2::success();
  }

  // Each node's admin session, the user's presence and persistence checked before any change.
  result<std::vector<node_session>> prepare(const deployment& d, const std::string& user) const {
    std::vector<node_session> out;
    for (const auto& n : d.nodes) {
      node_session s{n, {}, {}, false};
      DUALCRED_TRY(conn, detail::redis_login(n.at, server_, admin_));
      s.conn = std::move(conn);
      if (s.node.role.empty()) {
        DUALCRED_TRY(info, detail::redis_info(s.conn, n.at, "replication"));
        s.node.role = detail::info_field(info, "role") == "slave" ? "replica" : "primary";
      }
      DUALCRED_TRY(found,
                   dualcred::redis::command(
                       s.conn, {"ACL", "GETUSER", user.empty() ? "default" : user}, where(s.node)));
      if (!user.empty() && found->type == REDIS_REPLY_NIL)
        return fail(errc::not_found,
                    fmt::format("{}: there is no ACL user '{}'; create it with its permissions "
                                "first (ACL users are per node)",
                                where(s.node), user));
      if (opts_.acl_save) {
        DUALCRED_TRY(aclfile, config_get(s, "aclfile"));
        DUALCRED_TRY(server, detail::redis_info(s.conn, n.at, "server"));
        s.has_config_file = !detail::info_field(server, "config_file").empty();
        if (!aclfile.empty())
          s.persist = "ACL SAVE";
        else if (s.has_config_file)
          s.persist = "CONFIG REWRITE";
        else
          return fail(errc::invalid_argument,
                      fmt::format("{}: neither an aclfile nor a config file, so it would forget "
                                  "the change on restart (admin_options::acl_save asks to keep it)",
                                  where(s.node)));
      }
      out.push_back(std::move(s));
    }
    return out;
  }

  result<std::string> config_get(node_session& s, std::string_view name) const {
    DUALCRED_TRY(r, dualcred::redis::command(s.conn, {"CONFIG", "GET", name}, where(s.node)));
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2)
      return dualcred::redis::reply_text(r->element[1]);
    // A map (RESP3) is not asked for; anything else means the setting does not exist.
    return std::string();
  }

  result<void> persist(node_session& s, std::string_view what) const {
    if (s.persist.empty()) return boost::outcome_v2::success();
    if (s.persist == "ACL SAVE") {
      DUALCRED_TRY(dualcred::redis::command(s.conn, {"ACL", "SAVE"}, where(s.node)));
    } else {
      DUALCRED_TRY(dualcred::redis::command(s.conn, {"CONFIG", "REWRITE"}, where(s.node)));
    }
    progress(fmt::format("{}: {} saved with {}", where(s.node), what, s.persist));
    return boost::outcome_v2::success();
  }

  // Whether this node logs in to its primary as `user`, and with which password now.
  result<bool> replicates_as(node_session& s, const std::string& user, std::string& auth) const {
    DUALCRED_TRY(masteruser, config_get(s, "masteruser"));
    DUALCRED_TRY(masterauth, config_get(s, "masterauth"));
    auth = std::move(masterauth);
    if (auth.empty()) return false;
    return masteruser == user || (masteruser.empty() && user == "default");
  }

  result<void> change(const credential& cred, char op) const {
    const std::string& user = cred.user.empty() ? default_user() : cred.user;
    if (cred.password.empty())
      return fail(errc::invalid_argument,
                  fmt::format("{}: an empty password for '{}'", describe(), user));
    DUALCRED_TRY(found, nodes());
    DUALCRED_TRY(sessions, prepare(found, user));
    const std::string_view pw = cred.password.reveal();

    // A replica still authenticating to its primary with this password would lose its link.
    if (op == '!') {
      for (auto& s : sessions) {
        std::string auth;
        auto uses = replicates_as(s, user, auth);
        const bool same = uses && uses.value() && auth == pw;
        dualcred::detail::secure_zero(auth.data(), auth.size());
        if (!uses) return std::move(uses).as_failure();
        if (same)
          return fail(errc::permission_denied,
                      fmt::format("{}: its masterauth still holds the password to revoke for "
                                  "'{}', so replication would break; apply the new one first",
                                  where(s.node), user));
      }
    }

    // The hash is a verifier: scrubbed below, and redacted from Redis's echo of the rule.
    std::string rule;
    rule.reserve(65);  // one allocation, no stray copy
    rule.push_back(op);
    {
      std::string hash = detail::sha256_hex(pw);
      rule.append(hash);
      dualcred::detail::secure_zero(hash.data(), hash.size());
    }
    const std::string_view hide = std::string_view(rule).substr(1);
    result<void> done = boost::outcome_v2::success();
    for (auto& s : sessions) {
      auto set =
          dualcred::redis::command(s.conn, {"ACL", "SETUSER", user, rule}, where(s.node), hide);
      // Removing a password that is already gone is what revoke wants.
      if (!set && !(op == '!' && set.error().detail.find("does not exist") != std::string::npos)) {
        done = std::move(set).as_failure();
        break;
      }
      if (auto saved = persist(s, fmt::format("ACL user '{}'", user)); !saved) {
        done = std::move(saved).as_failure();
        break;
      }
    }
    dualcred::detail::secure_zero(rule.data(), rule.size());
    if (!done) return done;

    // Checked on each node with a fresh login, as a client would.
    for (const auto& s : sessions) {
      auto in = log_in(s.node, cred);
      if (op == '#') {
        if (!in) return std::move(in).as_failure();
        progress(fmt::format("{}: accepts the new password for '{}' (verified by AUTH)",
                             where(s.node), user));
      } else {
        if (in)
          return fail(
              errc::backend_unavailable,
              fmt::format("{}: still accepts the revoked password for '{}'", where(s.node), user));
        if (!in.error().is(errc::auth_rejected)) return std::move(in).as_failure();
        progress(fmt::format("{}: no longer accepts the old password for '{}' (AUTH refused)",
                             where(s.node), user));
      }
    }
    if (op == '#') {
      DUALCRED_TRY(follow_masterauth(sessions, user, pw));
      DUALCRED_TRY(follow_sentinels(found, sessions, user, pw));
    }
    return boost::outcome_v2::success();
  }

  // Every node accepts `pw` now: nodes that replicate as `user` switch to it.
  result<void> follow_masterauth(std::vector<node_session>& sessions, const std::string& user,
                                 std::string_view pw) const {
    for (auto& s : sessions) {
      std::string auth;
      auto uses = replicates_as(s, user, auth);
      const bool already = uses && auth == pw;
      dualcred::detail::secure_zero(auth.data(), auth.size());
      if (!uses) return std::move(uses).as_failure();
      if (!uses.value()) continue;
      if (!already) {
        DUALCRED_TRY(dualcred::redis::command(s.conn, {"CONFIG", "SET", "masterauth", pw},
                                              where(s.node), pw));
        if (opts_.acl_save) {
          if (!s.has_config_file)
            return fail(errc::invalid_argument,
                        fmt::format("{}: masterauth changed but there is no config file to keep "
                                    "it across a restart",
                                    where(s.node)));
          DUALCRED_TRY(dualcred::redis::command(s.conn, {"CONFIG", "REWRITE"}, where(s.node)));
        }
      }
      if (s.node.role != "replica") {
        progress(fmt::format("{}: masterauth follows '{}' (for when it is a replica)",
                             where(s.node), user));
        continue;
      }
      // The link of a replica whose masterauth changed is not dropped; it must still be up.
      const auto until = std::chrono::steady_clock::now() + opts_.link_wait;
      std::string status;
      for (;;) {
        DUALCRED_TRY(info, detail::redis_info(s.conn, s.node.at, "replication"));
        status = detail::info_field(info, "master_link_status");
        if (status == "up" || std::chrono::steady_clock::now() >= until) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (status != "up")
        return fail(errc::backend_unavailable,
                    fmt::format("{}: master_link_status is '{}' after masterauth followed '{}'",
                                where(s.node), status, user));
      progress(
          fmt::format("{}: masterauth follows '{}', master_link_status:up", where(s.node), user));
    }
    return boost::outcome_v2::success();
  }

  // Sentinels logged in to the primary as `user` get its new password as their auth-pass.
  result<void> follow_sentinels(const deployment& d, std::vector<node_session>& sessions,
                                const std::string& user, std::string_view pw) const {
    if (opts_.topology.how != discovery::sentinel) return boost::outcome_v2::success();
    // Only named Sentinels get a login or auth-pass: a listed one may be forged.
    for (const auto& at : d.unnamed_sentinels)
      progress(
          fmt::format("Sentinel {}:{}: listed by SENTINEL SENTINELS but not named "
                      "(--redis-sentinel): ignored, sent nothing",
                      replies::printable(at.host), at.port));
    if (d.sentinels.empty()) return boost::outcome_v2::success();
    bool used = false;
    for (auto& s : sessions) {
      if (s.node.role != "primary") continue;
      DUALCRED_TRY(list, dualcred::redis::command(s.conn, {"CLIENT", "LIST"}, where(s.node)));
      const std::string text = dualcred::redis::reply_text(list.get());
      std::size_t at = 0;
      while (!used && at < text.size()) {
        const std::size_t eol = std::min(text.find('\n', at), text.size());
        const std::string_view line(text.data() + at, eol - at);
        used = line.find(" name=sentinel-") != std::string_view::npos &&
               line.find(fmt::format(" user={} ", user)) != std::string_view::npos;
        at = eol + 1;
      }
    }
    if (!used) return boost::outcome_v2::success();
    const dualcred::redis::sentinel_params& sp = opts_.topology.sentinel;
    for (const auto& at : d.sentinels) {
      const std::string w = fmt::format("Sentinel {}:{}", at.host, at.port);
      dualcred::redis::connector c(dualcred::redis::detail::params_for(
          at, sp.timeout.count() ? sp.timeout : server_.timeout));
      auto conn = sp.sentinel_auth ? c(*sp.sentinel_auth) : c.open();
      if (!conn) return std::move(conn).as_failure();
      DUALCRED_TRY(dualcred::redis::command(
          conn.value(), {"SENTINEL", "SET", sp.master_name, "auth-pass", pw}, w, pw));
      progress(fmt::format("{}: auth-pass for '{}' follows '{}'", w, sp.master_name, user));
    }
    return boost::outcome_v2::success();
  }

  static const std::string& default_user() {
    static const std::string name = "default";
    return name;
  }

  dualcred::redis::params server_;
  credential admin_;
  admin_options opts_;
  // The nodes the last step found, for describe(); the rotator runs one step at a time.
  mutable std::vector<std::string> last_nodes_;
};

}  // namespace dualcred::rotation::redis
