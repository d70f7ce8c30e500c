// curl_transport against the KV v2 test server on loopback: requests and bodies, connection
// reuse, threads, timeouts, refused and dropped connections, the body limit, and details
// that never hold a header value.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <dualcred_testing/kv2_server.hpp>
#include <dualcred_testing/process.hpp>
#include <dualcred_testing/scoped_env.hpp>
#include <dualcred_testing/temp_dir.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_curl_transport {

TEST_SUITE_BEGIN("curl_transport");

using namespace dualcred;
using kv2test::kv2_server;
using kv2test::root_token;

namespace {

http_request get(const kv2_server& s, const std::string& path,
                 const std::string& token = root_token) {
  return http_request{
      "GET", s.address() + path, {{"X-Vault-Token", token}, {"X-Vault-Request", "true"}}, {}};
}

// A loopback port nothing listens on: bound, then closed.
int closed_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// A loopback HTTP listener on a thread: answers every request with `reply`, closes the
// connection, and keeps each request's head (request line and headers).
class canned_server {
 public:
  explicit canned_server(std::string reply) : reply_(std::move(reply)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  canned_server(const canned_server&) = delete;
  canned_server& operator=(const canned_server&) = delete;
  ~canned_server() {
    shutdown(fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    close(fd_);
  }

  [[nodiscard]] std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  [[nodiscard]] std::vector<std::string> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void serve() {
    for (;;) {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) {
        if (errno == EINTR) continue;
        return;
      }
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, static_cast<std::size_t>(n));
      }
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(head);
      }
      (void)send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
      close(c);
    }
  }

  std::string reply_;
  int fd_ = -1;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

std::string ok_reply(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// An HTTPS server on 127.0.0.1 with a self-signed certificate for DNS:localhost only, made by
// the openssl command at test time (python3's ssl serves it).
class tls_server {
 public:
  tls_server() : dir_("dualcred-tls") {
    const auto openssl = dualcred::testing::find_in_path("openssl");
    REQUIRE_MESSAGE(!openssl.empty(), "the TLS tests need the openssl command");
    const auto log = dir_.path() / "server.log";
    dualcred::testing::child gen(
        {openssl.string(), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
         "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-keyout",
         (dir_.path() / "key.pem").string(), "-out", cert().string()},
        log, {}, dir_.path());
    REQUIRE(gen.wait() == 0);
    // A CA directory as c_rehash lays it out: the certificate under its subject hash.
    std::filesystem::create_directory(ca_dir());
    std::filesystem::copy_file(cert(), ca_dir() / "vault-ca.pem");
    dualcred::testing::child rehash({openssl.string(), "rehash", ca_dir().string()}, log, {},
                                    dir_.path());
    REQUIRE(rehash.wait() == 0);
    const auto port_file = dir_.path() / "port";
    server_ = dualcred::testing::child({DUALCRED_PYTHON3, "-c", script, cert().string(),
                                        (dir_.path() / "key.pem").string(), port_file.string()},
                                       log, {}, dir_.path());
    dualcred::testing::wait_until(
        [&] {
          std::ifstream in(port_file);
          return static_cast<bool>(in >> port_);
        },
        server_, log, "the TLS test server", std::chrono::seconds(30));
  }

  [[nodiscard]] std::filesystem::path cert() const { return dir_.path() / "cert.pem"; }
  [[nodiscard]] std::filesystem::path ca_dir() const { return dir_.path() / "ca"; }
  [[nodiscard]] std::string url(const std::string& host) const {
    return "https://" + host + ":" + std::to_string(port_) + "/v1/sys/health";
  }

 private:
  static constexpr const char* script = R"(
import http.server, os, ssl, sys
cert, key, port_file = sys.argv[1:4]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(port_file + '.tmp', 'w') as f:
    f.write(str(server.server_address[1]))
os.replace(port_file + '.tmp', port_file)
server.serve_forever()
)";

  dualcred::testing::temp_dir dir_;
  dualcred::testing::child server_;
  int port_ = 0;
};

http_request with_token(const std::string& url, const std::string& token) {
  return http_request{"GET", url, {{"X-Vault-Token", token}, {"X-Vault-Request", "true"}}, {}};
}

}  // namespace

TEST_CASE("GET and POST round trips with status, headers and body") {
  kv2_server s;
  curl_transport http;
  http_request post{"POST",
                    s.address() + "/v1/secret/data/app",
                    {{"X-Vault-Token", root_token}, {"Content-Type", "application/json"}},
                    R"({"data":{"k":"v"}})"};
  auto w = http(post);
  REQUIRE(w);
  CHECK(w.value().status == 200);
  CHECK(w.value().body.find("\"version\":1") != std::string::npos);
  CHECK(header_value(w.value().headers, "content-type") == "application/json");

  auto r = http(get(s, "/v1/secret/data/app"));
  REQUIRE(r);
  CHECK(r.value().status == 200);
  CHECK(r.value().body.find("\"k\":\"v\"") != std::string::npos);

  auto missing = http(get(s, "/v1/secret/data/none"));
  REQUIRE(missing);  // any status is a completed exchange
  CHECK(missing.value().status == 404);
  CHECK(missing.value().body == R"({"errors":[]})");

  auto del = http(http_request{
      "DELETE", s.address() + "/v1/secret/data/app", {{"X-Vault-Token", root_token}}, {}});
  REQUIRE(del);
  CHECK(del.value().status == 204);
  CHECK(del.value().body.empty());

  auto list = http(http_request{
      "LIST", s.address() + "/v1/secret/metadata/", {{"X-Vault-Token", root_token}}, {}});
  REQUIRE(list);
  CHECK(list.value().status == 200);
  CHECK(list.value().body.find("\"app\"") != std::string::npos);
}

