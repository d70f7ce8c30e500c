// dualcred-rotate against the fixture servers: each step's progress line, `all`, status,
// and one exit code per failure kind, with no password in anything it prints.
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <doctest/doctest.h>
#include <dualcred/rotation.hpp>

#include <dualcred_testing/kv2_server.hpp>
#include <dualcred_testing/scoped_env.hpp>
#include <dualcred_testing/temp_dir.hpp>
#include "rotation/rotation_helpers.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_rotate_command {

TEST_SUITE_BEGIN("rotate_command");

using namespace dualcred;
using namespace dualcred::rotation;
using rotation_tests::pg_fixture;
using rotation_tests::redis_fixture;

namespace {

using outcome = rotation_tests::tool_outcome;
const auto rotate = &rotation_tests::run_rotate_tool;

std::string redis_flags() {
  return "--backend redis --redis-host 127.0.0.1 --redis-port " +
         std::to_string(redis_fixture().port()) + " --redis-admin-user " +
         redis_fixture().admin_user();
}

std::string pg_flags() {
  return "--backend postgres --pg-admin '" + pg_fixture().admin_conninfo() +
         "' --pg-host 127.0.0.1 --pg-port " + std::to_string(pg_fixture().port()) +
         " --pg-dbname postgres";
}

// No value of the store appears in `text`.
void no_secrets(const std::string& path, const std::string& text) {
  auto raw = dualcred::rotation::stores::file_store(path).read();
  REQUIRE(raw);
  for (const auto& entry : raw.value().data)
    if (entry.first.find("PASS") != std::string::npos)
      CHECK_MESSAGE(text.find(entry.second.reveal()) == std::string::npos,
                    entry.first << " leaked");
}

struct admin_password_env {
  explicit admin_password_env(const std::string& pw) {
    ::setenv("REDIS_ADMIN_PASSWORD", pw.c_str(), 1);
  }
  ~admin_password_env() { ::unsetenv("REDIS_ADMIN_PASSWORD"); }
};

}  // namespace

TEST_CASE("rotate --help documents every exit code; bad usage is exit 2") {
  const auto help = rotate("--help");
  CHECK(help.code == 0);
  for (const char* code :
       {"0 done", "2 usage", "3 store", "4 check-and-set", "5 backend", "6 backend refused",
        "7 the new credential", "8 instances", "9 the step"})
    CHECK_MESSAGE(help.output.find(code) != std::string::npos, code);
  CHECK(rotate("all").code == 2);
  CHECK(rotate("--backend redis --store file all").code == 2);
  CHECK(rotate("--backend redis --file x.env frobnicate").code == 2);
  CHECK(rotate("--backend mysql --file x.env all").code == 2);
}

TEST_CASE("rotate: Redis with a file store, step by step and all, exit codes per failure") {
  testing::temp_dir dir;
  redis_fixture().set_user("cmd", {"cmd-seed-password"});
  const std::string path =
      dir.write("app.env", "REDIS_USER=cmd\nREDIS_PASS_CURRENT=cmd-seed-password\n");
  admin_password_env env(redis_fixture().admin_password());
  const std::string flags = redis_flags() + " --file " + path;

  const auto early = rotate(flags + " promote");
  CHECK(early.code == 9);
  CHECK(early.output.find("apply") != std::string::npos);
  std::string all_output;
  for (const char* s : {"prepare", "apply", "promote", "verify", "decommission"}) {
    const auto r = rotate(flags + " " + s);
    CHECK_MESSAGE(r.code == 0, r.output);
    CHECK(r.output.find(std::string("rotate: ") + s + ": ") != std::string::npos);
    all_output += r.output;
  }
  const auto all = rotate(flags + " all");
  CHECK_MESSAGE(all.code == 0, all.output);
  CHECK(all.output.find("done (5 steps)") != std::string::npos);
  all_output += all.output;
  const auto status = rotate(flags + " status");
  CHECK(status.code == 0);
  CHECK(status.output.find("phase=idle revision=9 current_user=cmd") != std::string::npos);
  no_secrets(path, all_output + status.output);

  const auto back = rotate(flags + " rollback");
  CHECK_MESSAGE(back.code == 0, back.output);
  const auto again = rotate(flags + " rollback");
  CHECK(again.code == 9);
  CHECK(again.output.find("PREVIOUS") != std::string::npos);

  CHECK(rotate(redis_flags() + " --file " + dir / "nowhere/app.env all").code == 3);
  {
    admin_password_env wrong("not-the-admin-password");
    const auto refused = rotate(flags + " all");
    CHECK(refused.code == 6);
    CHECK(refused.output.find("not-the-admin-password") == std::string::npos);
  }
  const auto down = rotate("--backend redis --redis-port " + std::to_string(testing::free_port()) +
                           " --file " + path + " all");
  CHECK(down.code == 5);
  const auto lagging = rotate(flags + " --fleet-timeout 0.3 --instance http://127.0.0.1:" +
                              std::to_string(testing::free_port()) + "/health all");
  CHECK(lagging.code == 8);
  CHECK(lagging.output.find("instances") != std::string::npos);
  // What the failures left behind is still a consistent store that `all` finishes.
  // A duration with a fraction arrives as the milliseconds it says.
  const auto finish = rotate(flags + " --settle 0.25 all");
  CHECK_MESSAGE(finish.code == 0, finish.output);
  CHECK(finish.output.find("settling for 250 ms") != std::string::npos);
}

