#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/thread_pool.hpp>

namespace dualcred::detail {

// Where provider loads run when the caller names no executor: two threads the library owns,
// so a load (and the reload spacing it may wait out) never blocks a loop thread, and one
// dual_credential's slow store does not hold up another's.
inline boost::asio::thread_pool& library_reload_threads() {
  static boost::asio::thread_pool pool(2);
  return pool;
}

// One blocking call run on another executor, its value delivered on the caller's.
template <class Value, class Handler>
class off_loop_call {
 public:
  off_loop_call(Handler h, const boost::asio::any_io_executor& home)
      : handler_(std::move(h)),
        home_(boost::asio::get_associated_executor(*handler_, home)),
        // The caller's loop must not run out of work while the call runs elsewhere.
        tracked_(boost::asio::prefer(home, boost::asio::execution::outstanding_work.tracked)) {}

  // Delivers `v` unless the operation already completed (cancelled, or the call finished).
  static void finish(const std::shared_ptr<off_loop_call>& self, Value v) {
    std::optional<Handler> h;
    {
      std::lock_guard lock(self->mutex_);
      if (self->handler_) h.emplace(std::move(*self->handler_));
      self->handler_.reset();
    }
    if (!h) return;
    // Posted, never run in place: finish() may be running inside a cancellation handler.
    boost::asio::post(self->home_, [h = std::move(*h), v = std::move(v)]() mutable {
      std::move(h)(std::move(v));
    });
    std::lock_guard lock(self->mutex_);
    self->tracked_ = boost::asio::any_io_executor{};
  }

  std::optional<Handler>& handler() noexcept { return handler_; }

 private:
  std::mutex mutex_;
  std::optional<Handler> handler_;
  boost::asio::any_io_executor home_;
  boost::asio::any_io_executor tracked_;
};

// Runs `work()` (which may block) on `where` and completes with its value on the caller's
// executor `home`, signature `void(Value)`. A cancellation completes the operation at once
// with `Value{}`: the call itself runs on to its end (a provider load cannot be interrupted,
// and other connects may be sharing it) and its outcome is then only dropped, so a cancelled
// connect waits for no provider and leaves nothing half-done.
template <class Value, class Work, class Token>
auto async_off_loop(boost::asio::any_io_executor where, boost::asio::any_io_executor home,
                    Work work, Token&& token) {
  return boost::asio::async_initiate<Token, void(Value)>(
      [](auto handler, boost::asio::any_io_executor where, boost::asio::any_io_executor home,
         Work work) {
        using call = off_loop_call<Value, decltype(handler)>;
        auto slot = boost::asio::get_associated_cancellation_slot(handler);
        auto self = std::make_shared<call>(std::move(handler), home);
        if (slot.is_connected())
          slot.assign([self](boost::asio::cancellation_type) { call::finish(self, Value{}); });
        boost::asio::post(where,
                          [self, work = std::move(work)]() mutable { call::finish(self, work()); });
      },
      token, std::move(where), std::move(home), std::move(work));
}

}  // namespace dualcred::detail
