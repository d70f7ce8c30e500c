// The prometheus-cpp collectable: the same families, help, labels and values as
// dualcred::metrics_text, and an Exposer serving it that `promtool check metrics` accepts.
#include <dualcred/metrics/prometheus_cpp.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <prometheus/exposer.h>
#include <prometheus/text_serializer.h>
#include <dualcred/dual_credential.hpp>
#include <dualcred/metrics.hpp>
#include <dualcred/provider/static.hpp>

#include <dualcred_testing/temp_dir.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_prometheus_cpp {

TEST_SUITE_BEGIN("prometheus_cpp");

using namespace dualcred;

namespace {

// Comment lines as a set, and each sample's value by its name and labels.
struct exposition {
  std::vector<std::string> comments;
  std::map<std::string, double> samples;
};

exposition parse(const std::string& text) {
  exposition out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line.starts_with("#")) {
      out.comments.push_back(line);
      continue;
    }
    const auto space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    out.samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

std::vector<named_status> statuses() {
  status pg;
  pg.connects_via_current = 12;
  pg.connects_via_next = 3;
  pg.fallbacks = 2;
  pg.all_rejected = 1;
  pg.reloads = 7;
  pg.reload_failures = 4;
  pg.preferred = slot::next;
  pg.version = "rev \"9\"\\x";  // a label value that needs escaping
  status redis;
  redis.connects_via_current = 5;
  redis.reloads = 1;
  redis.version = "42";
  return {{"postgres", pg}, {"redis", redis}};
}

// GET /metrics from 127.0.0.1:`port`; the body.
std::string http_get_metrics(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const std::string req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  REQUIRE(::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size()));
  std::string resp;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
    resp.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  const auto body = resp.find("\r\n\r\n");
  REQUIRE(body != std::string::npos);
  REQUIRE(resp.starts_with("HTTP/1.1 200"));
  return resp.substr(body + 4);
}

struct one_connector {
  result<int> operator()(const credential&) const { return 1; }
};

}  // namespace

TEST_CASE("the collectable's families, help, labels and values equal the text exposition") {
  const auto instances = statuses();
  const exposition text = parse(metrics_text(instances));
  const exposition prom =
      parse(prometheus::TextSerializer().Serialize(metrics::collectable::families_of(instances)));
  CHECK(prom.comments == text.comments);
  CHECK(prom.samples == text.samples);
  CHECK(text.samples.size() == 20);  // 10 per instance
  CHECK(text.samples.at(R"(dualcred_connects_total{backend="postgres",slot="next"})") == 3);
}

TEST_CASE("an Exposer serving the collectable: promtool check metrics is clean") {
  auto creds = make_dual_credential(one_connector{},
                                    static_provider(credential_set{{"app", secret("pw")}, {}, ""}));
  REQUIRE(creds);
  REQUIRE(creds.value().connect());
  auto c = std::make_shared<metrics::collectable>();
  c->add("db", creds.value());
  prometheus::Exposer exposer("127.0.0.1:0");
  exposer.RegisterCollectable(c);
  REQUIRE_FALSE(exposer.GetListeningPorts().empty());
  const std::string body = http_get_metrics(exposer.GetListeningPorts().front());
  const exposition scraped = parse(body);
  CHECK(scraped.samples.at(R"(dualcred_connects_total{backend="db",slot="current"})") == 1);
  CHECK(scraped.samples.at(R"(dualcred_healthy{backend="db"})") == 1);

  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    MESSAGE("promtool is not installed (.ci/install-deps installs it): the lint is skipped");
    return;
  }
  testing::temp_dir dir;
  const std::string path = dir.write("scrape.prom", body);
  FILE* p = ::popen(("promtool check metrics < '" + path + "' 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[512];
  while (const std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = ::pclose(p);
  INFO("promtool said: " << out);
  CHECK(status == 0);
  CHECK(out.empty());  // no lint problem either
}

TEST_SUITE_END();

}  // namespace test_prometheus_cpp
