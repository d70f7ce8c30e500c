#pragma once

// hiredis' async context on a Boost.Asio executor: the event adapter hiredis does not ship
// (it has libevent, libuv, ae and others) and `async_connection`, which owns the context.
// Needs hiredis 0.14 or later and Boost 1.81. `hiredis_asio.hpp` builds the connector on it.
//
// A context, its waits and the operations on it must run one at a time: use it from a
// single-threaded io_context or through a strand, and destroy it before its io_context.

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include "../detail/secure_zero.hpp"
#include "../error.hpp"

namespace dualcred::redis {

namespace detail {

// How one awaited hiredis event ended.
enum class outcome { pending, ok, error_reply, io_error };

// Where a hiredis callback leaves its outcome for the operation waiting on `timer`: the
// callback records it and cancels the timer, so the operation wakes as it would at its
// deadline and tells the two apart by `done()`. The timer is also where a cancellation slot
// attaches. Held by shared_ptr: by the operation, and by a callback's privdata until hiredis
// calls it (exactly once: with the reply, or with none when the context is freed).
struct waiter {
  explicit waiter(const boost::asio::any_io_executor& ex) : timer(ex) {}
  boost::asio::steady_timer timer;
  outcome result = outcome::pending;
  std::string text;  ///< the reply's text, or why the connection failed

  [[nodiscard]] bool done() const noexcept { return result != outcome::pending; }
  void finish(outcome o, std::string_view t) {
    if (done()) return;
    result = o;
    text.assign(t.data(), t.size());
    timer.cancel();
  }
  // Zero or negative: no deadline, only a callback or a cancellation wakes the operation.
  void arm(std::chrono::milliseconds timeout) {
    if (timeout.count() > 0)
      timer.expires_after(timeout);
    else
      timer.expires_at(boost::asio::steady_timer::time_point::max());
  }
};

// The glue between one redisAsyncContext and an executor. hiredis calls the ev hooks to say
// it wants to read or write; each becomes one readiness wait on a descriptor that does not
// own the socket (hiredis closes it). A wait is one-shot, as libevent's are in hiredis'
// own adapter: hiredis re-arms what it still wants after each event. Waits hold a
// shared_ptr to the link, so one that completes after hiredis freed the context finds
// `ac_ == nullptr` and does nothing; `cleanup` (hiredis freeing the context) cancels them
// and gives the socket back before hiredis closes it.
class asio_link : public std::enable_shared_from_this<asio_link> {
 public:
  asio_link(redisAsyncContext* ac, const boost::asio::any_io_executor& ex)
      : ac_(ac), executor_(ex), socket_(ex) {}
  asio_link(const asio_link&) = delete;
  asio_link& operator=(const asio_link&) = delete;
  ~asio_link() { (void)socket_.release(); }

  // Takes over the context's events; false when the descriptor cannot join the reactor.
  [[nodiscard]] bool attach() noexcept {
    boost::system::error_code ec;
    socket_.assign(ac_->c.fd, ec);
    if (ec) return false;
    ac_->ev.data = this;
    ac_->ev.addRead = [](void* p) { static_cast<asio_link*>(p)->want(false); };
    ac_->ev.delRead = [](void* p) { static_cast<asio_link*>(p)->read_.wanted = false; };
    ac_->ev.addWrite = [](void* p) { static_cast<asio_link*>(p)->want(true); };
    ac_->ev.delWrite = [](void* p) { static_cast<asio_link*>(p)->write_.wanted = false; };
    ac_->ev.cleanup = [](void* p) { static_cast<asio_link*>(p)->detach(); };
    ac_->data = this;
    redisAsyncSetConnectCallback(ac_, &asio_link::connected);
    // Writable means connected (or failed): hiredis learns which on the first event.
    want(false);
    want(true);
    return true;
  }

  [[nodiscard]] redisAsyncContext* context() const noexcept { return ac_; }
  [[nodiscard]] const boost::asio::any_io_executor& executor() const noexcept { return executor_; }
  // Frees the context: pending replies' callbacks run with no reply, then `cleanup`.
  void free() noexcept {
    if (ac_ != nullptr) redisAsyncFree(ac_);
  }
  // Whom the connect callback wakes, while an open waits for it.
  std::shared_ptr<waiter> connect_waiter;

  // Sends `cmd` (already formatted) and has `w` woken with its reply.
  [[nodiscard]] bool send(std::string_view cmd, const std::shared_ptr<waiter>& w) {
    if (ac_ == nullptr) return false;
    auto* hold = new (std::nothrow) std::shared_ptr<waiter>(w);
    if (hold == nullptr) return false;
    if (redisAsyncFormattedCommand(ac_, &asio_link::replied, hold, cmd.data(), cmd.size()) ==
        REDIS_OK)
      return true;
    delete hold;
    return false;
  }

 private:
  struct direction {
    bool wanted = false;   // hiredis asked for this event and has not withdrawn
    bool waiting = false;  // a wait is pending on the descriptor
  };

  void want(bool write) {
    direction& d = write ? write_ : read_;
    d.wanted = true;
    if (d.waiting || ac_ == nullptr) return;
    d.waiting = true;
    using base = boost::asio::posix::descriptor_base;
    socket_.async_wait(write ? base::wait_write : base::wait_read,
                       [self = shared_from_this(), write](const boost::system::error_code& ec) {
                         self->ready(write, ec);
                       });
  }

  void ready(bool write, const boost::system::error_code& ec) {
    direction& d = write ? write_ : read_;
    d.waiting = false;
    if (ec == boost::asio::error::operation_aborted || ac_ == nullptr || !d.wanted) return;
    d.wanted = false;
    // Either may free the context (an I/O error): `cleanup` then nulls ac_ before returning.
    if (write)
      redisAsyncHandleWrite(ac_);
    else
      redisAsyncHandleRead(ac_);
  }

