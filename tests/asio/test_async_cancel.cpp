#include <dualcred/asio/connect.hpp>
#include <dualcred/provider/static.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <doctest/doctest.h>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

#include "asio/async_scripted.hpp"

TEST_SUITE_BEGIN("async_cancel");

using namespace dualcred;
using namespace dualcred::testing;
namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

// A connection that counts how many of its kind are open, so a test sees a leaked one.
struct tracked_conn {
  std::shared_ptr<std::atomic<int>> live;
  explicit tracked_conn(std::shared_ptr<std::atomic<int>> l) : live(std::move(l)) { ++*live; }
  tracked_conn(tracked_conn&& o) noexcept : live(std::move(o.live)) {}
  tracked_conn& operator=(tracked_conn&& o) noexcept {
    if (live) --*live;
    live = std::move(o.live);
    return *this;
  }
  ~tracked_conn() {
    if (live) --*live;
  }
};

// Opens at once; refuses "cur" at once; a login with any other password never answers
// until it is cancelled (a server that accepted the connection and went quiet).
struct stalling_two_phase {
  net::any_io_executor ex;
  std::shared_ptr<std::atomic<int>> live = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<std::atomic<int>> stalled = std::make_shared<std::atomic<int>>(0);

  [[nodiscard]] net::any_io_executor get_executor() const { return ex; }
  template <class Token>
  auto async_open(Token&& token) {
    return complete_later<void(result<tracked_conn>)>(ex, std::forward<Token>(token), [this] {
      return result<tracked_conn>(tracked_conn(live));
    });
  }
  template <class Token>
  auto async_authenticate(tracked_conn&, const credential& c, Token&& token) {
    return net::async_initiate<Token, void(result<void>)>(
        [this](auto handler, bool refuse) {
          if (refuse) {
            auto home = net::get_associated_executor(handler, ex);
            net::post(home, [h = std::move(handler)]() mutable {
              std::move(h)(result<void>(fail(errc::auth_rejected, "password refused")));
            });
            return;
          }
          ++*stalled;
          auto timer = std::make_shared<net::steady_timer>(ex, std::chrono::hours(1));
          auto slot = net::get_associated_cancellation_slot(handler);
          timer->async_wait(net::bind_cancellation_slot(
              slot, [h = std::move(handler), timer](boost::system::error_code) mutable {
                std::move(h)(result<void>(fail(errc::backend_unavailable, "login cancelled")));
              }));
        },
        token, c.password.reveal() == "cur");
  }
};

// A provider whose loads after arm() wait until release(), so a reload is in flight for as
// long as the test likes.
struct gate {
  std::mutex m;
  std::condition_variable cv;
  bool armed = false, open = false;
  std::atomic<int> loads_finished{0};
  std::atomic<std::thread::id> load_thread{};
};
struct gated_provider {
  std::shared_ptr<gate> g;
  result<credential_set> load() {
    g->load_thread.store(std::this_thread::get_id());
    {
      std::unique_lock lock(g->m);
      if (g->armed) g->cv.wait(lock, [&] { return g->open; });
    }
    ++g->loads_finished;
    return make_set("cur", "nxt");
  }
};

options no_spacing() {
  options o;
  o.min_reload_interval = 0ms;
  return o;
}

// One `async_connect` (bounded by `timeout` when given) awaited in a coroutine on `io`, run
// until the loop is out of work; `then` runs on the loop as soon as the connect completes.
template <class Conn, class Creds>
std::optional<result<Conn>> await_connect(net::io_context& io, Creds& creds,
                                          std::optional<std::chrono::milliseconds> timeout,
                                          const std::function<void()>& then = {}) {
  std::optional<result<Conn>> got;
  io.restart();
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        if (timeout)
          got.emplace(co_await creds.async_connect(*timeout, net::use_awaitable));
        else
          got.emplace(co_await creds.async_connect(net::use_awaitable));
        if (then) then();
      },
      net::detached);
  io.run();
  return got;
}

}  // namespace

