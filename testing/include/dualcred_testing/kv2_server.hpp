#pragma once

// The KV v2 test server (testing/kv2_server/, a stand-in for Vault's KV v2, auth and admin
// APIs) on a free loopback port for one test, stopped when the test ends, pass or fail. The
// child dies with this process too (process.hpp, and the server's own parent watch), so a
// crashed test leaves nothing running.
//
// DUALCRED_KV2_SERVER_SCRIPT and DUALCRED_PYTHON3 come from dualcred_testing_dep
// (testing/meson.build).

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>

#include <dualcred/http/curl.hpp>
#include <dualcred/provider/vault.hpp>
#include <dualcred_testing/process.hpp>
#include <dualcred_testing/temp_dir.hpp>

#if !defined(DUALCRED_KV2_SERVER_SCRIPT) || !defined(DUALCRED_PYTHON3)
#error "DUALCRED_KV2_SERVER_SCRIPT and DUALCRED_PYTHON3 must be defined (testing/meson.build)"
#endif

namespace kv2test {

inline const std::string root_token = "root-token-for-tests";

class kv2_server {
 public:
  kv2_server() : dir_("dualcred-kv2") {
    const std::string port_file = dir_ / "port";
    proc_ = dualcred::testing::child(
        {DUALCRED_PYTHON3, DUALCRED_KV2_SERVER_SCRIPT, "--port-file", port_file, "--root-token",
         root_token, "--parent-pid", std::to_string(::getpid())},
        log_path(), dualcred::testing::run_as{}, dir_.path());
    dualcred::testing::wait_until(
        [&] {
          std::ifstream in(port_file);
          return static_cast<bool>(in >> port_);
        },
        proc_, log_path(), "kv2_server", std::chrono::seconds(15));
  }
  kv2_server(const kv2_server&) = delete;
  kv2_server& operator=(const kv2_server&) = delete;
  ~kv2_server() { proc_.stop(SIGTERM, std::chrono::seconds(10)); }

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string address() const { return "http://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] std::string dir() const { return dir_.path().string(); }
  [[nodiscard]] std::string log_path() const { return dir_ / "server.log"; }

  /// A config for `path` in mount "secret" with the root token.
  [[nodiscard]] dualcred::vault_config config(std::string path = "mutt/prod",
                                              std::string token = root_token) const {
    dualcred::vault_config c;
    c.address = address();
    c.path = std::move(path);
    c.token = dualcred::secret(token);
    return c;
  }

  /// A raw request; aborts the test on a transport failure.
  dualcred::http_response request(const std::string& method, const std::string& path,
                                  const std::string& body = {},
                                  const std::string& token = root_token,
                                  const std::string& ns = {}) const {
    dualcred::http_request r{method, address() + path, {}, body};
    if (!token.empty()) r.headers.emplace_back("X-Vault-Token", token);
    if (!ns.empty()) r.headers.emplace_back("X-Vault-Namespace", ns);
    r.headers.emplace_back("X-Vault-Request", "true");
    auto resp = http_(r);
    if (!resp) throw std::runtime_error("kv2 request failed: " + resp.error().detail);
    return std::move(resp).value();
  }

  /// POST to the admin API; throws unless it succeeded.
  dualcred::http_response admin(const std::string& what, const std::string& body = "{}") const {
    auto r = request("POST", "/_admin/" + what, body, "");
    if (r.status >= 300) throw std::runtime_error("admin " + what + ": " + r.body);
    return r;
  }

  /// Writes KV data (a JSON object's text) at `path` in mount "secret"; returns the status.
  int put(const std::string& path, const std::string& data_json, const std::string& ns = {}) const {
    return request("POST", "/v1/secret/data/" + path, "{\"data\":" + data_json + "}", root_token,
                   ns)
        .status;
  }

  /// Counter `name` from /_admin/stats (0 when absent), or a request count "GET /v1/...".
  long stat(const std::string& name) const {
    auto r = request("GET", "/_admin/stats", {}, "");
    const std::string key = "\"" + name + "\":";
    const auto pos = r.body.find(key);
    return pos == std::string::npos ? 0
                                    : std::strtol(r.body.c_str() + pos + key.size(), nullptr, 10);
  }

 private:
  dualcred::testing::temp_dir dir_;
  dualcred::testing::child proc_;
  int port_ = 0;
  dualcred::curl_transport http_{[] {
    dualcred::curl_options o;
    o.timeout = std::chrono::seconds(20);
    o.max_response_bytes = std::size_t{64} << 20;
    return o;
  }()};
};

/// Seeds the seed project's layout at secret/mutt/prod.
inline void seed_mutt(const kv2_server& s, const std::string& next = "db-next-2") {
  const std::string db_next = next.empty() ? "" : ",\"DB_PASS_NEXT\":\"" + next + "\"";
  s.put("mutt/prod", "{\"DB_USER\":\"mutt\",\"DB_PASS_CURRENT\":\"db-current-1\"" + db_next +
                         ",\"REDIS_PASS_CURRENT\":\"redis-current-1\","
                         "\"REDIS_PASS_NEXT\":\"redis-next-2\"}");
}

}  // namespace kv2test
