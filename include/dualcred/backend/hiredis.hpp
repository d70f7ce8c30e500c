#pragma once

// The Redis connector, over hiredis (0.14 and later). Link with hiredis (the
// `dualcred-hiredis` dependency).

#include <cerrno>
#include <chrono>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <sys/time.h>

#include "../detail/redact.hpp"
#include "../error.hpp"
#include "../secret.hpp"

namespace dualcred::redis {

/// Where to connect. The user and password come from each `credential`.
struct params {
  std::string host = "127.0.0.1";
  int port = 6379;
  /// Bounds the TCP connect and then each reply. Zero: no limit.
  std::chrono::milliseconds timeout{5'000};
  int db = 0;  ///< `SELECT`ed after `AUTH` when not 0
};

/// What an error reply means. `WRONGPASS`, `NOAUTH` and `ERR invalid password` (Redis 5)
/// refuse the credential. Sending a password to a server that has none configured is a
/// configuration error, not a refusal: another password would not help.
[[nodiscard]] inline errc classify_reply_error(std::string_view reply) noexcept {
  if (reply.starts_with("WRONGPASS") || reply.starts_with("NOAUTH") ||
      reply.starts_with("ERR invalid password"))
    return errc::auth_rejected;
  if (reply.starts_with("ERR AUTH <password> called without any password configured") ||
      reply.starts_with("ERR Client sent AUTH, but no password is set") ||
      reply.starts_with("ERR DB index is out of range") ||
      reply.starts_with("ERR invalid DB index"))
    return errc::invalid_argument;
  if (reply.starts_with("NOPERM")) return errc::permission_denied;
  return errc::backend_unavailable;
}

/// Owns a `redisContext*`; frees it on destruction. Move-only.
class connection {
 public:
  connection() noexcept = default;
  explicit connection(redisContext* c) noexcept : ctx_(c) {}
  connection(connection&& o) noexcept : ctx_(std::exchange(o.ctx_, nullptr)) {}
  connection& operator=(connection&& o) noexcept {
    if (this != &o) {
      reset();
      ctx_ = std::exchange(o.ctx_, nullptr);
    }
    return *this;
  }
  ~connection() { reset(); }

  [[nodiscard]] redisContext* get() const noexcept { return ctx_; }
  /// Gives up ownership; the caller must `redisFree` it.
  [[nodiscard]] redisContext* release() noexcept { return std::exchange(ctx_, nullptr); }
  explicit operator bool() const noexcept { return ctx_ != nullptr; }
  void reset() noexcept {
    if (ctx_ != nullptr) redisFree(std::exchange(ctx_, nullptr));
  }

 private:
  redisContext* ctx_ = nullptr;
};

/// Logs in to Redis: a `two_phase_connector`, so dual_credential retries a refused password
/// on the same TCP connection. `open()` connects; `authenticate()` sends `AUTH user pass`
/// (`AUTH pass` for the `default` user or an empty one), then `SELECT db`. `c(cred)` does
/// both, for use as a plain connector. Commands go argv-style, so any byte is fine in a
/// password. Stateless after construction: safe to call from many threads.
class connector {
 public:
  explicit connector(params p) : p_(std::move(p)) {}

  [[nodiscard]] result<connection> open() const {
    const auto start = std::chrono::steady_clock::now();
    errno = 0;
    redisContext* raw = p_.timeout.count() > 0
                            ? redisConnectWithTimeout(p_.host.c_str(), p_.port, to_timeval())
                            : redisConnect(p_.host.c_str(), p_.port);
    const int saved_errno = errno;
    if (raw == nullptr) return fail(errc::backend_unavailable, where("hiredis is out of memory"));
    connection conn(raw);
    if (raw->err != 0) {
      const bool timed_out = is_timeout(saved_errno) || past_deadline(start);
      return fail(timed_out ? errc::timeout : errc::backend_unavailable,
                  where(fmt::format("connect failed: {}", raw->errstr)));
    }
    if (p_.timeout.count() > 0 && redisSetTimeout(raw, to_timeval()) != REDIS_OK)
      return fail(errc::backend_unavailable, where("cannot set the socket timeout"));
    return conn;
  }

  [[nodiscard]] result<void> authenticate(connection& conn, const credential& cred) const {
    if (!conn) return fail(errc::invalid_argument, where("authenticate on a closed connection"));
    const bool default_user = cred.user.empty() || cred.user == "default";
    if (!cred.password.empty()) {
      const std::string_view pw = cred.password.reveal();
      if (default_user) {
        const char* argv[] = {"AUTH", pw.data()};
        const std::size_t lens[] = {4, pw.size()};
        DUALCRED_TRY(run(conn, "AUTH", cred, 2, argv, lens));
      } else {
        const char* argv[] = {"AUTH", cred.user.data(), pw.data()};
        const std::size_t lens[] = {4, cred.user.size(), pw.size()};
        DUALCRED_TRY(run(conn, "AUTH", cred, 3, argv, lens));
      }
    }
    if (p_.db != 0) {
      const std::string db = std::to_string(p_.db);
      const char* argv[] = {"SELECT", db.data()};
      const std::size_t lens[] = {6, db.size()};
      return run(conn, "SELECT", cred, 2, argv, lens);
    }
    if (cred.password.empty()) {
      // Nothing was sent yet: check that this user may talk to the server at all.
      const char* argv[] = {"PING"};
      const std::size_t lens[] = {4};
      return run(conn, "PING", cred, 1, argv, lens);
    }
    return boost::outcome_v2::success();
  }

