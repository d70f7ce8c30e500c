#pragma once

// A throwaway PostgreSQL server for tests, benchmarks and demos.
//
// It runs from a fresh temporary directory on a free 127.0.0.1 port, is ready when its
// constructor returns, and is stopped (and its directory removed) by its destructor; the
// kernel kills it if this process dies first (see process.hpp). Errors throw
// std::runtime_error with the tail of the server's log.
//
//     dualcred::testing::postgres_server pg;
//     pg.exec("CREATE ROLE app LOGIN PASSWORD " + pg.quote_literal("pw"));
//
// Running as root, PostgreSQL runs as the `postgres` user (or `nobody` when there is none).
// Binaries: $DUALCRED_PG_BINDIR, else the newest /usr/lib/postgresql/*/bin (Debian),
// /usr/pgsql-*/bin (RHEL), then $PATH.

#include <libpq-fe.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <dualcred_testing/process.hpp>
#include <dualcred_testing/temp_dir.hpp>

namespace dualcred::testing {

namespace detail {

// Whom to run the server as: nobody special unless we are root, whom PostgreSQL refuses.
inline run_as postgres_user() {
  run_as who;
  if (::geteuid() != 0) return who;
  for (const char* name : {"postgres", "nobody"}) {
    if (const passwd* pw = ::getpwnam(name)) {
      who.switch_user = true;
      who.uid = pw->pw_uid;
      who.gid = pw->pw_gid;
      who.name = name;
      return who;
    }
  }
  throw std::runtime_error("running as root, but there is no postgres or nobody user");
}

// Where initdb and postgres live. `pg_config --bindir` names the client's directory, which
// on Debian need not hold the server, so look for the server binaries themselves.
inline std::filesystem::path postgres_bindir() {
  if (const char* env = std::getenv("DUALCRED_PG_BINDIR"); env && *env) return env;
  std::vector<std::pair<int, std::filesystem::path>> found;
  for (const char* root : {"/usr/lib/postgresql", "/usr"}) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
      const std::string name = entry.path().filename().string();
      std::filesystem::path bin;
      int version = 0;
      if (std::string_view(root) == "/usr/lib/postgresql") {
        bin = entry.path() / "bin";
        version = std::atoi(name.c_str());
      } else if (name.starts_with("pgsql-")) {  // RHEL: /usr/pgsql-16/bin
        bin = entry.path() / "bin";
        version = std::atoi(name.c_str() + 6);
      } else {
        continue;
      }
      if (::access((bin / "initdb").c_str(), X_OK) == 0 &&
          ::access((bin / "postgres").c_str(), X_OK) == 0)
        found.emplace_back(version, bin);
    }
  }
  if (!found.empty()) return std::max_element(found.begin(), found.end())->second;
  const std::filesystem::path initdb = find_in_path("initdb");
  if (!initdb.empty()) return initdb.parent_path();
  throw std::runtime_error(
      "PostgreSQL server binaries not found: install postgresql or set DUALCRED_PG_BINDIR");
}

}  // namespace detail

/// One `postgres` process over a data directory in its own temporary directory, on a free
/// 127.0.0.1 port and a private Unix socket (trust: the admin path): what a primary and a
/// standby share. `make` fills the data directory (initdb, pg_basebackup) as the server's
/// user; `settings` are added to the common ones.
class postgres_instance {
 public:
  // As root the server runs as another user, who may not reach root's $TMPDIR: use /tmp.
  postgres_instance(const char* name, std::vector<std::string> settings)
      : who_(detail::postgres_user()),
        dir_(name, who_.switch_user ? "/tmp" : ""),
        bindir_(detail::postgres_bindir()),
        settings_(std::move(settings)) {
    if (who_.switch_user && ::chown(dir_.path().c_str(), who_.uid, who_.gid) != 0)
      throw std::runtime_error("cannot chown " + dir_.path().string() + " to " + who_.name);
    port_ = free_port();
  }
  postgres_instance(const postgres_instance&) = delete;
  postgres_instance& operator=(const postgres_instance&) = delete;
  ~postgres_instance() { stop(); }

