// dualcred-rotate against the fixture servers, for what it owes an operator beyond the
// runbook: server text printed escaped, its secrets kept out of core dumps, the file options
// for the Sentinel and PgBouncer passwords read strictly, one warning when Redis credentials
// leave loopback, and libpq's TLS options passed as connection keywords.
#include <fcntl.h>
#include <libpq-fe.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <dualcred/secret.hpp>

#include <dualcred_testing/scoped_env.hpp>
#include <dualcred_testing/temp_dir.hpp>
#include "pg_conninfo.hpp"
#include "rotation/rotation_helpers.hpp"

extern char** environ;

// Everything below in one namespace: the test programs are built as unity files.
namespace test_tool_hardening {

TEST_SUITE_BEGIN("tool_hardening");

using namespace dualcred;
using rotation_tests::pg_fixture;
using rotation_tests::redis_fixture;

namespace {

const auto rotate = &rotation_tests::run_rotate_tool;

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The keywords libpq reads from `conninfo`.
std::map<std::string, std::string> keywords(const secret& conninfo) {
  std::map<std::string, std::string> out;
  const std::string text(conninfo.reveal());
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(text.c_str(), &err);
  if (err != nullptr) PQfreemem(err);
  REQUIRE(opts != nullptr);
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o)
    if (o->val != nullptr) out[o->keyword] = o->val;
  PQconninfoFree(opts);
  return out;
}

// Whether the process has private, writable, anonymous memory marked MADV_DONTDUMP ("dd"
// in smaps' VmFlags): where DUALCRED_SECRET_DONTDUMP keeps secrets. The kernel marks its own
// special mappings ([vvar], [vsyscall]) "dd" too; those have names or other permissions.
bool maps_dontdump_pages(pid_t pid) {
  std::ifstream smaps("/proc/" + std::to_string(pid) + "/smaps");
  std::string line;
  bool anonymous_rw = false;
  while (std::getline(smaps, line)) {
    if (line.starts_with("VmFlags:")) {
      if (anonymous_rw && (line + " ").find(" dd ") != std::string::npos) return true;
    } else if (const auto colon = line.find(':');
               colon == std::string::npos || line.find('-') < colon) {
      // A mapping's header: "start-end perms offset dev inode [path]".
      std::istringstream fields(line);
      std::string range, perms, offset, dev, inode, path;
      fields >> range >> perms >> offset >> dev >> inode >> path;
      anonymous_rw = perms == "rw-p" && inode == "0" && path.empty();
    }
  }
  return false;
}

}  // namespace

TEST_CASE("a PostgreSQL error echoing a name with ESC and a line break comes out escaped") {
  testing::temp_dir dir;
  const std::string store = dir.write("esc.env", "DB_USER=esc_app\nDB_PASS_CURRENT=esc-seed-pw\n");
  testing::scoped_env user("PGUSER", "\x1b[2J\nFAKE"), pw("PGPASSWORD", "esc-admin-pw");
  const auto r = rotate(
      "--backend postgres --pg-admin 'host=127.0.0.1 port=" + std::to_string(pg_fixture().port()) +
      " dbname=postgres' --file " + store + " all");
  INFO(r.output);
  CHECK(r.code == 6);
  // libpq's line breaks may already be joined by the library; the ESC is the tool's to escape.
  CHECK(r.output.find("\\x1b[2J") != std::string::npos);
  CHECK(r.output.find('\x1b') == std::string::npos);
  CHECK(r.output.find("\nFAKE") == std::string::npos);
}