TEST_CASE("connections are reused across calls and copies") {
  kv2_server s;
  const long before = s.stat("connections");  // the helper's own connection
  curl_transport http;
  curl_transport copy = http;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(http(get(s, "/v1/sys/health")));
    REQUIRE(copy(get(s, "/v1/sys/health")));
  }
  CHECK(s.stat("connections") - before == 1);
}

TEST_CASE("calls from several threads at once") {
  kv2_server s;
  s.put("app", R"({"k":"v"})");
  curl_transport http;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto r = http(get(s, "/v1/secret/data/app"));
        if (r && r.value().status == 200 && r.value().body.find("\"k\":\"v\"") != std::string::npos)
          ++ok;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(ok == 40);
  CHECK(s.stat("connections") <= 6);  // the helper's, plus at most one per thread
}

TEST_CASE("a slow server is a timeout") {
  kv2_server s;
  s.admin("fault", R"({"kind":"delay","seconds":2,"count":1})");
  curl_options o;
  o.timeout = std::chrono::milliseconds(300);
  curl_transport http(o);
  const auto start = std::chrono::steady_clock::now();
  auto r = http(get(s, "/v1/sys/health"));
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::timeout));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1500));
  CHECK(r.error().detail.find("300 ms") != std::string::npos);
  CHECK(r.error().detail.find(root_token) == std::string::npos);
}

TEST_CASE("a refused connection is provider_unavailable") {
  curl_transport http;
  http_request r{"GET",
                 "http://127.0.0.1:" + std::to_string(closed_port()) + "/v1/sys/health",
                 {{"X-Vault-Token", "hvs.secret-token"}},
                 {}};
  auto resp = http(r);
  REQUIRE_FALSE(resp);
  CHECK(resp.error().is(errc::provider_unavailable));
  CHECK(resp.error().detail.find("127.0.0.1") != std::string::npos);
  CHECK(resp.error().detail.find("hvs.secret-token") == std::string::npos);
}

TEST_CASE("a dropped connection is provider_unavailable") {
  kv2_server s;
  s.admin("fault", R"({"kind":"drop","count":1})");
  curl_transport http;
  auto r = http(get(s, "/v1/sys/health"));
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::provider_unavailable));
  auto again = http(get(s, "/v1/sys/health"));  // the pooled handle recovers
  REQUIRE(again);
  CHECK(again.value().status == 200);
}

TEST_CASE("a body over max_response_bytes is malformed") {
  kv2_server s;
  s.admin("fault", R"({"kind":"big","bytes":3000000,"count":1})");
  curl_options o;
  o.max_response_bytes = 1 << 20;
  curl_transport http(o);
  auto r = http(get(s, "/v1/secret/data/x"));
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::malformed));
  CHECK(r.error().detail.find("1048576") != std::string::npos);
}

TEST_CASE("error details drop user info and the query") {
  CHECK(detail::loggable_url("https://u:pw-secret@vault:8200/v1/x?token=abc#f") ==
        "https://vault:8200/v1/x");
  CHECK(detail::loggable_url("http://127.0.0.1:1/v1/x") == "http://127.0.0.1:1/v1/x");
  curl_transport http;
  auto r = http(http_request{
      "GET",
      "http://user:pw-secret@127.0.0.1:" + std::to_string(closed_port()) + "/v1/x?token=abc",
      {},
      {}});
  REQUIRE_FALSE(r);
  CHECK(r.error().detail.find("pw-secret") == std::string::npos);
  CHECK(r.error().detail.find("abc") == std::string::npos);
}

TEST_CASE("TLS verification is on by default and https to a plain server fails") {
  CHECK(curl_options{}.verify_tls);
  kv2_server s;
  curl_options o;
  o.timeout = std::chrono::seconds(3);
  curl_transport http(o);
  auto r = http(http_request{
      "GET", "https://127.0.0.1:" + std::to_string(s.port()) + "/v1/sys/health", {}, {}});
  REQUIRE_FALSE(r);
  CHECK(r.error().is(errc::provider_unavailable));
}