  [[nodiscard]] std::string host() const { return "127.0.0.1"; }
  [[nodiscard]] int port() const noexcept { return port_; }
  /// The superuser `postgres` over the Unix socket (trust): for setup, not for tests of login.
  [[nodiscard]] std::string admin_conninfo() const {
    return "host=" + dir_.path().string() + " port=" + std::to_string(port_) +
           " user=postgres dbname=postgres connect_timeout=10";
  }
  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_.path(); }
  [[nodiscard]] std::filesystem::path data_dir() const { return dir_.path() / "data"; }
  [[nodiscard]] std::filesystem::path log_path() const { return dir_.path() / "server.log"; }
  [[nodiscard]] bool running() { return proc_.running(); }

  /// Starts the server (again) on the same port and data; returns once it accepts logins.
  void start() {
    if (proc_.running()) return;
    std::vector<std::string> argv{(bindir_ / "postgres").string(), "-D", data_dir().string(), "-p",
                                  std::to_string(port_)};
    for (const std::string& setting :
         {std::string("listen_addresses=127.0.0.1"),
          "unix_socket_directories=" + dir_.path().string(), std::string("fsync=off"),
          std::string("max_connections=100"), std::string("shared_buffers=16MB"),
          std::string("dynamic_shared_memory_type=mmap"), std::string("huge_pages=off")})
      argv.insert(argv.end(), {"-c", setting});
    for (const std::string& setting : settings_) argv.insert(argv.end(), {"-c", setting});
    proc_ = child(argv, log_path(), who_, dir_.path());
    const std::string conninfo = admin_conninfo();
    wait_until([&] { return PQping(conninfo.c_str()) == PQPING_OK; }, proc_, log_path(),
               "postgres");
  }
  /// Fast shutdown: connections are closed, the data is kept for `start()`.
  void stop() { proc_.stop(SIGINT, std::chrono::seconds(30)); }
  /// Immediate shutdown (SIGQUIT), as a crash: `start()` then runs crash recovery.
  void crash() { proc_.stop(SIGQUIT, std::chrono::seconds(30)); }

  /// Runs SQL as the superuser; returns the first result's rows as text (NULL as "").
  std::vector<std::vector<std::string>> exec(const std::string& sql) const {
    std::unique_ptr<PGconn, void (*)(PGconn*)> conn(PQconnectdb(admin_conninfo().c_str()),
                                                    PQfinish);
    if (PQstatus(conn.get()) != CONNECTION_OK)
      throw std::runtime_error(std::string("admin connect failed: ") + PQerrorMessage(conn.get()));
    std::unique_ptr<PGresult, void (*)(PGresult*)> res(PQexec(conn.get(), sql.c_str()), PQclear);
    const auto st = PQresultStatus(res.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
      throw std::runtime_error(std::string("admin SQL failed: ") + PQerrorMessage(conn.get()));
    std::vector<std::vector<std::string>> rows;
    for (int r = 0; r < PQntuples(res.get()); ++r) {
      auto& row = rows.emplace_back();
      for (int c = 0; c < PQnfields(res.get()); ++c) row.emplace_back(PQgetvalue(res.get(), r, c));
    }
    return rows;
  }

 protected:
  /// Runs one of PostgreSQL's programs (`program` in the server's bindir) as the server's
  /// user, to make the data directory; throws with its log when it fails.
  void make(const char* program, std::vector<std::string> args) {
    args.insert(args.begin(), (bindir_ / program).string());
    child run(args, log_path(), who_, dir_.path());
    if (run.wait() != 0)
      throw std::runtime_error(std::string(program) + " failed; log:\n" + read_tail(log_path()));
  }

 private:
  run_as who_;
  temp_dir dir_;
  std::filesystem::path bindir_;
  std::vector<std::string> settings_;
  int port_ = 0;
  child proc_;
};

/// A throwaway PostgreSQL: `initdb` with scram-sha-256 for TCP and trust on its private Unix
/// socket (the admin path), listening on 127.0.0.1 only.
class postgres_server : public postgres_instance {
 public:
  postgres_server()
      : postgres_instance("dualcred-pg", {"synchronous_commit=off", "full_page_writes=off",
                                          "password_encryption=scram-sha-256"}) {
    make("initdb", {"-D", data_dir().string(), "-U", "postgres", "-E", "UTF8", "--no-locale",
                    "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256"});
    start();
  }

  /// `'text'` as a SQL string literal, quotes and backslashes escaped.
  [[nodiscard]] static std::string quote_literal(const std::string& text) {
    std::string out = "E'";
    for (const char c : text) {
      if (c == '\'' || c == '\\') out += c;
      out += c;
    }
    return out + "'";
  }
  /// `"name"` as a SQL identifier.
  [[nodiscard]] static std::string quote_ident(const std::string& name) {
    std::string out = "\"";
    for (const char c : name) {
      if (c == '"') out += c;
      out += c;
    }
    return out + "\"";
  }

  /// Creates a login role with this password, or resets it when the role exists.
  void create_login_role(const std::string& role, const std::string& password) const {
    const auto rows = exec("SELECT 1 FROM pg_roles WHERE rolname = " + quote_literal(role));
    exec((rows.empty() ? "CREATE ROLE " : "ALTER ROLE ") + quote_ident(role) + " LOGIN PASSWORD " +
         quote_literal(password));
  }
  /// `ALTER ROLE role PASSWORD 'password'`: from now on only this password logs in.
  void set_password(const std::string& role, const std::string& password) const {
    exec("ALTER ROLE " + quote_ident(role) + " PASSWORD " + quote_literal(password));
  }
};

/// One server for the whole test program, started on first use, stopped at exit.
inline postgres_server& shared_postgres_server() {
  static postgres_server server;
  return server;
}

}  // namespace dualcred::testing
