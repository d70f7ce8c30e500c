#pragma once

// Loopback listeners that never accept, for timeouts: a connect that hangs or a command
// that gets no reply, without depending on an unreachable address.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace dualcred::testing {

/// A socket bound and listening on 127.0.0.1 that nobody ever accepts from: the kernel
/// completes TCP handshakes into the backlog, so clients connect and then hear nothing.
class silent_listener {
 public:
  explicit silent_listener(int backlog = 16) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    socklen_t len = sizeof addr_;
    addr_.sin_family = AF_INET;
    addr_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr_), sizeof addr_) != 0 ||
        ::listen(fd_, backlog) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr_), &len) != 0)
      throw std::runtime_error("cannot set up the silent listener");
    port_ = ntohs(addr_.sin_port);
  }
  silent_listener(const silent_listener&) = delete;
  silent_listener& operator=(const silent_listener&) = delete;
  ~silent_listener() { ::close(fd_); }
  int port() const noexcept { return port_; }
  int fd() const noexcept { return fd_; }

 protected:
  const sockaddr_in& address() const noexcept { return addr_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  sockaddr_in addr_{};
};

/// A listener whose accept queue is full: further SYNs are dropped, so a connect to it
/// neither succeeds nor fails until the client gives up.
class full_listener : public silent_listener {
 public:
  full_listener() : silent_listener(0) {
    for (int i = 0; i < 3; ++i) {
      const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      (void)::connect(c, reinterpret_cast<const sockaddr*>(&address()), sizeof(sockaddr_in));
      fillers_.push_back(c);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  full_listener(const full_listener&) = delete;
  full_listener& operator=(const full_listener&) = delete;
  ~full_listener() {
    for (const int c : fillers_) ::close(c);
  }

 private:
  std::vector<int> fillers_;
};

}  // namespace dualcred::testing