TEST_CASE("rotate: PostgreSQL single role and alternating roles") {
  testing::temp_dir dir;
  pg_fixture().create_login_role("cmd_single", "cmd-single-seed");
  const std::string single =
      dir.write("single.env", "DB_USER=cmd_single\nDB_PASS_CURRENT=cmd-single-seed\n");
  const auto r1 = rotate(pg_flags() + " --file " + single + " all");
  CHECK_MESSAGE(r1.code == 0, r1.output);
  no_secrets(single, r1.output);

  pg_fixture().create_login_role("cmd_a", "cmd-a-seed");
  pg_fixture().create_login_role("cmd_b", "cmd-b-unused");
  const std::string alt = dir.write("alt.env", "DB_USER=cmd_a\nDB_PASS_CURRENT=cmd-a-seed\n");
  const auto r2 = rotate(pg_flags() + " --pg-strategy alternating --pg-roles cmd_a,cmd_b --file " +
                         alt + " all");
  CHECK_MESSAGE(r2.code == 0, r2.output);
  CHECK(rotate(pg_flags() + " --file " + alt + " status").output.find("current_user=cmd_b") !=
        std::string::npos);
  CHECK(rotate(pg_flags() + " --pg-strategy alternating --file " + alt + " all").code == 2);

  pg_fixture().create_login_role("cmd_weak", "cmd-weak-pw");
  const std::string weak_admin =
      dir.write("weak.conninfo", "host=127.0.0.1 port=" + std::to_string(pg_fixture().port()) +
                                     " dbname=postgres user=cmd_weak password=cmd-weak-pw\n");
  const auto weak =
      rotate("--backend postgres --pg-admin-file " + weak_admin + " --file " + single + " all");
  CHECK(weak.code == 6);
  CHECK(weak.output.find("cmd-weak-pw") == std::string::npos);
}

TEST_CASE("rotate: PostgreSQL down is exit 5 whichever command finds it (verify, init, all)") {
  testing::temp_dir dir;
  const std::string port = std::to_string(testing::free_port());
  const std::string flags = "--backend postgres --pg-admin 'host=127.0.0.1 port=" + port +
                            " dbname=postgres user=nobody' --pg-host 127.0.0.1 --pg-port " + port +
                            " --pg-dbname postgres --file ";
  const std::string seeded = "DB_USER=cmd_down\nDB_PASS_CURRENT=cmd-down-seed\n";
  const std::string path = dir.write("down.env", seeded);
  // verify logs in with CURRENT: the login never reaches a server, so nothing was refused.
  const auto verify = rotate(flags + path + " verify");
  CHECK_MESSAGE(verify.code == 5, verify.output);
  const auto all = rotate(flags + path + " all");
  CHECK_MESSAGE(all.code == 5, all.output);
  {
    testing::scoped_env current("DUALCRED_CURRENT_PASSWORD", "cmd-down-seed");
    const auto init = rotate(flags + (dir / "fresh.env") + " init --user cmd_down");
    CHECK_MESSAGE(init.code == 5, init.output);
  }
  CHECK(!std::filesystem::exists(dir / "fresh.env"));
}