  /// `open()` then `authenticate()`: one new connection per credential.
  [[nodiscard]] result<connection> operator()(const credential& cred) const {
    DUALCRED_TRY(conn, open());
    DUALCRED_TRY(authenticate(conn, cred));
    return std::move(conn);
  }

  [[nodiscard]] const params& config() const noexcept { return p_; }

 private:
  timeval to_timeval() const noexcept {
    const auto ms = p_.timeout.count();
    return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  }
  static bool is_timeout(int e) noexcept {
    return e == EAGAIN || e == EWOULDBLOCK || e == ETIMEDOUT || e == EINPROGRESS;
  }
  bool past_deadline(std::chrono::steady_clock::time_point start) const noexcept {
    return p_.timeout.count() > 0 && std::chrono::steady_clock::now() - start >= p_.timeout;
  }
  std::string where(std::string_view why) const {
    return fmt::format("Redis {}:{}: {}", p_.host, p_.port, why);
  }

  // Sends one command and turns an error reply or an I/O failure into an error.
  result<void> run(connection& conn, std::string_view name, const credential& cred, int argc,
                   const char** argv, const std::size_t* lens) const {
    const auto start = std::chrono::steady_clock::now();
    errno = 0;
    std::unique_ptr<redisReply, void (*)(void*)> reply(
        static_cast<redisReply*>(redisCommandArgv(conn.get(), argc, argv, lens)), freeReplyObject);
    const int saved_errno = errno;
    const std::string_view user =
        cred.user.empty() ? std::string_view("default") : std::string_view(cred.user);
    if (!reply) {
      redisContext* c = conn.get();
      const bool timed_out =
          (c->err == REDIS_ERR_IO && is_timeout(saved_errno)) || past_deadline(start);
      if (timed_out)
        return fail(errc::timeout, where(fmt::format("no reply to {} as '{}' within {} ms", name,
                                                     user, p_.timeout.count())));
      return fail(errc::backend_unavailable,
                  dualcred::detail::redact(
                      where(fmt::format("{} as '{}' failed: {}", name, user, c->errstr)),
                      cred.password.reveal()));
    }
    if (reply->type != REDIS_REPLY_ERROR) return boost::outcome_v2::success();
    const std::string_view text(reply->str, reply->len);
    return fail(
        classify_reply_error(text),
        dualcred::detail::redact(where(fmt::format("{} as '{}' refused: {}", name, user, text)),
                                 cred.password.reveal()));
  }

  params p_;
};

/// An owned hiredis reply.
using reply_ptr = std::unique_ptr<redisReply, void (*)(void*)>;

/// Sends one command argv-style (any byte is fine). No reply is `backend_unavailable`; an
/// error reply is classified by `classify_reply_error`. `where` starts each error's detail
/// (a node's name), which names the command and its first argument only; `hide` is redacted
/// from Redis's echo. For the admin, topology discovery and the Sentinel connector.
[[nodiscard]] inline result<reply_ptr> command(connection& conn,
                                               std::span<const std::string_view> args,
                                               std::string_view where, std::string_view hide = {}) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  const std::string name = args.empty()       ? std::string()
                           : args.size() == 1 ? std::string(args[0])
                                              : fmt::format("{} {}", args[0], args[1]);
  if (!conn)
    return fail(errc::invalid_argument, fmt::format("{}: {} on a closed connection", where, name));
  reply_ptr reply(static_cast<redisReply*>(redisCommandArgv(
                      conn.get(), static_cast<int>(argv.size()), argv.data(), lens.data())),
                  freeReplyObject);
  if (!reply)
    return fail(errc::backend_unavailable,
                fmt::format("{}: {} failed: {}", where, name, conn.get()->errstr));
  if (reply->type == REDIS_REPLY_ERROR) {
    const std::string_view text(reply->str, reply->len);
    return fail(
        classify_reply_error(text),
        dualcred::detail::redact(fmt::format("{}: {} refused: {}", where, name, text), hide));
  }
  return reply;
}

[[nodiscard]] inline result<reply_ptr> command(connection& conn,
                                               std::initializer_list<std::string_view> args,
                                               std::string_view where, std::string_view hide = {}) {
  return command(conn, std::span<const std::string_view>(args.begin(), args.size()), where, hide);
}

/// A reply's text: a status, string or error as is, an integer in decimal, else empty.
[[nodiscard]] inline std::string reply_text(const redisReply* r) {
  if (r == nullptr) return {};
  if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
  if (r->str != nullptr) return std::string(r->str, r->len);
  return {};
}

}  // namespace dualcred::redis
