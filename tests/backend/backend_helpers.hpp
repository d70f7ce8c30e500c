#pragma once

// Small things the backend tests share: a listener that never answers, a file writer, a
// policy that counts attempts, and the fixture servers, one of each per test program.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <dualcred/policy.hpp>

#include <dualcred_testing/postgres.hpp>
#include <dualcred_testing/redis.hpp>

namespace backend_tests {

/// A socket bound and listening on 127.0.0.1 that nobody ever accepts from: the kernel
/// completes TCP handshakes into the backlog, so clients connect and then hear nothing.
class silent_listener {
 public:
  silent_listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 16) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("cannot set up the silent listener");
    port_ = ntohs(addr.sin_port);
  }
  silent_listener(const silent_listener&) = delete;
  silent_listener& operator=(const silent_listener&) = delete;
  ~silent_listener() { ::close(fd_); }
  int port() const noexcept { return port_; }
  int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

/// Replaces a file's contents in one rename, as a secret manager's agent would.
inline void write_file(const std::filesystem::path& path, const std::string& text) {
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
  }
  std::filesystem::rename(tmp, path);
}

/// The default policy, counting how often the connector was tried and refused.
struct counting_policy : dualcred::default_policy {
  std::atomic<int>* refused = nullptr;
  void on_event(const dualcred::event& e) noexcept {
    if (refused != nullptr && e.kind == dualcred::event_kind::refused) ++*refused;
  }
};

inline dualcred::testing::postgres_server& postgres() {
  return dualcred::testing::shared_postgres_server();
}
inline dualcred::testing::redis_server& redis() {
  return dualcred::testing::shared_redis_server();
}

}  // namespace backend_tests
