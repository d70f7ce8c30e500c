#pragma once

// /health and /metrics for a service's dual_credentials, served by cpp-httplib on its own
// thread. Shared by the health_endpoint example and the zero_downtime_demo.
//
//   example::health_server http([&] { return std::vector<dualcred::named_status>{
//       {"postgres", pg.snapshot()}, {"redis", rd.snapshot()}}; });
//   fmt::print("http://127.0.0.1:{}/health\n", http.port());
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <httplib.h>

#include <dualcred/health.hpp>
#include <dualcred/metrics.hpp>

namespace example {

using snapshots_function = std::function<std::vector<dualcred::named_status>()>;

/// Routes `/health` (the JSON of `dualcred::health_json`; HTTP 503 when not ok, so a load
/// balancer or readiness probe can act on it) and `/metrics` (Prometheus text) on `server`.
inline void add_health_routes(httplib::Server& server, snapshots_function snapshots) {
  server.Get("/health", [snapshots](const httplib::Request&, httplib::Response& res) {
    const auto all = snapshots();
    res.status = dualcred::all_healthy(all) ? 200 : 503;
    res.set_content(dualcred::health_json(all), "application/json");
  });
  server.Get("/metrics", [snapshots](const httplib::Request&, httplib::Response& res) {
    res.set_content(dualcred::metrics_text(snapshots()),
                    std::string(dualcred::prometheus_content_type));
  });
}

/// An HTTP server with those routes, listening on `host:port` (port 0: one the kernel
/// picks) from construction until destruction.
class health_server {
 public:
  explicit health_server(snapshots_function snapshots, int port = 0,
                         const std::string& host = "127.0.0.1") {
    add_health_routes(server_, std::move(snapshots));
    if (port == 0) {
      port_ = server_.bind_to_any_port(host);
    } else if (server_.bind_to_port(host, port)) {
      port_ = port;
    }
    if (port_ <= 0)
      throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port));
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // The socket already listens; wait for the loop too, or a stop() now would be lost.
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  health_server(const health_server&) = delete;
  health_server& operator=(const health_server&) = delete;
  ~health_server() {
    server_.stop();
    thread_.join();
  }

  [[nodiscard]] int port() const noexcept { return port_; }

 private:
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
};

}  // namespace example