  void detach() noexcept {
    ac_ = nullptr;
    read_.wanted = write_.wanted = false;
    // Leaves the reactor (pending waits complete as aborted) without closing the fd.
    (void)socket_.release();
  }

  static void connected(const redisAsyncContext* ac, int status) {
    auto* self = static_cast<asio_link*>(ac->data);
    if (self->connect_waiter == nullptr) return;
    // On failure hiredis frees the context right after this returns.
    if (status == REDIS_OK)
      self->connect_waiter->finish(outcome::ok, {});
    else
      self->connect_waiter->finish(outcome::io_error, ac->errstr);
  }

  static void replied(redisAsyncContext* ac, void* r, void* privdata) {
    const std::unique_ptr<std::shared_ptr<waiter>> hold(
        static_cast<std::shared_ptr<waiter>*>(privdata));
    const auto* reply = static_cast<const redisReply*>(r);
    waiter& w = **hold;
    if (reply == nullptr) {
      const std::string_view why = ac->err != 0 ? ac->errstr : "the connection was closed";
      w.finish(outcome::io_error, why);
    } else if (reply->type == REDIS_REPLY_ERROR) {
      w.finish(outcome::error_reply, std::string_view(reply->str, reply->len));
    } else if (reply->type == REDIS_REPLY_INTEGER) {
      w.finish(outcome::ok, std::to_string(reply->integer));
    } else {
      w.finish(outcome::ok, reply->str != nullptr ? std::string_view(reply->str, reply->len)
                                                  : std::string_view());
    }
  }

  redisAsyncContext* ac_;
  boost::asio::any_io_executor executor_;
  boost::asio::posix::stream_descriptor socket_;
  direction read_;
  direction write_;
};

// One command in the wire format, formatted by hiredis from argv (any byte is fine) into a
// buffer this object zeroes before freeing: a password lives here only until it is sent.
class formatted_command {
 public:
  formatted_command() noexcept = default;
  formatted_command(int argc, const char** argv, const std::size_t* lens) noexcept {
    const int n = redisFormatSdsCommandArgv(&cmd_, argc, argv, lens);
    len_ = n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  formatted_command(formatted_command&& o) noexcept
      : cmd_(std::exchange(o.cmd_, nullptr)), len_(std::exchange(o.len_, 0)) {}
  formatted_command& operator=(formatted_command&& o) noexcept {
    if (this != &o) {
      reset();
      cmd_ = std::exchange(o.cmd_, nullptr);
      len_ = std::exchange(o.len_, 0);
    }
    return *this;
  }
  ~formatted_command() { reset(); }

  [[nodiscard]] bool empty() const noexcept { return cmd_ == nullptr || len_ == 0; }
  [[nodiscard]] std::string_view view() const noexcept { return {cmd_, len_}; }
  void reset() noexcept {
    if (cmd_ == nullptr) return;
    dualcred::detail::secure_zero(cmd_, len_);
    redisFreeSdsCommand(std::exchange(cmd_, nullptr));
    len_ = 0;
  }

 private:
  char* cmd_ = nullptr;
  std::size_t len_ = 0;
};

}  // namespace detail

/// Owns a `redisAsyncContext` attached to an Asio executor. Move-only. Destroying or
/// `reset()`ting it frees the context at once, even mid-command: a pending operation on it
/// completes with `backend_unavailable` ("the connection was closed").
class async_connection {
 public:
  using executor_type = boost::asio::any_io_executor;

  async_connection() noexcept = default;
  async_connection(async_connection&& o) noexcept = default;
  async_connection& operator=(async_connection&& o) noexcept {
    if (this != &o) {
      reset();
      link_ = std::move(o.link_);
    }
    return *this;
  }
  ~async_connection() { reset(); }

  /// Takes `ac` (fresh from `redisAsyncConnect`, nothing attached) and drives it on `ex`.
  /// On failure `ac` is freed.
  [[nodiscard]] static result<async_connection> attach(redisAsyncContext* ac,
                                                       const executor_type& ex) {
    if (ac == nullptr) return fail(errc::backend_unavailable, "hiredis is out of memory");
    if (ac->ev.data != nullptr) {
      redisAsyncFree(ac);
      return fail(errc::invalid_argument, "the hiredis context already has an event loop");
    }
    async_connection conn;
    conn.link_ = std::make_shared<detail::asio_link>(ac, ex);
    if (!conn.link_->attach()) {
      conn.link_.reset();
      redisAsyncFree(ac);
      return fail(errc::backend_unavailable, "cannot watch the Redis socket");
    }
    return conn;
  }

  /// The context, or nullptr once freed (by `reset()` or by hiredis after an I/O error).
  [[nodiscard]] redisAsyncContext* get() const noexcept {
    return link_ != nullptr ? link_->context() : nullptr;
  }
  explicit operator bool() const noexcept { return get() != nullptr; }
  [[nodiscard]] executor_type get_executor() const { return link_->executor(); }

  /// Frees the context now (pending replies' callbacks run with no reply).
  void reset() noexcept {
    if (link_ != nullptr) std::exchange(link_, nullptr)->free();
  }
  /// Closes gracefully: hiredis sends nothing more, waits for the pending replies, then
  /// frees the context, after which this reads as closed.
  void disconnect() noexcept {
    if (auto* ac = get(); ac != nullptr) redisAsyncDisconnect(ac);
  }

  /// For operations on the connection: the glue shared with pending waits.
  [[nodiscard]] const std::shared_ptr<detail::asio_link>& link() const noexcept { return link_; }

 private:
  std::shared_ptr<detail::asio_link> link_;
};

}  // namespace dualcred::redis