TEST_CASE("rotate: Vault store from VAULT_ADDR and VAULT_TOKEN") {
  kv2test::kv2_server s;
  redis_fixture().set_user("cmd_vault", {"cmd-vault-seed"});
  REQUIRE(s.put("svc/cache",
                R"({"REDIS_USER":"cmd_vault","REDIS_PASS_CURRENT":"cmd-vault-seed"})") < 300);
  ::setenv("VAULT_ADDR", s.address().c_str(), 1);
  ::setenv("VAULT_TOKEN", kv2test::root_token.c_str(), 1);
  admin_password_env env(redis_fixture().admin_password());
  const auto r = rotate(redis_flags() + " --store vault --vault-path svc/cache all");
  CHECK_MESSAGE(r.code == 0, r.output);
  CHECK(r.output.find("Vault secret/svc/cache") != std::string::npos);
  CHECK(r.output.find(kv2test::root_token) == std::string::npos);
  ::setenv("VAULT_TOKEN", "wrong-token", 1);
  CHECK(rotate(redis_flags() + " --store vault --vault-path svc/cache all").code == 3);
  ::unsetenv("VAULT_ADDR");
  ::unsetenv("VAULT_TOKEN");
}

// No secret on the command line (ps, /proc/PID/cmdline and shell history show it),
// in any spelling libpq accepts; a malformed connection string is refused without quoting it.
TEST_CASE("rotate: --pg-admin holding a password is a usage error naming the flag, not the value") {
  testing::temp_dir dir;
  const std::string store =
      dir.write("db.env", "DB_USER=cmd_argv\nDB_PASS_CURRENT=cmd-argv-seed\n");
  const std::string port = std::to_string(pg_fixture().port());
  for (const std::string& conninfo :
       {"host=127.0.0.1 port=" + port + " user=postgres password=Hunter2Argv",
        "host=127.0.0.1 port=" + port + " user=postgres sslpassword=Hunter2Argv",
        "postgresql://postgres:Hunter2Argv@127.0.0.1:" + port + "/postgres",
        "postgres://postgres@127.0.0.1:" + port + "/postgres?password=Hunter2Argv",
        "dbname=postgresql://postgres:Hunter2Argv@127.0.0.1:" + port + "/postgres"}) {
    CAPTURE(conninfo);
    const auto r =
        rotate("--backend postgres --pg-admin '" + conninfo + "' --file " + store + " status");
    CHECK(r.code == 2);
    CHECK(r.output.find("--pg-admin") != std::string::npos);
    CHECK(r.output.find("Hunter2Argv") == std::string::npos);
  }
  // libpq's parse errors quote the text they choke on; the tool must not pass them on, nor
  // reach the step that would parse it again (`all`).
  for (const std::string& conninfo :
       {std::string("password=Hunter2Argv SuperSecretTail"),
        std::string("postgresql://rotator:Hunter2%zzSecretTail@127.0.0.1/postgres")}) {
    CAPTURE(conninfo);
    const auto r =
        rotate("--backend postgres --pg-admin '" + conninfo + "' --file " + store + " all");
    CHECK(r.code == 2);
    CHECK(r.output.find("--pg-admin") != std::string::npos);
    CHECK(r.output.find("Hunter2") == std::string::npos);
    CHECK(r.output.find("SecretTail") == std::string::npos);
  }
}

// A word in the wrong place may be a password: usage errors name the flag or the slot, never
// echo the word.
TEST_CASE("rotate: usage errors do not echo a value given in the wrong place") {
  for (const char* args : {"--backend redis --file x.env Hunter2Word",
                           "'--pg-admin=host=127.0.0.1 password=Hunter2Word' --file x.env all",
                           "--backend redis --file x.env all '--redis-host=Hunter2Word'"}) {
    CAPTURE(args);
    const auto r = rotate(args);
    CHECK(r.code == 2);
    CHECK(r.output.find("Hunter2Word") == std::string::npos);
  }
}

