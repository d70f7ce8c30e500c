// dualcred-rotate's day-2 commands as an operator runs them: init against a real PostgreSQL
// role, due --max-age 0s (rotates) and 30d (nothing), every generated password checked
// against the policy given; status --json / --prometheus / --stuck-after; init conflicts
// (exit 9) and usage errors (exit 2).
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <doctest/doctest.h>
#include <dualcred/http/curl.hpp>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/stores/vault.hpp>
#include <nlohmann/json.hpp>

#include <dualcred_testing/kv2_server.hpp>
#include <dualcred_testing/temp_dir.hpp>
#include "rotation/rotation_helpers.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_day2_command {

TEST_SUITE_BEGIN("day2_command");

using namespace dualcred;
using namespace dualcred::rotation;
using rotation_tests::pg_fixture;
using rotation_tests::redis_fixture;

namespace {

struct outcome {
  int code = -1;
  std::string out, err;
};

// Runs the tool with `args` (shell-quoted by the caller); stdout and stderr apart.
outcome tool(const std::string& args, const std::string& env = {}) {
  const char* exe = std::getenv("DUALCRED_ROTATE_TOOL");
  REQUIRE(exe != nullptr);
  testing::temp_dir dir;
  const std::string err_path = (dir.path() / "err").string();
  outcome o;
  FILE* p = ::popen((env + " " + exe + " " + args + " 2>" + err_path).c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  while (const std::size_t n = std::fread(buf, 1, sizeof buf, p)) o.out.append(buf, n);
  const int status = ::pclose(p);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (FILE* f = std::fopen(err_path.c_str(), "r")) {
    while (const std::size_t n = std::fread(buf, 1, sizeof buf, f)) o.err.append(buf, n);
    std::fclose(f);
  }
  return o;
}

// `text` as one shell word.
std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string pg_flags() {
  return "--backend postgres --pg-admin '" + pg_fixture().admin_conninfo() +
         "' --pg-host 127.0.0.1 --pg-port " + std::to_string(pg_fixture().port()) +
         " --pg-dbname postgres";
}

secret_map read_all(const std::string& path) {
  auto raw = dualcred::rotation::stores::file_store(path).read();
  REQUIRE(raw);
  return raw.value().data;
}

}  // namespace

TEST_CASE(
    "init --generate with a policy, due 0s rotates, due 30d does nothing; every "
    "password fits the policy; nothing secret printed") {
  testing::temp_dir dir;
  pg_fixture().create_login_role("day2_app", "day2-unknown-" + testing::random_token(12));
  const std::string path = (dir.path() / "db.env").string();
  const std::string spec = "length=24,lower=2,upper=2,digit=2,symbol=2,exclude='\"\\@:/ ";
  const auto policy = parse_password_policy(spec).value();
  const std::string flags =
      pg_flags() + " --file " + path + " --password-policy " + shell_quote(spec);

  std::string printed;
  auto passwords_fit = [&] {
    for (const auto& entry : read_all(path))
      if (entry.first.find("_PASS_") != std::string::npos) {
        const std::string& key = entry.first;
        const std::string_view value = entry.second.reveal();
        CHECK_MESSAGE(check_password(value, policy), key);
        CHECK_MESSAGE(printed.find(value) == std::string::npos, key << " printed");
      }
  };
  const auto init = tool(flags + " --user day2_app --generate init");
  printed += init.out + init.err;
  REQUIRE_MESSAGE(init.code == 0, (init.out + init.err));
  auto data = read_all(path);
  CHECK(data.at("DB_USER").reveal() == "day2_app");
  CHECK(data.at("DB_PASSWORD_POLICY").reveal() == policy.to_spec());
  CHECK(data.contains("DB_ROTATED_AT"));
  passwords_fit();

  // Idempotent: the same command again changes nothing.
  const auto again = tool(flags + " --user day2_app --generate init");
  printed += again.out + again.err;
  CHECK_MESSAGE(again.code == 0, (again.out + again.err));
  CHECK(again.out.find("nothing to do") != std::string::npos);
  CHECK(read_all(path) == data);

  // due 0s: a whole rotation (the policy comes from the store: no flag this time).
  const auto rotated = tool(pg_flags() + " --file " + path + " due --max-age 0s");
  printed += rotated.out + rotated.err;
  REQUIRE_MESSAGE(rotated.code == 0, (rotated.out + rotated.err));
  CHECK(rotated.out.find("due: rotated") != std::string::npos);
  const auto after = read_all(path);
  CHECK(after.at("DB_PASS_PREVIOUS") == data.at("DB_PASS_CURRENT"));
  CHECK(after.at("DB_PASS_CURRENT") == data.at("DB_PASS_NEXT"));
  passwords_fit();

  // due 30d: nothing, and the store is untouched.
  const auto idle = tool(pg_flags() + " --file " + path + " due --max-age 30d");
  printed += idle.out + idle.err;
  CHECK_MESSAGE(idle.code == 0, (idle.out + idle.err));
  CHECK(idle.out.find("due: nothing to do") != std::string::npos);
  CHECK(read_all(path) == after);

  const auto json = tool(pg_flags() + " --file " + path + " status --json --stuck-after 1h");
  printed += json.out + json.err;
  CHECK(json.code == 0);
  const auto j = nlohmann::json::parse(json.out);
  CHECK(j["phase"] == "idle");
  CHECK(j["current_user"] == "day2_app");
  CHECK(j["revision"].is_number());
  CHECK(j["rotated_at"].get<std::string>() == after.at("DB_ROTATED_AT").reveal());
  CHECK(j["phase_age_seconds"].get<long>() >= 0);
  CHECK(j["stuck"] == false);
  const auto prom = tool(pg_flags() + " --file " + path + " status --prometheus");
  printed += prom.out + prom.err;
  CHECK(prom.code == 0);
  CHECK(prom.out.find("dualcred_rotation_phase{prefix=\"DB\"") != std::string::npos);
  CHECK(prom.out.find("dualcred_rotation_current_age_seconds{") != std::string::npos);
  passwords_fit();

  // Stuck: an apply left alone; --stuck-after 0s says so with exit 11.
  REQUIRE(tool(pg_flags() + " --file " + path + " prepare").code == 0);
  REQUIRE(tool(pg_flags() + " --file " + path + " apply").code == 0);
  const auto stuck = tool(pg_flags() + " --file " + path + " status --stuck-after 0s");
  CHECK(stuck.code == 11);
  CHECK(stuck.err.find("phase applied") != std::string::npos);
  const auto finish = tool(pg_flags() + " --file " + path + " due --max-age 30d");
  CHECK_MESSAGE(finish.code == 0, (finish.out + finish.err));
  CHECK(finish.out.find("due: finished") != std::string::npos);
  printed += stuck.out + stuck.err + finish.out + finish.err;
  passwords_fit();
}

TEST_CASE("init: CURRENT from the environment or a file; conflicts exit 9; usage exit 2") {
  testing::temp_dir dir;
  const std::string pw = "day2-present-" + testing::random_token(12);
  pg_fixture().create_login_role("day2_env", pw);
  const std::string path = (dir.path() / "env.env").string();
  const std::string flags = pg_flags() + " --file " + path + " --user day2_env";

  const auto wrong = tool(flags + " init", "DUALCRED_CURRENT_PASSWORD=not-it-" + pw.substr(5));
  CHECK(wrong.code == 9);
  CHECK(wrong.err.find("DB_PASS_CURRENT") != std::string::npos);
  CHECK(wrong.err.find("not-it") == std::string::npos);
  CHECK(!std::filesystem::exists(path));

  const auto ok = tool(flags + " init", "DUALCRED_CURRENT_PASSWORD=" + pw);
  CHECK_MESSAGE(ok.code == 0, (ok.out + ok.err));
  CHECK(read_all(path).at("DB_PASS_CURRENT").reveal() == pw);
  CHECK((ok.out + ok.err).find(pw) == std::string::npos);

  const std::string file = dir.write("current", pw + "\n");
  const auto from_file = tool(flags + " --current-file " + file + " init");
  CHECK_MESSAGE(from_file.code == 0, (from_file.out + from_file.err));
  CHECK(from_file.out.find("nothing to do") != std::string::npos);

  const std::string half = dir.write("half.env", "DB_USER=day2_env\nDB_PASS_NEXT=x-next-1234\n");
  const auto h = tool(pg_flags() + " --file " + half + " --generate init");
  CHECK(h.code == 9);
  CHECK(h.err.find("DB_PASS_CURRENT") != std::string::npos);

  CHECK(tool(flags + " init").code == 2);  // no CURRENT source
  CHECK(tool(flags + " --generate --current-file " + file + " init").code == 2);
  CHECK(tool(flags + " --create-user init", "DUALCRED_CURRENT_PASSWORD=" + pw).code == 2);
  CHECK(tool(flags + " due").code == 2);                // no --max-age
  CHECK(tool(flags + " --max-age 30x due").code == 2);  // bad duration
  CHECK(tool(flags + " --json all").code == 2);         // --json is for status
  const auto impossible = tool(flags + " --password-policy length=10,digit=11 --generate init");
  CHECK(impossible.code == 2);
  CHECK(impossible.err.find("more than the length") != std::string::npos);
  const auto help = tool("--help");
  CHECK(help.out.find("11 status --stuck-after") != std::string::npos);
  CHECK(help.out.find("--password-policy SPEC") != std::string::npos);
}

TEST_CASE("init --create-user: an existing SUPERUSER is exit 2 unless --adopt-privileged-role") {
  testing::temp_dir dir;
  pg_fixture().exec("DROP ROLE IF EXISTS day2_super");
  pg_fixture().exec("CREATE ROLE day2_super LOGIN SUPERUSER PASSWORD 'day2-super-own-pw'");
  auto verifier = [] {
    return pg_fixture().exec(
        "SELECT rolpassword FROM pg_authid WHERE rolname = 'day2_super'")[0][0];
  };
  const std::string before = verifier();
  const std::string path = (dir.path() / "super.env").string();
  const std::string flags =
      pg_flags() + " --file " + path + " --user day2_super --generate --create-user";
  const auto refused = tool(flags + " init");
  CHECK(refused.code == 2);
  CHECK_MESSAGE(refused.err.find("'day2_super' already exists with SUPERUSER") != std::string::npos,
                refused.err);
  CHECK(verifier() == before);
  CHECK(!std::filesystem::exists(path));
  const auto adopted = tool(flags + " --adopt-privileged-role init");
  CHECK_MESSAGE(adopted.code == 0, (adopted.out + adopted.err));
  CHECK(verifier() != before);
  pg_fixture().exec("DROP ROLE day2_super");
}

TEST_CASE("init on Vault: DB and REDIS at one path, then all for DB keeps every REDIS key") {
  kv2test::kv2_server kv;
  const std::string db_pw = "day2-db-" + testing::random_token(12);
  const std::string rd_pw = "day2-rd-" + testing::random_token(12);
  pg_fixture().create_login_role("day2_vault", db_pw);
  redis_fixture().set_user("day2_vault", {rd_pw});
  const std::string vault_env =
      "VAULT_ADDR=" + kv.address() + " VAULT_TOKEN=" + kv2test::root_token;
  const std::string redis = "--backend redis --redis-host 127.0.0.1 --redis-port " +
                            std::to_string(redis_fixture().port()) + " --redis-admin-user " +
                            redis_fixture().admin_user();
  const auto db = tool(pg_flags() + " --vault-path mutt/prod --user day2_vault init",
                       vault_env + " DUALCRED_CURRENT_PASSWORD=" + db_pw);
  REQUIRE_MESSAGE(db.code == 0, (db.out + db.err));
  const auto rd = tool(redis + " --vault-path mutt/prod --user day2_vault init",
                       vault_env + " DUALCRED_CURRENT_PASSWORD=" + rd_pw +
                           " REDIS_ADMIN_PASSWORD=" + redis_fixture().admin_password());
  REQUIRE_MESSAGE(rd.code == 0, (rd.out + rd.err));
  const auto read = [&] {
    auto raw = dualcred::rotation::stores::vault_store<curl_transport>(curl_transport{},
                                                                       kv.config("mutt/prod"))
                   .read();
    REQUIRE(raw);
    return raw.value().data;
  };
  const auto before = read();
  const auto all = tool(pg_flags() + " --vault-path mutt/prod all", vault_env);
  REQUIRE_MESSAGE(all.code == 0, (all.out + all.err));
  const auto after = read();
  for (const auto& entry : before)
    if (entry.first.starts_with("REDIS_"))
      CHECK_MESSAGE(after.at(entry.first) == entry.second, entry.first);
  CHECK(!(after.at("DB_PASS_CURRENT") == before.at("DB_PASS_CURRENT")));
}

TEST_SUITE_END();

}  // namespace test_day2_command
