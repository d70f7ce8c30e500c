// The fleet check through libcurl against sockets that never answer: its deadline bounds the
// whole check, however many instances hang.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include <doctest/doctest.h>
#include <dualcred/http/curl.hpp>
#include <dualcred/rotation/fleet/http_check.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_fleet_http {

TEST_SUITE_BEGIN("rotation_fleet_http");

using namespace dualcred;
using namespace dualcred::rotation;
using namespace std::chrono_literals;

// A loopback listener that takes connections (the kernel completes the handshake into the
// backlog) and never sends a byte back.
class silent_listener {
 public:
  silent_listener() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
  }
  silent_listener(const silent_listener&) = delete;
  silent_listener& operator=(const silent_listener&) = delete;
  ~silent_listener() { ::close(fd_); }

  [[nodiscard]] std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/health";
  }

 private:
  int fd_;
  unsigned port_ = 0;
};

TEST_CASE("fleet: two instances that never answer cannot hold the check past its deadline") {
  const silent_listener a, b;
  const fleet::http_check check{
      {a.url(), b.url()}, fleet::http_fetch(curl_transport{}), 1000ms, 500ms, {}};
  const auto start = std::chrono::steady_clock::now();
  const auto r = check(fleet_request{3, {}});
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::timeout));
  CHECK(r.error().detail.find("2 of 2 instances did not report version 3") != std::string::npos);
  // At most the deadline plus one second is the contract; half a second more keeps a loaded
  // machine from failing it. Each request on its own would wait for curl's 15 s limit.
  CHECK(took >= 900ms);
  CHECK(took < 2500ms);
  MESSAGE("two silent instances, deadline 1000 ms: the check took "
          << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
}

TEST_SUITE_END();

}  // namespace test_fleet_http