TEST_CASE("while the tool runs, its secrets sit in pages a core dump leaves out") {
  testing::temp_dir dir;
  redis_fixture().set_user("dd_app", {"dd-seed-password"});
  const std::string store =
      dir.write("dd.env", "REDIS_USER=dd_app\nREDIS_PASS_CURRENT=dd-seed-password\n");
  testing::scoped_env admin("REDIS_ADMIN_PASSWORD", redis_fixture().admin_password().c_str());
  const std::string port = std::to_string(redis_fixture().port());
  const std::string flags = "--backend redis --redis-host 127.0.0.1 --redis-port " + port +
                            " --redis-admin-user " + redis_fixture().admin_user() + " --file " +
                            store;
  REQUIRE(rotate(flags + " prepare").code == 0);
  // apply pauses 3 s before its change (--settle), holding CURRENT, NEXT and the admin's
  // password: long enough to look at its memory map.
  const char* exe = std::getenv("DUALCRED_ROTATE_TOOL");
  REQUIRE(exe != nullptr);
  std::vector<std::string> args{exe,
                                "--backend",
                                "redis",
                                "--redis-port",
                                port,
                                "--file",
                                store,
                                "--redis-admin-user",
                                redis_fixture().admin_user(),
                                "--settle",
                                "3",
                                "apply"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t quiet;
  posix_spawn_file_actions_init(&quiet);
  posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  REQUIRE(::posix_spawn(&pid, exe, &quiet, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&quiet);
  bool seen = false;
  for (int i = 0; i < 50 && !seen; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    seen = maps_dontdump_pages(pid);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(seen);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("--redis-sentinel-password-file and --pgbouncer-admin-password-file: strict reads") {
  testing::temp_dir dir;
  const std::string store = dir.write("f.env", "REDIS_USER=f_app\nREDIS_PASS_CURRENT=f-seed\n");
  const std::string shared = dir.write("shared-pw", "Hunter2FilePw\n", 0644);
  const std::string sentinel = "--backend redis --file " + store +
                               " --redis-sentinel 127.0.0.1:1 --redis-master m "
                               "--redis-sentinel-password-file ";
  const std::string bouncer =
      "--backend postgres --file " + store + " --pgbouncer-admin-password-file ";
  for (const std::string& args : {sentinel + shared, sentinel + dir / "missing", bouncer + shared,
                                  bouncer + dir / "missing"}) {
    CAPTURE(args);
    const auto r = rotate(args + " all");
    CHECK(r.code == 2);
    CHECK(r.output.find("-password-file") != std::string::npos);
    CHECK(r.output.find("Hunter2FilePw") == std::string::npos);
  }
  const std::string mine = dir.write("mine-pw", "Hunter2FilePw\n");
  testing::scoped_env env("REDIS_SENTINEL_PASSWORD", "Hunter2EnvPw");
  const auto both = rotate(sentinel + mine + " all");
  CHECK(both.code == 2);
  CHECK(both.output.find("REDIS_SENTINEL_PASSWORD") != std::string::npos);
  CHECK(both.output.find("Hunter2") == std::string::npos);
}

TEST_CASE("--redis-sentinel-password-file: the Sentinels are sent the file's password") {
  testing::temp_dir dir;
  const std::string store = dir.write("s.env", "REDIS_USER=s_app\nREDIS_PASS_CURRENT=s-seed\n");
  // The fixture Redis stands in for a Sentinel: it takes the login, then refuses SENTINEL.
  const std::string flags =
      "--backend redis --file " + store +
      " --redis-sentinel 127.0.0.1:" + std::to_string(redis_fixture().port()) +
      " --redis-master m --redis-sentinel-user " + redis_fixture().admin_user() +
      " --redis-sentinel-password-file ";
  const std::string right = dir.write("right", redis_fixture().admin_password() + "\n");
  const std::string wrong = dir.write("wrong", "Hunter2WrongPw\n");
  const auto in = rotate(flags + right + " all");
  INFO(in.output);
  CHECK(in.output.find("SENTINEL GET-MASTER-ADDR-BY-NAME refused") != std::string::npos);
  CHECK(in.output.find("WRONGPASS") == std::string::npos);
  CHECK(in.output.find(redis_fixture().admin_password()) == std::string::npos);
  const auto out = rotate(flags + wrong + " all");
  INFO(out.output);
  CHECK(out.output.find("WRONGPASS") != std::string::npos);
  CHECK(out.output.find("Hunter2WrongPw") == std::string::npos);
}

TEST_CASE("one warning when a Redis credential goes to a node off loopback") {
  testing::temp_dir dir;
  const std::string store = dir.write("w.env", "REDIS_USER=w_app\nREDIS_PASS_CURRENT=w-seed\n");
  const std::string port = std::to_string(testing::free_port());
  // 0.0.0.0 reaches this host yet is not loopback: the warning, then a refused connection.
  const auto off = rotate("--backend redis --redis-host 0.0.0.0 --redis-port " + port + " --file " +
                          store + " all");
  INFO(off.output);
  CHECK(off.code == 5);
  CHECK(count(off.output, "warning: Redis credentials go in clear to 0.0.0.0:" + port) == 1);
  const auto on = rotate("--backend redis --redis-host 127.0.0.1 --redis-port " + port +
                         " --file " + store + " all");
  CHECK(on.code == 5);
  CHECK(on.output.find("warning") == std::string::npos);
}

TEST_CASE("--pg-sslmode and --pg-sslrootcert reach the admin as connection keywords") {
  const auto plain = keywords(
      dualcred_rotate::admin_conninfo(secret("host=db user=rotator password='it\\'s'"),
                                      dualcred_rotate::pg_sslmode::require, "/etc/ca's.pem"));
  CHECK(plain.at("host") == "db");
  CHECK(plain.at("user") == "rotator");
  CHECK(plain.at("password") == "it's");
  CHECK(plain.at("sslmode") == "require");
  CHECK(plain.at("sslrootcert") == "/etc/ca's.pem");
  const auto own = keywords(dualcred_rotate::admin_conninfo(
      secret("postgresql://rotator@db:5433/app?sslmode=verify-full"),
      dualcred_rotate::pg_sslmode::disable, ""));
  CHECK(own.at("sslmode") == "verify-full");
  CHECK(own.at("port") == "5433");
  CHECK(own.at("dbname") == "app");
  CHECK(
      keywords(dualcred_rotate::admin_conninfo(secret(""), dualcred_rotate::pg_sslmode::prefer, ""))
          .at("sslmode") == "prefer");
  const secret untouched("host=db");
  CHECK(dualcred_rotate::admin_conninfo(untouched, dualcred_rotate::pg_sslmode::unset, "") ==
        untouched);
}

TEST_SUITE_END();

}  // namespace test_tool_hardening