TEST_CASE("a timeout during the NEXT login ends it: errc::timeout, the connection closed") {
  net::io_context io;
  stalling_two_phase c{io.get_executor()};
  auto live = c.live;
  auto dc = make_dual_credential(c, static_provider(make_set("cur", "nxt")));
  REQUIRE(dc);
  const auto got = await_connect<tracked_conn>(io, dc.value(), 50ms);
  REQUIRE(got);
  REQUIRE_FALSE(*got);
  CHECK(got->error().is(errc::timeout));
  CHECK(*c.stalled == 1);
  CHECK(*live == 0);  // the connection opened for CURRENT and kept for NEXT is gone
  const status s = dc.value().snapshot();
  CHECK(s.connects_via_current + s.connects_via_next == 0);
  CHECK(s.all_rejected == 0);
}

TEST_CASE("cancelled through its slot during the NEXT login: operation_canceled, nothing open") {
  net::io_context io;
  stalling_two_phase c{io.get_executor()};
  auto live = c.live;
  auto dc = make_dual_credential(c, static_provider(make_set("cur", "nxt")));
  REQUIRE(dc);
  net::cancellation_signal cancel;
  std::optional<result<tracked_conn>> got;
  dc.value().async_connect(net::bind_cancellation_slot(
      cancel.slot(), [&](result<tracked_conn> r) { got.emplace(std::move(r)); }));
  net::steady_timer later(io, 20ms);
  later.async_wait(
      [&](boost::system::error_code) { cancel.emit(net::cancellation_type::terminal); });
  io.run();
  REQUIRE(got);
  REQUIRE_FALSE(*got);
  CHECK(got->error().code == std::errc::operation_canceled);
  CHECK(*live == 0);
}

TEST_CASE("a timeout during the reload: the connect ends at once, the load finishes off the loop") {
  net::io_context io;
  scripted_backend db;
  db.accept_only({});  // every slot refused: the connect reloads
  auto g = std::make_shared<gate>();
  auto dc = make_dual_credential(async_scripted_connector{&db, io.get_executor()},
                                 gated_provider{g}, no_spacing());
  REQUIRE(dc);
  {
    std::lock_guard lock(g->m);
    g->armed = true;
  }
  int finished_when_done = -1;
  auto got = await_connect<fake_conn>(io, dc.value(), 50ms,
                                      [&] { finished_when_done = g->loads_finished.load(); });
  REQUIRE(got);
  REQUIRE_FALSE(*got);
  CHECK(got->error().is(errc::timeout));
  CHECK(finished_when_done == 1);  // only make_dual_credential's: the reload still waits
  CHECK(g->load_thread.load() != std::this_thread::get_id());
  {
    std::lock_guard lock(g->m);
    g->open = true;
  }
  g->cv.notify_all();
  while (g->loads_finished.load() < 2) std::this_thread::sleep_for(1ms);
  // The load ran to its end and published normally: the next connect starts clean.
  db.accept_only({"cur"});
  got = await_connect<fake_conn>(io, dc.value(), std::nullopt);
  REQUIRE(got);
  CHECK(*got);
  CHECK(dc.value().snapshot().reloads == 2);
}

TEST_CASE("callbacks and use_future are completion tokens too") {
  net::io_context io;
  scripted_backend db;
  db.accept_only({"nxt"});
  auto dc = make_dual_credential(async_scripted_connector{&db, io.get_executor()},
                                 static_provider(make_set("cur", "nxt")));
  REQUIRE(dc);
  std::optional<result<fake_conn>> by_callback;
  dc.value().async_connect([&](result<fake_conn> r) { by_callback.emplace(std::move(r)); });
  io.run();
  REQUIRE(by_callback);
  CHECK(*by_callback);
  io.restart();
  auto work = net::make_work_guard(io);
  std::thread loop([&] { io.run(); });
  std::future<result<fake_conn>> f = dc.value().async_connect(net::use_future);
  const result<fake_conn> r = f.get();
  work.reset();
  loop.join();
  CHECK(r);
  CHECK(db.attempts() == std::vector<std::string>{"cur", "nxt", "nxt"});
  CHECK(dc.value().snapshot().connects_via_next == 2);
}
