// Runs the health_endpoint example against the fixture servers and reads its /health and
// /metrics over HTTP while a password changes. Meson passes the example's path in
// DUALCRED_EXAMPLE_HEALTH_ENDPOINT.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

#include <dualcred_testing/postgres.hpp>
#include <dualcred_testing/redis.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_health_endpoint {

TEST_SUITE_BEGIN("health_endpoint");

using namespace std::chrono_literals;
namespace fixture = dualcred::testing;

namespace {

constexpr const char* pg_old = "pg-health-old-5Qx";
constexpr const char* pg_new = "pg-health-new-8Wd";
constexpr const char* redis_pw = "rd-health-cur-3Lm";

// Replaces a file's contents in one rename, as a secret manager's agent would.
void write_file(const std::filesystem::path& path, const std::string& text) {
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
  }
  std::filesystem::rename(tmp, path);
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Polls `check` for up to 20 s.
bool eventually(const std::function<bool()>& check) {
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (!check()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

struct response {
  int status = 0;
  std::string body;
  std::string content_type;
};

response get(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2);
  client.set_read_timeout(5);
  auto res = client.Get(path);
  if (!res) return {};
  return {res->status, res->body, res->get_header_value("Content-Type")};
}

// The value of one sample in a Prometheus text body; -1 when absent.
long sample(const std::string& body, const std::string& series) {
  const auto at = body.find("\n" + series + " ");
  return at == std::string::npos ? -1 : std::atol(body.c_str() + at + series.size() + 2);
}

bool secret_free(const std::string& text) {
  return text.find(pg_old) == std::string::npos && text.find(pg_new) == std::string::npos &&
         text.find(redis_pw) == std::string::npos && text.find("-health-") == std::string::npos;
}

}  // namespace

TEST_CASE("health_endpoint serves /health and /metrics for live backends, without secrets") {
  const char* exe = std::getenv("DUALCRED_EXAMPLE_HEALTH_ENDPOINT");
  REQUIRE_MESSAGE(exe != nullptr, "DUALCRED_EXAMPLE_HEALTH_ENDPOINT is not set: run through meson");
  fixture::postgres_server pg;
  fixture::redis_server redis;
  pg.create_login_role("app_health", pg_old);
  redis.set_user("app_health", {redis_pw});

  fixture::temp_dir dir("dualcred-health");
  const auto secrets = dir.path() / "app.env";
  write_file(secrets, fmt::format("DB_USER=app_health\nDB_PASS_CURRENT={}\nDB_PASS_NEXT={}\n"
                                  "REDIS_USER=app_health\nREDIS_PASS_CURRENT={}\n",
                                  pg_old, pg_new, redis_pw));
  const auto log = dir.path() / "health_endpoint.log";
  fixture::child proc(
      {exe, secrets.string(), "--listen", "0", "--postgres", fmt::format("127.0.0.1:{}", pg.port()),
       "--redis", fmt::format("127.0.0.1:{}", redis.port()), "--probe-ms", "50"},
      log, fixture::run_as{}, dir.path());

  int port = 0;
  REQUIRE_MESSAGE(eventually([&] {
                    const std::string text = read_all(log);
                    const auto at = text.find("listening on http://127.0.0.1:");
                    if (at == std::string::npos) return !proc.running();
                    port = std::atoi(text.c_str() + at + 30);
                    return true;
                  }),
                  read_all(log));
  REQUIRE_MESSAGE(port > 0, read_all(log));

  // The probe has logged in to both backends with CURRENT.
  REQUIRE(eventually([&] {
    const auto m = get(port, "/metrics").body;
    return sample(m, R"(dualcred_connects_total{backend="postgres",slot="current"})") > 0 &&
           sample(m, R"(dualcred_connects_total{backend="redis",slot="current"})") > 0;
  }));
  const response health = get(port, "/health");
  CHECK(health.status == 200);
  CHECK(health.content_type == "application/json");
  CHECK(health.body.starts_with(R"({"ok":true,"postgres":{"connects_via_current":)"));
  CHECK(health.body.find(R"(,"redis":{"connects_via_current":)") != std::string::npos);
  CHECK(health.body.find(R"("preferred":"current","version":")") != std::string::npos);
  CHECK(secret_free(health.body));

  const response metrics = get(port, "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.content_type.starts_with("text/plain; version=0.0.4"));
  CHECK(metrics.body.find("# TYPE dualcred_connects_total counter\n") != std::string::npos);
  CHECK(metrics.body.find("dualcred_credential_info{backend=\"postgres\",version=\"") !=
        std::string::npos);
  CHECK(metrics.body.find("dualcred_healthy{backend=\"redis\"} 1\n") != std::string::npos);
  CHECK(secret_free(metrics.body));

  // PostgreSQL's role takes NEXT: the probe falls back to it and stays there.
  pg.set_password("app_health", pg_new);
  CHECK(eventually([&] {
    return get(port, "/metrics")
               .body.find("dualcred_preferred_slot{backend=\"postgres\",slot=\"next\"} 1\n") !=
           std::string::npos;
  }));
  const response after = get(port, "/health");
  CHECK(after.status == 200);
  CHECK(after.body.find(R"("fallbacks":1,)") != std::string::npos);
  CHECK(after.body.find(R"("preferred":"next")") != std::string::npos);
  CHECK(after.body.find(R"("last_error":"auth_rejected")") != std::string::npos);
  CHECK(secret_free(after.body));

  // An unknown path is a 404; SIGTERM stops the server cleanly.
  CHECK(get(port, "/nope").status == 404);
  ::kill(proc.pid(), SIGTERM);
  CHECK(proc.wait() == 0);
  CHECK(secret_free(read_all(log)));
}

TEST_CASE("health_endpoint refuses bad arguments and a missing secret file") {
  const char* exe = std::getenv("DUALCRED_EXAMPLE_HEALTH_ENDPOINT");
  REQUIRE(exe != nullptr);
  fixture::temp_dir dir("dualcred-health");
  const auto log = dir.path() / "out.log";
  fixture::child usage({std::string(exe), "--listen", "0"}, log, fixture::run_as{}, dir.path());
  CHECK(usage.wait() == 2);
  fixture::child missing({std::string(exe), (dir.path() / "absent.env").string(), "--listen", "0",
                          "--redis", "127.0.0.1:1"},
                         log, fixture::run_as{}, dir.path());
  CHECK(missing.wait() == 1);
  CHECK(read_all(log).find("cannot read the Redis login") != std::string::npos);
}

TEST_SUITE_END();

}  // namespace test_health_endpoint
