// The rotate command against the fixture servers: each step's progress line, `all`, status,
// and one exit code per failure kind, with no password in anything it prints.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <doctest/doctest.h>
#include <dualcred/rotation.hpp>

#include <dualcred_testing/temp_dir.hpp>
#include <dualcred_testing/kv2_server.hpp>
#include "rotation/helpers.hpp"

using namespace dualcred;
using namespace dualcred::rotation;
using rotation_tests::pg_fixture;
using rotation_tests::redis_fixture;

namespace {

struct outcome {
  int code = -1;
  std::string output;
};

// Runs the command with `args` (already shell-quoted where needed), stdout and stderr
// together.
outcome rotate(const std::string& args) {
  const char* exe = std::getenv("DUALCRED_EXAMPLE_ROTATE");
  REQUIRE(exe != nullptr);
  outcome out;
  FILE* p = ::popen((std::string(exe) + " " + args + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  while (const std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.output.append(buf, n);
  const int status = ::pclose(p);
  out.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

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
  auto raw = file_store(path).read();
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
  const auto down =
      rotate("--backend redis --redis-port " + std::to_string(testing::free_port()) +
             " --file " + path + " all");
  CHECK(down.code == 5);
  const auto lagging = rotate(flags + " --fleet-timeout 0.3 --instance http://127.0.0.1:" +
                              std::to_string(testing::free_port()) + "/health all");
  CHECK(lagging.code == 8);
  CHECK(lagging.output.find("instances") != std::string::npos);
  // What the failures left behind is still a consistent store that `all` finishes.
  const auto finish = rotate(flags + " all");
  CHECK_MESSAGE(finish.code == 0, finish.output);
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
  const auto weak = rotate(
      "--backend postgres --pg-admin 'host=127.0.0.1 port=" + std::to_string(pg_fixture().port()) +
      " dbname=postgres user=cmd_weak password=cmd-weak-pw' --file " + single + " all");
  CHECK(weak.code == 6);
  CHECK(weak.output.find("cmd-weak-pw") == std::string::npos);
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