// libcurl reads http_proxy/ALL_PROXY by itself, which would send the token to whatever
// proxy the environment named: only an explicit option may use a proxy.
TEST_CASE("a proxy from the environment is not used unless asked for") {
  canned_server target(ok_reply("target"));
  canned_server proxy(ok_reply("proxy"));
  dualcred::testing::scoped_env http_proxy("http_proxy", proxy.url().c_str());
  dualcred::testing::scoped_env all_proxy("ALL_PROXY", proxy.url().c_str());
  dualcred::testing::scoped_env no_proxy("no_proxy", nullptr);
  dualcred::testing::scoped_env no_proxy_upper("NO_PROXY", nullptr);
  const std::string token = "hvs.proxy-must-not-see-this";

  auto direct = curl_transport{}(with_token(target.url("/v1/secret/data/app"), token));
  REQUIRE(direct);
  CHECK(direct.value().body == "target");
  CHECK(proxy.requests().empty());
  CHECK(target.requests().size() == 1);

  curl_options from_env;
  from_env.proxy_from_env = true;
  auto via_env = curl_transport(from_env)(with_token(target.url("/v1/secret/data/app"), token));
  REQUIRE(via_env);
  CHECK(via_env.value().body == "proxy");

  curl_options named;
  named.proxy = proxy.url();
  auto via_named = curl_transport(named)(with_token(target.url("/v1/secret/data/app"), token));
  REQUIRE(via_named);
  CHECK(via_named.value().body == "proxy");
  CHECK(proxy.requests().size() == 2);
  CHECK(target.requests().size() == 1);
}

TEST_CASE("a 30x with Location is returned, not followed: the token goes nowhere else") {
  canned_server elsewhere(ok_reply("{}"));
  const std::string location = elsewhere.url("/v1/secret/data/mutt/prod");
  canned_server redirecting("HTTP/1.1 307 Temporary Redirect\r\nLocation: " + location +
                            "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  const std::string token = "hvs.redirect-must-not-carry-this";

  auto r = curl_transport{}(with_token(redirecting.url("/v1/secret/data/mutt/prod"), token));
  REQUIRE(r);
  CHECK(r.value().status == 307);
  CHECK(header_value(r.value().headers, "Location") == location);

  vault_config c;
  c.address = redirecting.url("");
  c.path = "mutt/prod";
  c.token = secret(token);
  c.renew_token = false;
  vault_kv2_provider p(curl_transport{}, c);
  auto l = p.load();
  REQUIRE_FALSE(l);
  CHECK(l.error().is(errc::provider_unavailable));
  CHECK_MESSAGE(l.error().detail.find("307") != std::string::npos, l.error().detail);
  CHECK(l.error().detail.find(token) == std::string::npos);
  CHECK(redirecting.requests().size() == 2);
  CHECK(elsewhere.requests().empty());
}

TEST_CASE("TLS: a self-signed certificate and a wrong host name are refused; ca_file fixes it") {
  tls_server s;
  const std::string token = "hvs.tls-token-never-in-details";
  curl_options quick;
  quick.timeout = std::chrono::seconds(10);

  auto untrusted = curl_transport(quick)(with_token(s.url("localhost"), token));
  REQUIRE_FALSE(untrusted);
  CHECK(untrusted.error().is(errc::provider_unavailable));
  CHECK_MESSAGE(untrusted.error().detail.find("curl error 60") != std::string::npos,
                untrusted.error().detail);
  CHECK(untrusted.error().detail.find(token) == std::string::npos);

  curl_options trusting = quick;
  trusting.ca_file = s.cert().string();
  auto ok = curl_transport(trusting)(with_token(s.url("localhost"), token));
  REQUIRE_MESSAGE(ok, ok.error().detail);
  CHECK(ok.value().status == 200);
  CHECK(ok.value().body == R"({"ok":true})");

  // The certificate names localhost only: the right CA does not make another name pass.
  auto wrong_name = curl_transport(trusting)(with_token(s.url("127.0.0.1"), token));
  REQUIRE_FALSE(wrong_name);
  CHECK(wrong_name.error().is(errc::provider_unavailable));
  CHECK(wrong_name.error().detail.find(token) == std::string::npos);

  // As the Vault CLI: VAULT_CACERT, or VAULT_CAPATH, says whom to trust.
  {
    dualcred::testing::scoped_env cacert("VAULT_CACERT", s.cert().c_str());
    dualcred::testing::scoped_env capath("VAULT_CAPATH", nullptr);
    const auto o = curl_options_from_vault_env(quick);
    CHECK(o.ca_file == s.cert().string());
    CHECK(o.ca_path.empty());
    auto r = curl_transport(o)(with_token(s.url("localhost"), token));
    REQUIRE_MESSAGE(r, r.error().detail);
  }
  {
    dualcred::testing::scoped_env cacert("VAULT_CACERT", "");
    dualcred::testing::scoped_env capath("VAULT_CAPATH", s.ca_dir().c_str());
    const auto o = curl_options_from_vault_env(quick);
    CHECK(o.ca_file.empty());
    auto r = curl_transport(o)(with_token(s.url("localhost"), token));
    REQUIRE_MESSAGE(r, r.error().detail);
  }
}

TEST_SUITE_END();

}  // namespace test_curl_transport
