#pragma once

// PostgreSQL beyond one server, for tests: a streaming hot standby of a `postgres_server`
// (`pg_basebackup -R`), and PgBouncer in front of it in auth_file or auth_query mode. Each
// runs from its own temporary directory on a free 127.0.0.1 port, is ready when its
// constructor returns and is stopped by its destructor (and by the kernel if we die).
// As root both run as the `postgres` user (neither runs as root).
//
//     dualcred::testing::postgres_server primary;
//     dualcred::testing::pg_standby standby(primary);
//     dualcred::testing::pgbouncer_server bouncer(primary, pgbouncer_mode::auth_file, "adminpw");

#include <libpq-fe.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <dualcred_testing/postgres.hpp>
#include <dualcred_testing/process.hpp>
#include <dualcred_testing/temp_dir.hpp>

namespace dualcred::testing {

/// A hot standby streaming from `primary` (which must outlive it): `pg_basebackup -R`.
class pg_standby : public postgres_instance {
 public:
  explicit pg_standby(const postgres_server& primary)
      : postgres_instance("dualcred-pgsb", {"hot_standby=on", "wal_receiver_status_interval=1s"}) {
    make("pg_basebackup",
         {"-D", data_dir().string(), "-R", "-X", "stream", "--no-sync", "-c", "fast", "-h",
          primary.dir().string(), "-p", std::to_string(primary.port()), "-U", "postgres"});
    start();
  }
};

enum class pgbouncer_mode { auth_file, auth_query };

/// PgBouncer (session pooling, scram-sha-256) in front of `primary`'s `postgres` database.
/// Its auth_file (`auth_file()`, mode 0640, owned by the server's user) holds the admin
/// console's user `pgb_admin` and a stats user `pgb_stats` (SHOW, not RELOAD), both with
/// `admin_password`, in plain text; in auth_query mode also the superuser
/// `postgres` (whose password the caller gives the primary), which PgBouncer logs in as to
/// read verifiers from pg_shadow. Binary: $DUALCRED_PGBOUNCER, else pgbouncer in /usr/sbin
/// or $PATH.
class pgbouncer_server {
 public:
  pgbouncer_server(const postgres_server& primary, pgbouncer_mode mode,
                   const std::string& admin_password, const std::string& superuser_password = {},
                   const std::string& extra_settings = {})
      : who_(detail::postgres_user()), dir_("dualcred-pgb", who_.switch_user ? "/tmp" : "") {
    std::filesystem::path bin;
    if (const char* env = std::getenv("DUALCRED_PGBOUNCER"); env && *env) bin = env;
    if (bin.empty() && ::access("/usr/sbin/pgbouncer", X_OK) == 0) bin = "/usr/sbin/pgbouncer";
    if (bin.empty()) bin = find_in_path("pgbouncer");
    if (bin.empty())
      throw std::runtime_error("pgbouncer not found: install pgbouncer or set DUALCRED_PGBOUNCER");
    port_ = free_port();
    auto quoted = [](const std::string& s) {
      std::string out = "\"";
      for (const char c : s) {
        if (c == '"') out += '"';
        out += c;
      }
      return out + "\"";
    };
    std::string users = "; dualcred test users\n" + quoted("pgb_admin") + " " +
                        quoted(admin_password) + "\n" + quoted("pgb_stats") + " " +
                        quoted(admin_password) + "\n";
    if (mode == pgbouncer_mode::auth_query)
      users += quoted("postgres") + " " + quoted(superuser_password) + "\n";
    dir_.write("userlist.txt", users, 0640);
    std::string ini =
        "[databases]\npostgres = host=127.0.0.1 port=" + std::to_string(primary.port()) +
        " dbname=postgres\n\n[pgbouncer]\n" +
        "listen_addr = 127.0.0.1\nlisten_port = " + std::to_string(port_) +
        "\nunix_socket_dir =\nauth_type = scram-sha-256\nauth_file = " + auth_file() +
        "\nadmin_users = pgb_admin\nstats_users = pgb_stats\npool_mode = session\n" +
        "max_client_conn = 200\ndefault_pool_size = 20\n" +
        "ignore_startup_parameters = extra_float_digits\n";
    if (mode == pgbouncer_mode::auth_query)
      ini +=
          "auth_user = postgres\nauth_query = SELECT usename, passwd FROM pg_shadow WHERE "
          "usename=$1\n";
    ini += extra_settings;
    dir_.write("pgbouncer.ini", ini, 0640);
    if (who_.switch_user)
      for (const char* name : {"", "userlist.txt", "pgbouncer.ini"})
        if (::chown((dir_.path() / name).c_str(), who_.uid, who_.gid) != 0)
          throw std::runtime_error("cannot chown the PgBouncer files to " + who_.name);
    proc_ = child({bin.string(), (dir_.path() / "pgbouncer.ini").string()}, log_path(), who_,
                  dir_.path());
    const std::string ping = "host=127.0.0.1 port=" + std::to_string(port_) +
                             " dbname=pgbouncer user=pgb_admin connect_timeout=5";
    wait_until([&] { return PQping(ping.c_str()) == PQPING_OK; }, proc_, log_path(), "pgbouncer");
  }
  pgbouncer_server(const pgbouncer_server&) = delete;
  pgbouncer_server& operator=(const pgbouncer_server&) = delete;
  ~pgbouncer_server() { proc_.stop(SIGTERM, std::chrono::seconds(10)); }

  [[nodiscard]] std::string host() const { return "127.0.0.1"; }
  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] std::string auth_file() const { return (dir_.path() / "userlist.txt").string(); }
  [[nodiscard]] std::filesystem::path log_path() const { return dir_.path() / "pgbouncer.log"; }
  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_.path(); }

 private:
  run_as who_;
  temp_dir dir_;
  int port_ = 0;
  child proc_;
};

}  // namespace dualcred::testing