TEST_CASE("rotate: the PostgreSQL admin's password from libpq's environment or a private file") {
  testing::temp_dir dir;
  pg_fixture().create_login_role("cmd_rotator", "cmd-rotator-pw");
  pg_fixture().exec("ALTER ROLE cmd_rotator CREATEROLE");
  const std::string port = std::to_string(pg_fixture().port());
  const std::string clients = " --pg-host 127.0.0.1 --pg-port " + port + " --pg-dbname postgres";

  SUBCASE("PGHOST, PGUSER, PGPASSWORD") {
    pg_fixture().create_login_role("cmd_env", "cmd-env-seed");
    const std::string store =
        dir.write("env.env", "DB_USER=cmd_env\nDB_PASS_CURRENT=cmd-env-seed\n");
    testing::scoped_env host("PGHOST", "127.0.0.1"), pgport("PGPORT", port.c_str()),
        user("PGUSER", "cmd_rotator"), pw("PGPASSWORD", "cmd-rotator-pw"),
        db("PGDATABASE", "postgres");
    const auto r = rotate("--backend postgres --file " + store + " all");
    CHECK_MESSAGE(r.code == 0, r.output);
    CHECK(r.output.find("cmd-rotator-pw") == std::string::npos);
    no_secrets(store, r.output);
  }
  SUBCASE("--pg-admin-file: a private regular file, password allowed") {
    pg_fixture().create_login_role("cmd_file", "cmd-file-seed");
    const std::string store =
        dir.write("file.env", "DB_USER=cmd_file\nDB_PASS_CURRENT=cmd-file-seed\n");
    const std::string conninfo = "host=127.0.0.1 port=" + port +
                                 " dbname=postgres user=cmd_rotator password=cmd-rotator-pw\n";
    const std::string admin = dir.write("admin.conninfo", conninfo);
    const auto r = rotate("--backend postgres --pg-admin-file " + admin + clients + " --file " +
                          store + " all");
    CHECK_MESSAGE(r.code == 0, r.output);
    CHECK(r.output.find("cmd-rotator-pw") == std::string::npos);
    no_secrets(store, r.output);

    // Refused, naming the flag: readable by others, a symlink, a directory, missing, both
    // flags, and a file that is not a connection string (not quoted back).
    const std::string shared = dir.write("shared.conninfo", conninfo, 0644);
    std::filesystem::create_symlink(admin, dir / "link.conninfo");
    std::filesystem::create_directory(dir / "a-directory");
    const std::string garbage =
        dir.write("garbage.conninfo", "password=cmd-rotator-pw GarbageTail\n");
    for (const std::string& bad :
         {"--pg-admin-file " + shared, "--pg-admin-file " + dir / "link.conninfo",
          "--pg-admin-file " + dir / "a-directory", "--pg-admin-file " + dir / "missing",
          "--pg-admin-file " + admin + " --pg-admin host=127.0.0.1",
          "--pg-admin-file " + garbage}) {
      CAPTURE(bad);
      const auto refused = rotate("--backend postgres " + bad + " --file " + store + " status");
      CHECK(refused.code == 2);
      CHECK(refused.output.find("--pg-admin") != std::string::npos);
      CHECK(refused.output.find("cmd-rotator-pw") == std::string::npos);
      CHECK(refused.output.find("GarbageTail") == std::string::npos);
    }
  }
}

