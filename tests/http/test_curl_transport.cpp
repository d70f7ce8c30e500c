// curl_transport against the KV v2 test server on loopback: requests and bodies, connection
// reuse, threads, timeouts, refused and dropped connections, the body limit, and details
// that never hold a header value.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <dualcred_testing/kv2_server.hpp>

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

TEST_SUITE_END();
