#pragma once

// Starts tests/vault/kv2_server.py on a free loopback port for one test and stops it when the
// test ends, pass or fail. The child also dies with this process (PR_SET_PDEATHSIG and the
// server's own parent watch), so a crashed test leaves nothing running.

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

#include <dualcred/http/curl.hpp>
#include <dualcred/provider/vault_config.hpp>

#if !defined(DUALCRED_KV2_SERVER_SCRIPT) || !defined(DUALCRED_PYTHON3)
#error "DUALCRED_KV2_SERVER_SCRIPT and DUALCRED_PYTHON3 must be defined (tests/vault/meson.build)"
#endif

namespace kv2test {

inline const std::string root_token = "root-token-for-tests";

class kv2_server {
 public:
  kv2_server() {
    char tmpl[] = "/tmp/dualcred-kv2-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    const std::string port_file = dir_ + "/port";
    const std::string parent = std::to_string(getpid());
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (const int null = open("/dev/null", O_WRONLY); null >= 0) dup2(null, STDOUT_FILENO);
      execl(DUALCRED_PYTHON3, "python3", DUALCRED_KV2_SERVER_SCRIPT, "--port-file",
            port_file.c_str(), "--root-token", root_token.c_str(), "--parent-pid", parent.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(port_file);
      if (in >> port_) break;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("kv2_server.py exited at start-up");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (port_ == 0) {
      stop();
      throw std::runtime_error("kv2_server.py did not report its port");
    }
  }
  kv2_server(const kv2_server&) = delete;
  kv2_server& operator=(const kv2_server&) = delete;
  ~kv2_server() { stop(); }

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string address() const { return "http://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] const std::string& dir() const { return dir_; }

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
  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  std::string dir_;
  pid_t pid_ = -1;
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
