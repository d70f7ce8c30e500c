// The asio part: its headers with Boost.Asio, and an async connect through dual_credential
// with an in-process connector, completed by a callback.
#include <cstdio>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <dualcred/asio/connect.hpp>
#include <dualcred/provider/static.hpp>

struct posting_connector {
  boost::asio::any_io_executor ex;
  boost::asio::any_io_executor get_executor() const { return ex; }
  template <class Token>
  auto async_connect(const dualcred::credential& c, Token&& token) {
    return boost::asio::async_initiate<Token, void(dualcred::result<int>)>(
        [this, ok = c.password.reveal() == "right"](auto handler) {
          boost::asio::post(ex, [h = std::move(handler), ok]() mutable {
            std::move(h)(
                ok ? dualcred::result<int>(7)
                   : dualcred::result<int>(dualcred::fail(dualcred::errc::auth_rejected, "no")));
          });
        },
        token);
  }
};
static_assert(dualcred::async_connector<posting_connector>);

int main() {
  boost::asio::io_context io;
  dualcred::credential_set set;
  set.current = {"app", dualcred::secret("wrong")};
  set.next = dualcred::credential{"app", dualcred::secret("right")};
  auto dc = dualcred::make_dual_credential(posting_connector{io.get_executor()},
                                           dualcred::static_provider(std::move(set)));
  if (!dc) return 1;
  int got = 0;
  dc.value().async_connect([&](dualcred::result<int> r) { got = r ? r.value() : -1; });
  io.run();
  if (got != 7) {
    std::fprintf(stderr, "the async connect should have fallen back to NEXT\n");
    return 1;
  }
  std::printf("asio: connected via NEXT\n");
  return 0;
}
