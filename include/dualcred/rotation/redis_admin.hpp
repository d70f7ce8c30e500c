#pragma once

// The Redis password admin, over hiredis: link with hiredis (the `dualcred-hiredis`
// dependency).

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include "../backend/hiredis.hpp"
#include "../detail/redact.hpp"
#include "../detail/secure_zero.hpp"
#include "../error.hpp"
#include "../secret.hpp"
#include "detail/sha256.hpp"

namespace dualcred::rotation {

struct redis_admin_options {
  /// `ACL SAVE` after each change, for servers with an `aclfile` (else a restart forgets the
  /// new password). Off by default: a server without an aclfile refuses ACL SAVE.
  bool acl_save = false;
};

/// Rotates one Redis ACL user's password: `accept` adds it beside the others, `revoke`
/// removes it, so during a rotation the user accepts both CURRENT and NEXT. NEXT is the same
/// user. Passwords go as their SHA-256 (`ACL SETUSER user #<sha256>` to add, `!<sha256>` to
/// remove), so the plaintext never crosses the admin's connection and no byte of a password
/// (a leading `>` or `<`, a space, a quote) can be read as another rule.
///
/// The admin logs in with its own credential (`admin`), which needs `+acl` (or
/// `+acl|setuser +acl|getuser`). The user must exist already, with its permissions: the
/// admin only changes passwords, and refuses to create a user (`errc::not_found`). Commands
/// go argv-style; error details are redacted of the password Redis may echo.
class redis_acl_admin {
 public:
  redis_acl_admin(redis::params server, credential admin, redis_admin_options opts = {})
      : server_(std::move(server)), admin_(std::move(admin)), opts_(opts) {}

  [[nodiscard]] result<std::string> next_user(const std::string& current_user) const {
    return current_user.empty() ? std::string("default") : current_user;
  }

  [[nodiscard]] result<void> accept(const credential& cred) const { return change(cred, '#'); }

  [[nodiscard]] result<void> revoke(const credential& cred) const { return change(cred, '!'); }

  /// A new connection as `cred`, then `PING`.
  [[nodiscard]] result<void> verify(const credential& cred) const {
    redis::connector connect(server_);
    DUALCRED_TRY(conn, connect(cred));
    DUALCRED_TRY(command(conn, {"PING"}, {}));
    return boost::outcome_v2::success();
  }

  [[nodiscard]] std::string describe() const {
    return fmt::format("Redis {}:{} (ACL)", server_.host, server_.port);
  }

 private:
  using reply_ptr = std::unique_ptr<redisReply, void (*)(void*)>;

  result<redis::connection> login() const {
    redis::connector connect(server_);
    auto conn = connect(admin_);
    if (!conn) {
      error e = conn.error();
      e.detail = fmt::format("admin login: {}", e.detail);
      return boost::outcome_v2::failure(std::move(e));
    }
    return conn;
  }

  // One command; an error reply becomes an error whose detail has `hide` redacted.
  result<reply_ptr> command(redis::connection& conn, std::initializer_list<std::string_view> args,
                            std::string_view hide) const {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    reply_ptr reply(static_cast<redisReply*>(redisCommandArgv(
                        conn.get(), static_cast<int>(argv.size()), argv.data(), lens.data())),
                    freeReplyObject);
    const std::string name = fmt::format("{}{}{}", *args.begin(), args.size() > 1 ? " " : "",
                                         args.size() > 1 ? *(args.begin() + 1) : "");
    if (!reply)
      return fail(errc::backend_unavailable,
                  fmt::format("{}: {} failed: {}", describe(), name, conn.get()->errstr));
    if (reply->type == REDIS_REPLY_ERROR) {
      const std::string_view text(reply->str, reply->len);
      const errc code = text.starts_with("NOPERM") ? errc::permission_denied
                        : text.starts_with("NOAUTH") || text.starts_with("WRONGPASS")
                            ? errc::auth_rejected
                            : errc::backend_unavailable;
      return fail(code, dualcred::detail::redact(
                            fmt::format("{}: {} refused: {}", describe(), name, text), hide));
    }
    return reply;
  }

  result<void> change(const credential& cred, char op) const {
    const std::string& user = cred.user.empty() ? default_user() : cred.user;
    if (cred.password.empty())
      return fail(errc::invalid_argument,
                  fmt::format("{}: an empty password for '{}'", describe(), user));
    DUALCRED_TRY(conn, login());
    DUALCRED_TRY(found, command(conn, {"ACL", "GETUSER", user}, {}));
    if (found->type == REDIS_REPLY_NIL)
      return fail(errc::not_found,
                  fmt::format("{}: there is no ACL user '{}'; create it with its permissions "
                              "first",
                              describe(), user));
    // The hash is a verifier: scrubbed below, and redacted from Redis's echo of the rule.
    std::string rule;
    rule.reserve(65);  // one allocation, no stray copy
    rule.push_back(op);
    {
      std::string hash = detail::sha256_hex(cred.password.reveal());
      rule.append(hash);
      dualcred::detail::secure_zero(hash.data(), hash.size());
    }
    auto done = command(conn, {"ACL", "SETUSER", user, rule}, std::string_view(rule).substr(1));
    dualcred::detail::secure_zero(rule.data(), rule.size());
    if (!done) {
      // Removing a password that is already gone is what revoke wants.
      if (op == '!' && done.error().detail.find("does not exist") != std::string::npos)
        return boost::outcome_v2::success();
      return std::move(done).as_failure();
    }
    if (opts_.acl_save) {
      DUALCRED_TRY(command(conn, {"ACL", "SAVE"}, {}));
    }
    return boost::outcome_v2::success();
  }

  static const std::string& default_user() {
    static const std::string name = "default";
    return name;
  }

  redis::params server_;
  credential admin_;
  redis_admin_options opts_;
};

}  // namespace dualcred::rotation
