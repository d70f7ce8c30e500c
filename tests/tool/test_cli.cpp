// dualcred-rotate's command line in-process (tools/dualcred-rotate/cli.hpp): argv and an
// environment snapshot in, a typed configuration, --help or a usage error out; the
// --redis-allow list; the text escaper every printed server string goes through; the Redis
// plaintext warning; and the process hardening.
#include <doctest/doctest.h>

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <dualcred/rotation/detail/printable.hpp>
#include "cli.hpp"
#include "hardening.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_cli {

TEST_SUITE_BEGIN("tool_cli");

using namespace dualcred_rotate;
using std::chrono::milliseconds;

namespace {

environment env_of(const std::map<std::string, std::string>& vars) {
  return environment::read([&](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

parse_result parse(std::initializer_list<std::string_view> args,
                   const std::map<std::string, std::string>& vars = {}) {
  const std::vector<std::string_view> v(args);
  return parse_command_line(v, env_of(vars));
}

config ok(const parse_result& r) {
  if (const auto* u = std::get_if<usage_error>(&r)) FAIL_CHECK("usage error: " << u->message);
  REQUIRE(std::holds_alternative<config>(r));
  return std::get<config>(r);
}

std::string refused(const parse_result& r) {
  REQUIRE(std::holds_alternative<usage_error>(r));
  return std::get<usage_error>(r).message;
}

}  // namespace

TEST_CASE("one parse gives a typed configuration: enums, durations, addresses") {
  const auto c = ok(parse({"--backend", "postgres", "--pg-strategy", "alternating", "--pg-roles",
                           "a,b", "--file", "x.env", "--settle", "0.25", "--fleet-timeout", "2m",
                           "--pg-standby", "[::1]:5433", "--pg-sslmode", "verify-full", "all"}));
  CHECK(c.command == command_kind::all);
  CHECK(c.backend == backend_kind::postgres);
  CHECK(c.store == store_kind::file);
  CHECK(c.strategy == pg_strategy::alternating);
  CHECK(c.pg_roles == std::pair<std::string, std::string>{"a", "b"});
  CHECK(c.sslmode == pg_sslmode::verify_full);
  CHECK(c.settle == milliseconds(250));
  CHECK(c.fleet_timeout == milliseconds(120'000));
  CHECK(c.prefix == "DB");
  REQUIRE(c.pg_topology.standbys.size() == 1);
  CHECK(c.pg_topology.standbys[0].host == "::1");
  CHECK(c.pg_topology.standbys[0].port == 5433);
  const auto v = ok(parse({"--backend", "redis", "--vault-path", "a/b", "status"}));
  CHECK(v.store == store_kind::vault);
  CHECK(v.prefix == "REDIS");
}

TEST_CASE("the environment comes from the snapshot given, flags win over it") {
  const auto c = ok(parse({"--backend", "redis", "--file", "x", "--redis-port", "7000", "status"},
                          {{"PGHOST", "db.example"},
                           {"PGPORT", "6543"},
                           {"PGSSLMODE", "require"},
                           {"REDIS_HOST", "10.0.0.5"},
                           {"REDIS_PORT", "6380"}}));
  CHECK(c.pg_host == "db.example");
  CHECK(c.pg_port == 6543);
  CHECK(c.sslmode == pg_sslmode::require);
  CHECK(c.redis_host == "10.0.0.5");
  CHECK(c.redis_port == 7000);
  CHECK(refused(parse({"--backend", "redis", "--file", "x", "status"}, {{"PGPORT", "inf"}}))
            .find("PGPORT") != std::string::npos);
  CHECK(refused(parse({"--backend", "redis", "--file", "x", "status"}, {{"PGSSLMODE", "maybe"}}))
            .find("PGSSLMODE") != std::string::npos);
}

TEST_CASE("usage errors name the flag and never echo the value") {
  const std::string_view marker = "Hunter2Marker";
  const std::vector<std::vector<std::string_view>> cases{
      {"--backend", "redis", "--file", "x", marker},
      {"--backend", marker, "--file", "x", "all"},
      {"--pg-port", marker, "all"},
      {"--settle", marker, "all"},
      {"--store", marker, "all"},
      {"--pg-sslmode", marker, "all"},
      {"--redis-allow", marker, "all"},
      {"--redis-node", marker, "all"},
      {"--instance", "http://u:Hunter2Marker@h/x", "all"},
      {"--pg-admin=Hunter2Marker", "all"},
      {"--backend", "redis", "--file", "x", "all", "status"},
  };
  for (const auto& args : cases) {
    const auto r = parse_command_line(args, env_of({}));
    const std::string message = refused(r);
    CAPTURE(message);
    CHECK(message.find(marker) == std::string::npos);
    CHECK(!message.empty());
  }
  CHECK(refused(parse({"--settle"})) == "--settle needs a value");
  CHECK(refused(parse({"--backend", "redis", "--file", "x"})) == "no STEP given");
  CHECK(refused(parse({"--file", "x", "all"})).find("--backend") != std::string::npos);
}

TEST_CASE("--help comes from the tables: every step, every flag, every exit code 0 to 14") {
  const auto r = parse({"--backend", "redis", "--help", "--nonsense"});
  REQUIRE(std::holds_alternative<help_request>(r));
  const std::string& help = std::get<help_request>(r).text;
  for (const auto& c : commands) CHECK_MESSAGE(help.find(c.name) != std::string::npos, c.name);
  for (const auto& f : flag_table)
    CHECK_MESSAGE(
        help.find(std::string(f.name) + (f.value.empty() ? "" : " ")) != std::string::npos, f.name);
  for (int code = 0; code <= 14; ++code)
    CHECK_MESSAGE(help.find(fmt::format("\n  {:>2} ", code)) != std::string::npos, code);
  for (const char* var : {"REDIS_SENTINEL_PASSWORD", "PGBOUNCER_ADMIN_PASSWORD",
                          "DUALCRED_CURRENT_PASSWORD", "VAULT_TOKEN", "PGSSLMODE"})
    CHECK_MESSAGE(help.find(var) != std::string::npos, var);
}

TEST_CASE("day-2 flags are checked at parse time") {
  CHECK(refused(parse({"--backend", "redis", "--file", "x", "--json", "all"})).find("--json") !=
        std::string::npos);
  CHECK(refused(parse({"--backend", "redis", "--file", "x", "due"})).find("--max-age") !=
        std::string::npos);
  CHECK(refused(parse({"--backend", "redis", "--file", "x", "--generate", "init"},
                      {{"DUALCRED_CURRENT_PASSWORD", "pw"}}))
            .find("one of") != std::string::npos);
  const auto c = ok(parse({"--backend", "redis", "--file", "x", "--max-age", "30d", "due"}));
  CHECK(c.day2.max_age == std::chrono::hours(24 * 30));
}

TEST_CASE("--redis-allow: IPv4 and IPv6 blocks and host names") {
  const auto c = ok(parse({"--backend", "redis", "--file", "x", "--redis-allow",
                           "10.0.0.0/8,[fd00::]/8,cache.example", "--redis-allow", "::1", "all"}));
  const auto& allow = c.redis_topology.allow;
  CHECK(allow.describe() == "10.0.0.0/8,[fd00::]/8,cache.example,::1");
  CHECK(allow.contains("10.200.3.4"));
  CHECK_FALSE(allow.contains("11.0.0.1"));
  CHECK(allow.contains("fd12::7"));
  CHECK_FALSE(allow.contains("fe80::1"));
  CHECK(allow.contains("CACHE.example"));
  CHECK_FALSE(allow.contains("cache.example.evil"));
  CHECK(allow.contains("::1"));
  CHECK_FALSE(allow.contains("127.0.0.1"));
  for (const char* bad : {"", "10.0.0.1/8", "10.0.0.0/33", "::/129", "a b", "10.0.0.0/", "1.2.3.4,",
                          "[::1", "[host]", "-host", "10.0.0.0/-1"}) {
    CAPTURE(bad);
    CHECK(refused(parse({"--backend", "redis", "--file", "x", "--redis-allow", bad, "all"}))
              .find("--redis-allow") != std::string::npos);
  }
}

TEST_CASE("Sentinel and PgBouncer passwords: a variable or a file, never both") {
  const auto both = refused(
      parse({"--backend", "redis", "--file", "x", "--redis-sentinel-password-file", "/s", "all"},
            {{"REDIS_SENTINEL_PASSWORD", "pw"}}));
  CHECK(both.find("REDIS_SENTINEL_PASSWORD") != std::string::npos);
  CHECK(both.find("--redis-sentinel-password-file") != std::string::npos);
  const auto bouncer = refused(parse(
      {"--backend", "postgres", "--file", "x", "--pgbouncer-admin-password-file", "/p", "all"},
      {{"PGBOUNCER_ADMIN_PASSWORD", "pw"}}));
  CHECK(bouncer.find("PGBOUNCER_ADMIN_PASSWORD") != std::string::npos);
  CHECK(bouncer.find("--pgbouncer-admin-password-file") != std::string::npos);
  // The file alone satisfies --redis-sentinel-user.
  ok(parse({"--backend", "redis", "--file", "x", "--redis-sentinel", "127.0.0.1:26379",
            "--redis-master", "m", "--redis-sentinel-user", "s", "--redis-sentinel-password-file",
            "/s", "all"}));
  CHECK(refused(parse({"--backend", "redis", "--file", "x", "--redis-sentinel", "127.0.0.1:26379",
                       "--redis-master", "m", "--redis-sentinel-user", "s", "all"}))
            .find("--redis-sentinel-password-file") != std::string::npos);
}

TEST_CASE("printable: escape sequences, line breaks and bad UTF-8 become visible text") {
  CHECK(printable("\x1b[2J\nFAKE") == "\\x1b[2J\\nFAKE");
  CHECK(printable("a\rb\tc\\d\x7f") == "a\\rb\\tc\\\\d\\x7f");
  CHECK(printable(std::string_view("nul\0x", 5)) == "nul\\x00x");
  CHECK(printable("caf\xc3\xa9 \xe2\x82\xac") == "caf\xc3\xa9 \xe2\x82\xac");  // kept
  CHECK(printable("\xff\xc3") == "\\xff\\xc3");                                // invalid
  CHECK(printable("\xc0\xaf") == "\\xc0\\xaf");                                // overlong
  CHECK(printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");                       // surrogate
  CHECK(printable("\xc2\x9b"
                  "2J") == "\\u{009b}2J");  // C1 CSI
  CHECK(printable("\xe2\x80\xae"
                  "txt") == "\\u{202e}txt");  // bidi override
  // Nothing a terminal acts on survives, whatever the bytes.
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  for (const char c : printable(all)) {
    const auto u = static_cast<unsigned char>(c);
    CHECK((u >= 0x20 && u != 0x7f));
  }
}

TEST_CASE("one warning when Redis credentials leave loopback, none otherwise") {
  const auto warn = [](std::initializer_list<std::string_view> args) {
    return redis_plaintext_warning(ok(parse(args)));
  };
  CHECK_FALSE(warn({"--backend", "redis", "--file", "x", "all"}));
  CHECK_FALSE(warn({"--backend", "redis", "--file", "x", "--redis-host", "::1", "all"}));
  CHECK_FALSE(warn({"--backend", "redis", "--file", "x", "--redis-host", "127.8.9.10", "all"}));
  CHECK_FALSE(warn({"--backend", "redis", "--file", "x", "--redis-host", "10.0.0.5", "status"}));
  const auto w = warn({"--backend", "redis", "--file", "x", "--redis-node", "127.0.0.1:6379",
                       "--redis-node", "10.0.0.5:6379", "--redis-node", "[fd00::1]:6380", "all"});
  REQUIRE(w);
  CHECK(w->find("10.0.0.5:6379") != std::string::npos);
  CHECK(w->find("[fd00::1]:6380") != std::string::npos);
  CHECK(w->find("127.0.0.1") == std::string::npos);
  CHECK(w->find("TLS") != std::string::npos);
  CHECK(w->find('\n') == std::string::npos);
  CHECK(warn({"--backend", "redis", "--file", "x", "--redis-host", "cache.internal", "init",
              "--generate"}));
  CHECK_FALSE(warn({"--backend", "postgres", "--file", "x", "--pg-host", "10.0.0.9", "all"}));
  CHECK(is_loopback("localhost"));
  CHECK(is_loopback("127.255.0.1"));
  CHECK_FALSE(is_loopback("::2"));
  CHECK_FALSE(is_loopback("128.0.0.1"));
}

TEST_CASE("the environment's passwords are read once, then wiped where the process keeps them") {
  ::setenv("REDIS_SENTINEL_PASSWORD", "sentinel-env-pw", 1);
  ::setenv("PGPASSWORD", "libpq-reads-this", 1);
  const auto e = environment::from_process();
  environment::wipe_process_secrets();
  REQUIRE(e.redis_sentinel_password);
  CHECK(e.redis_sentinel_password->reveal() == "sentinel-env-pw");
  const char* left = std::getenv("REDIS_SENTINEL_PASSWORD");
  CHECK((left == nullptr || *left == '\0'));
  CHECK(std::string_view(std::getenv("PGPASSWORD")) == "libpq-reads-this");
  CHECK_FALSE(environment::from_process().redis_sentinel_password);
  ::unsetenv("REDIS_SENTINEL_PASSWORD");
  ::unsetenv("PGPASSWORD");
}

TEST_CASE("make_undumpable: the process is no longer dumpable (checked in a child)") {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const bool before = ::prctl(PR_GET_DUMPABLE) == 1;
    const bool done = make_undumpable();
    ::_exit(before && done && ::prctl(PR_GET_DUMPABLE) == 0 ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("fleet flags: DNS and Prometheus discovery, and --prometheus alone is still status's") {
  const auto text = ok(parse({"--backend", "redis", "--file", "x", "--prometheus", "status"}));
  CHECK(text.day2.prometheus);
  CHECK(text.fleet.prometheus_url.empty());
  const auto prom = ok(parse({"--backend", "redis", "--file", "x", "--prometheus",
                              "http://prom:9090/", "--prometheus-query", "timestamp(up)",
                              "--prometheus-max-age", "30s", "--instance-timeout", "2s", "all"}));
  CHECK_FALSE(prom.day2.prometheus);
  CHECK(prom.fleet.prometheus_url == "http://prom:9090");
  CHECK(prom.fleet.prometheus_query == "timestamp(up)");
  CHECK(prom.fleet.prometheus_max_age == milliseconds(30'000));
  CHECK(prom.fleet.instance_timeout == milliseconds(2'000));
  CHECK(refused(parse({"--backend", "redis", "--file", "x", "--prometheus", "http://p:9090",
                       "--instance", "http://i/health", "all"})) ==
        "give --prometheus URL or --instance/--instances-dns, not both");
  CHECK(refused(parse({"--backend", "redis", "--file", "x", "--prometheus-query", "up", "all"})) ==
        "--prometheus-query needs --prometheus URL");
  CHECK(refused(parse({"--backend", "redis", "--file", "x", "--prometheus",
                       "http://u:Secret7@p:9090", "all"}))
            .find("Secret7") == std::string::npos);
  CHECK(refused(parse({"--instances-path", "health"})) ==
        "--instances-path wants a path starting with /");
  CHECK(refused(parse({"--instances-scheme", "ftp"})) == "--instances-scheme is http or https");
  CHECK(refused(parse({"--dns-server", "10.0.0.1"})) == "--dns-server wants HOST:PORT");
#if DUALCRED_ROTATE_HAVE_CARES
  const auto dns =
      ok(parse({"--backend", "redis", "--file", "x", "--instances-dns", "api.svc:8080",
                "--instances-dns", "_http._tcp.web.svc", "--dns-server", "127.0.0.1:5353", "all"}));
  CHECK(dns.fleet.dns_names == std::vector<std::string>{"api.svc:8080", "_http._tcp.web.svc"});
  CHECK(refused(parse({"--backend", "redis", "--file", "x", "--instances-dns", "api.svc", "all"}))
            .starts_with("--instances-dns NAME needs a port"));
  for (const char* bad : {"api.svc:http", "api.svc:0", "api.svc:70000", "api.svc:"})
    CHECK_MESSAGE(refused(parse({"--instances-dns", bad})) ==
                      "--instances-dns wants a port number, 1 to 65535",
                  bad);
#else
  CHECK(refused(parse({"--instances-dns", "api.svc:8080"})) ==
        "--instances-dns: this dualcred-rotate was built without c-ares (the cares part)");
#endif
}

TEST_SUITE_END();

}  // namespace test_cli