TEST_CASE("rotate: Redis admin password and Vault token from private files, never argv") {
  testing::temp_dir dir;
  redis_fixture().set_user("cmd_pwfile", {"cmd-pwfile-seed"});
  const std::string store =
      dir.write("app.env", "REDIS_USER=cmd_pwfile\nREDIS_PASS_CURRENT=cmd-pwfile-seed\n");
  const std::string pw_file = dir.write("redis-admin", redis_fixture().admin_password() + "\n");
  testing::scoped_env no_env_password("REDIS_ADMIN_PASSWORD", nullptr);
  const auto r = rotate(redis_flags() + " --redis-admin-password-file " + pw_file + " --file " +
                        store + " all");
  CHECK_MESSAGE(r.code == 0, r.output);
  CHECK(r.output.find(redis_fixture().admin_password()) == std::string::npos);
  ::chmod(pw_file.c_str(), 0640);
  const auto shared = rotate(redis_flags() + " --redis-admin-password-file " + pw_file +
                             " --file " + store + " all");
  CHECK(shared.code == 2);
  CHECK(shared.output.find("--redis-admin-password-file") != std::string::npos);
  CHECK(shared.output.find(redis_fixture().admin_password()) == std::string::npos);

  kv2test::kv2_server s;
  redis_fixture().set_user("cmd_tokfile", {"cmd-tokfile-seed"});
  REQUIRE(s.put("svc/tokfile",
                R"({"REDIS_USER":"cmd_tokfile","REDIS_PASS_CURRENT":"cmd-tokfile-seed"})") < 300);
  const std::string token_file = dir.write("vault-token", kv2test::root_token + "\n");
  testing::scoped_env addr("VAULT_ADDR", s.address().c_str()), token("VAULT_TOKEN", nullptr);
  testing::scoped_env admin_pw("REDIS_ADMIN_PASSWORD", redis_fixture().admin_password().c_str());
  const std::string vault_flags = redis_flags() + " --store vault --vault-path svc/tokfile";
  const auto v = rotate(vault_flags + " --vault-token-file " + token_file + " all");
  CHECK_MESSAGE(v.code == 0, v.output);
  CHECK(v.output.find(kv2test::root_token) == std::string::npos);
  ::chmod(token_file.c_str(), 0604);
  const auto open_token = rotate(vault_flags + " --vault-token-file " + token_file + " status");
  CHECK(open_token.code == 2);
  CHECK(open_token.output.find("--vault-token-file") != std::string::npos);
}

// A health endpoint's URL with user info would put a password on the
// command line and into the fleet's messages.
TEST_CASE("rotate: --instance with user:password@ is refused without printing it") {
  testing::temp_dir dir;
  const std::string store =
      dir.write("app.env", "REDIS_USER=cmd_inst\nREDIS_PASS_CURRENT=cmd-inst-seed\n");
  redis_fixture().set_user("cmd_inst", {"cmd-inst-seed"});
  testing::scoped_env env("REDIS_ADMIN_PASSWORD", redis_fixture().admin_password().c_str());
  const std::string port = std::to_string(testing::free_port());
  for (const std::string& url :
       {"http://watcher:Hunter2Fleet@127.0.0.1:" + port + "/health",
        "https://watcher:Hunter2Fleet@127.0.0.1:" + port + "/health", std::string("ftp://host/x"),
        std::string("127.0.0.1:8080/health")}) {
    CAPTURE(url);
    const auto r = rotate(redis_flags() + " --fleet-timeout 0.3 --instance '" + url + "' --file " +
                          store + " all");
    CHECK(r.code == 2);
    CHECK(r.output.find("--instance") != std::string::npos);
    CHECK(r.output.find("Hunter2Fleet") == std::string::npos);
  }
}

// Casting `--settle inf` to an integer is undefined behaviour. Every numeric flag and
// environment variable takes only plain, finite, bounded decimals; the error names the flag.
TEST_CASE("rotate: every numeric flag refuses inf, nan, huge, negative, hex, empty and garbage") {
  testing::temp_dir dir;
  const std::string store =
      dir.write("app.env", "REDIS_USER=cmd_num\nREDIS_PASS_CURRENT=cmd-num-seed\n");
  const std::string base = "--backend redis --file " + store;
  for (const char* flag :
       {"--pg-port", "--redis-port", "--password-length", "--settle", "--fleet-timeout"}) {
    for (const char* value : {"inf", "-inf", "nan", "1e400", "-1", "99999999999", "0x10", "", "5x",
                              " 5", "5 ", "+5", "1.5.2", "1e3", "infinity", "0x1p4"}) {
      CAPTURE(flag);
      CAPTURE(value);
      const auto r = rotate(base + " " + flag + " '" + value + "' status");
      CHECK(r.code == 2);
      CHECK(r.output.find(flag) != std::string::npos);
    }
  }
  // Out of each flag's own bounds.
  for (const char* bad :
       {"--pg-port 0", "--redis-port 65536", "--password-length 15", "--password-length 1025",
        "--settle 3601", "--settle 2h", "--fleet-timeout 0", "--fleet-timeout 2d"}) {
    CAPTURE(bad);
    CHECK(rotate(base + " " + bad + " status").code == 2);
  }
  for (const char* var : {"PGPORT", "REDIS_PORT"}) {
    CAPTURE(var);
    testing::scoped_env env(var, "inf");
    const auto r = rotate(base + " status");
    CHECK(r.code == 2);
    CHECK(r.output.find(var) != std::string::npos);
  }
  // Good values still work: plain numbers, fractions and units.
  const auto ok = rotate(base +
                         " --pg-port 5432 --redis-port 6379 --password-length 16 --settle "
                         "0.25 --fleet-timeout 2m status");
  CHECK_MESSAGE(ok.code == 0, ok.output);
}

