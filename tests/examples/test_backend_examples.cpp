// Runs the backend examples against the fixture servers. Meson passes their paths in
// DUALCRED_EXAMPLE_POSTGRES_ENV and DUALCRED_EXAMPLE_REDIS_FILE.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <sys/wait.h>

#include "backend/backend_helpers.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_backend_examples {

TEST_SUITE_BEGIN("backend_examples");

namespace {

struct run_result {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

run_result run(const std::string& command) {
  run_result r;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buf[512];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) r.output += buf;
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string example(const char* variable) {
  const char* path = std::getenv(variable);
  REQUIRE_MESSAGE(path != nullptr, variable << " is not set: run this through meson test");
  return path;
}

}  // namespace

TEST_CASE("asio_server --once: a handler's co_await logins fall back to NEXT") {
  const char* exe = std::getenv("DUALCRED_EXAMPLE_ASIO_SERVER");
  if (exe == nullptr) {
    MESSAGE("asio_server was not built (the libpq_asio or hiredis_asio part is off): skipped");
    return;
  }
  auto& pg = backend_tests::postgres();
  pg.create_login_role("app_asio_example", "pg-asio-next-6d");
  auto& redis = backend_tests::redis();
  redis.set_user("app_asio_example", {"rd-asio-next-8e"});
  ::setenv("DB_HOST", pg.host().c_str(), 1);
  ::setenv("DB_PORT", std::to_string(pg.port()).c_str(), 1);
  ::setenv("DB_NAME", "postgres", 1);
  ::setenv("DB_USER", "app_asio_example", 1);
  ::setenv("DB_PASS_CURRENT", "pg-asio-old-5c", 1);
  ::setenv("DB_PASS_NEXT", "pg-asio-next-6d", 1);
  ::setenv("REDIS_HOST", "127.0.0.1", 1);
  ::setenv("REDIS_PORT", std::to_string(redis.port()).c_str(), 1);
  ::setenv("REDIS_USER", "app_asio_example", 1);
  ::setenv("REDIS_PASS_CURRENT", "rd-asio-old-7d", 1);
  ::setenv("REDIS_PASS_NEXT", "rd-asio-next-8e", 1);
  auto r = run(shell_quote(exe) + " --once");
  for (const char* name :
       {"REDIS_HOST", "REDIS_PORT", "REDIS_USER", "REDIS_PASS_CURRENT", "REDIS_PASS_NEXT"})
    ::unsetenv(name);
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("ok: PostgreSQL") != std::string::npos);
  CHECK(r.output.find("as app_asio_example (current 0, next 1)") != std::string::npos);
  CHECK(r.output.find("Redis (current 0, next 1)") != std::string::npos);
  CHECK(r.output.find("-asio-") == std::string::npos);
}

TEST_CASE("postgres_env connects with DB_* variables and falls back to NEXT") {
  const std::string exe = example("DUALCRED_EXAMPLE_POSTGRES_ENV");
  auto& server = backend_tests::postgres();
  server.create_login_role("app_example", "pg-example-next-2f");
  ::setenv("DB_HOST", server.host().c_str(), 1);
  ::setenv("DB_PORT", std::to_string(server.port()).c_str(), 1);
  ::setenv("DB_NAME", "postgres", 1);
  ::setenv("DB_USER", "app_example", 1);
  ::setenv("DB_PASS_CURRENT", "pg-example-old-1e", 1);
  ::setenv("DB_PASS_NEXT", "pg-example-next-2f", 1);

  auto r = run(shell_quote(exe));
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("SELECT 1 -> 1") != std::string::npos);
  CHECK(r.output.find("\"fallbacks\":1") != std::string::npos);
  CHECK(r.output.find("pg-example") == std::string::npos);

  ::setenv("DB_PASS_NEXT", "pg-example-wrong-3a", 1);
  auto refused = run(shell_quote(exe));
  INFO(refused.output);
  CHECK(refused.exit_code == 1);
  CHECK(refused.output.find("28P01") != std::string::npos);
  CHECK(refused.output.find("pg-example") == std::string::npos);
}

TEST_CASE("redis_file connects with a dotenv file and answers PING") {
  const std::string exe = example("DUALCRED_EXAMPLE_REDIS_FILE");
  auto& server = backend_tests::redis();
  server.set_user("app_example", {"rd-example-cur-7b"});
  dualcred::testing::temp_dir dir("dualcred-example");
  const auto file = dir.path() / "redis.env";
  backend_tests::write_file(file, "REDIS_USER=app_example\nREDIS_PASS_CURRENT=rd-example-cur-7b\n");
  const std::string args =
      " " + shell_quote(file.string()) + " " + server.host() + " " + std::to_string(server.port());

  auto r = run(shell_quote(exe) + args);
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("PING -> PONG") != std::string::npos);
  CHECK(r.output.find("rd-example") == std::string::npos);

  backend_tests::write_file(file, "REDIS_USER=app_example\nREDIS_PASS_CURRENT=rd-example-bad-8c\n");
  auto refused = run(shell_quote(exe) + args);
  INFO(refused.output);
  CHECK(refused.exit_code == 1);
  CHECK(refused.output.find("WRONGPASS") != std::string::npos);
  CHECK(refused.output.find("rd-example") == std::string::npos);
}

TEST_SUITE_END();

}  // namespace test_backend_examples