// sslmode reaches both the admin's connection and verify's.
TEST_CASE(
    "rotate: --pg-sslmode and PGSSLMODE; require against a server without TLS fails clearly") {
  testing::temp_dir dir;
  pg_fixture().create_login_role("cmd_tls_admin", "cmd-tls-admin-pw");
  pg_fixture().exec("ALTER ROLE cmd_tls_admin CREATEROLE");
  pg_fixture().create_login_role("cmd_tls", "cmd-tls-seed");
  const std::string store = dir.write("tls.env", "DB_USER=cmd_tls\nDB_PASS_CURRENT=cmd-tls-seed\n");
  const std::string port = std::to_string(pg_fixture().port());
  testing::scoped_env host("PGHOST", "127.0.0.1"), pgport("PGPORT", port.c_str()),
      user("PGUSER", "cmd_tls_admin"), pw("PGPASSWORD", "cmd-tls-admin-pw"),
      db("PGDATABASE", "postgres");
  const std::string base = "--backend postgres --file " + store;

  const auto flag = rotate(base + " --pg-sslmode require all");
  CHECK(flag.code == 5);
  CHECK_MESSAGE(flag.output.find("SSL") != std::string::npos, flag.output);
  {
    testing::scoped_env mode("PGSSLMODE", "require");
    const auto env = rotate(base + " all");
    CHECK(env.code == 5);
    CHECK_MESSAGE(env.output.find("SSL") != std::string::npos, env.output);
  }
  CHECK(rotate(base + " --pg-sslmode sometimes status").code == 2);
  // Nothing changed on the way: the store still has only CURRENT, and disable rotates.
  const auto plain = rotate(base + " --pg-sslmode disable all");
  CHECK_MESSAGE(plain.code == 0, plain.output);

  // The admin on the Unix socket (where libpq does no TLS), so it is verify's login over TCP,
  // through dualcred::pg::params::sslmode, that requires TLS and fails: exit 7, saying why.
  pg_fixture().create_login_role("cmd_tls_verify", "cmd-tls-verify-seed");
  const std::string verify_store =
      dir.write("verify.env", "DB_USER=cmd_tls_verify\nDB_PASS_CURRENT=cmd-tls-verify-seed\n");
  const auto verify = rotate(pg_flags() + " --pg-sslmode require --file " + verify_store + " all");
  CHECK(verify.code == 7);
  CHECK_MESSAGE(verify.output.find("SSL") != std::string::npos, verify.output);
  const auto finish = rotate(pg_flags() + " --file " + verify_store + " all");
  CHECK_MESSAGE(finish.code == 0, finish.output);
}

// VAULT_CACERT reaches curl as the Vault CLI's does. A CA file that is
// not there fails before any connection (curl's "CA cert" error), instead of the handshake
// against the plain-HTTP test server.
TEST_CASE("rotate: VAULT_CACERT is the CA bundle curl trusts for VAULT_ADDR") {
  kv2test::kv2_server s;
  testing::temp_dir dir;
  std::string https = s.address();
  REQUIRE(https.starts_with("http://"));
  https.replace(0, 4, "https");
  testing::scoped_env addr("VAULT_ADDR", https.c_str()),
      token("VAULT_TOKEN", kv2test::root_token.c_str()),
      ca("VAULT_CACERT", (dir / "no-such-ca.pem").c_str());
  const auto r = rotate(redis_flags() + " --store vault --vault-path svc/ca status");
  CHECK(r.code == 3);
  CHECK_MESSAGE(r.output.find("CA cert") != std::string::npos, r.output);
  CHECK(r.output.find(kv2test::root_token) == std::string::npos);
}

TEST_SUITE_END();

}  // namespace test_rotate_command
