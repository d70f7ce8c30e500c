#pragma once

// Throwaway PostgreSQL and Redis servers for tests, benchmarks and demos.
//
// Each server runs from a fresh temporary directory on a free 127.0.0.1 port, is ready when
// its constructor returns, and is stopped (and its directory removed) by its destructor, so a
// failing test still cleans up. If the process dies without unwinding, the kernel kills the
// servers too (PR_SET_PDEATHSIG): construct them on a thread that outlives their use, such as
// the main thread.
//
// Self-contained: the C++ standard library, POSIX, libpq and hiredis only. Errors throw
// std::runtime_error with the tail of the server's log.
//
//     dualcred::testing::postgres_server pg;
//     pg.exec("CREATE ROLE app LOGIN PASSWORD " + pg.quote_literal("pw"));
//     dualcred::testing::redis_server rd;
//     rd.command({"ACL", "SETUSER", "app", "on", ">pw", "~*", "+@all"});
//
// Running as root, PostgreSQL runs as the `postgres` user (or `nobody` when there is none).
// Binaries: $DUALCRED_PG_BINDIR, else the newest /usr/lib/postgresql/*/bin (Debian),
// /usr/pgsql-*/bin (RHEL), then $PATH; $DUALCRED_REDIS_SERVER, else redis-server on $PATH.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace dualcred::testing {

namespace detail {

namespace fs = std::filesystem;

inline std::string read_tail(const fs::path& p, std::size_t max = 2000) {
  std::ifstream in(p);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > max ? all.substr(all.size() - max) : all;
}

inline std::string random_token(std::size_t n = 24) {
  static constexpr char alphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::random_device rd;
  std::mt19937_64 gen(rd());
  std::uniform_int_distribution<std::size_t> pick(0, sizeof(alphabet) - 2);
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += alphabet[pick(gen)];
  return out;
}

/// A port on 127.0.0.1 that was free a moment ago (the kernel's pick for port 0).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Whom to run a server as: nobody special unless we are root.
struct run_as {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
};

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

/// A mkdtemp directory, removed with everything in it on destruction.
class temp_dir {
 public:
  /// Under $TMPDIR (else /tmp), or under `base` when given.
  explicit temp_dir(const std::string& stem, std::string base = {}) {
    if (base.empty()) {
      const char* env = std::getenv("TMPDIR");
      base = env && *env ? env : "/tmp";
    }
    std::string templ = base + "/" + stem + "-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const noexcept { return path_; }

 private:
  fs::path path_;
};

/// A child process with its output in a log file. Killed (SIGKILL) if we die first.
class child {
 public:
  child() = default;
  child(const std::vector<std::string>& argv, const fs::path& log, const run_as& who,
        const fs::path& cwd) {
    // Everything the child needs is prepared before fork: only async-signal-safe calls after.
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const std::string log_s = log.string();
    const std::string cwd_s = cwd.string();
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      const int fd = ::open(log_s.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
      const int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) ::dup2(devnull, 0);
      if (who.switch_user) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(who.gid) != 0 || ::setuid(who.uid) != 0)
          ::_exit(126);
      }
      // After the user switch, which clears it.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(125);
      if (::chdir(cwd_s.c_str()) != 0) ::_exit(124);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  child(child&& o) noexcept : pid_(std::exchange(o.pid_, -1)) {}
  child& operator=(child&& o) noexcept {
    if (this != &o) {
      kill_now();
      pid_ = std::exchange(o.pid_, -1);
    }
    return *this;
  }
  ~child() { kill_now(); }

  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_status_ = status;
      return false;
    }
    return true;
  }
  /// Waits for the exit; returns the exit code, or -1 when killed by a signal.
  int wait() {
    if (pid_ <= 0) return WIFEXITED(exit_status_) ? WEXITSTATUS(exit_status_) : -1;
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    exit_status_ = status;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  /// Sends `sig`, waits up to `grace`, then SIGKILLs.
  void stop(int sig, std::chrono::milliseconds grace) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    const auto until = std::chrono::steady_clock::now() + grace;
    while (running() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    kill_now();
  }
  pid_t pid() const noexcept { return pid_; }

 private:
  void kill_now() noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  pid_t pid_ = -1;
  int exit_status_ = 0;
};

inline fs::path find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const fs::path p = fs::path(dir) / name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

// Where initdb and postgres live. `pg_config --bindir` names the client's directory, which
// on Debian need not hold the server, so look for the server binaries themselves.
inline fs::path postgres_bindir() {
  if (const char* env = std::getenv("DUALCRED_PG_BINDIR"); env && *env) return env;
  std::vector<std::pair<int, fs::path>> found;
  for (const char* root : {"/usr/lib/postgresql", "/usr"}) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      const std::string name = entry.path().filename().string();
      fs::path bin;
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
  const fs::path initdb = find_in_path("initdb");
  if (!initdb.empty()) return initdb.parent_path();
  throw std::runtime_error(
      "PostgreSQL server binaries not found: install postgresql or set DUALCRED_PG_BINDIR");
}

inline void wait_until(const std::function<bool()>& ready, child& proc, const fs::path& log,
                       const std::string& what) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!ready()) {
    if (!proc.running())
      throw std::runtime_error(what + " exited during start-up; log:\n" + read_tail(log));
    if (std::chrono::steady_clock::now() > until)
      throw std::runtime_error(what + " did not become ready in 60 s; log:\n" + read_tail(log));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace detail

/// A throwaway PostgreSQL: `initdb` with scram-sha-256 for TCP and trust on its private Unix
/// socket (the admin path), listening on 127.0.0.1 only.
class postgres_server {
 public:
  // As root the server runs as another user, who may not reach root's $TMPDIR: use /tmp.
  postgres_server()
      : who_(detail::postgres_user()), dir_("dualcred-pg", who_.switch_user ? "/tmp" : "") {
    bindir_ = detail::postgres_bindir();
    if (who_.switch_user && ::chown(dir_.path().c_str(), who_.uid, who_.gid) != 0)
      throw std::runtime_error("cannot chown the PostgreSQL directory to " + who_.name);
    detail::child initdb(
        {(bindir_ / "initdb").string(), "-D", data_dir().string(), "-U", "postgres", "-E", "UTF8",
         "--no-locale", "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256"},
        log_path(), who_, dir_.path());
    if (initdb.wait() != 0)
      throw std::runtime_error("initdb failed; log:\n" + detail::read_tail(log_path()));
    port_ = detail::free_port();
    start();
  }
  postgres_server(const postgres_server&) = delete;
  postgres_server& operator=(const postgres_server&) = delete;
  ~postgres_server() { stop(); }

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
    proc_ = detail::child({(bindir_ / "postgres").string(),
                           "-D",
                           data_dir().string(),
                           "-p",
                           std::to_string(port_),
                           "-c",
                           "listen_addresses=127.0.0.1",
                           "-c",
                           "unix_socket_directories=" + dir_.path().string(),
                           "-c",
                           "fsync=off",
                           "-c",
                           "synchronous_commit=off",
                           "-c",
                           "full_page_writes=off",
                           "-c",
                           "max_connections=100",
                           "-c",
                           "shared_buffers=16MB",
                           "-c",
                           "dynamic_shared_memory_type=mmap",
                           "-c",
                           "huge_pages=off",
                           "-c",
                           "password_encryption=scram-sha-256"},
                          log_path(), who_, dir_.path());
    const std::string conninfo = admin_conninfo();
    detail::wait_until([&] { return PQping(conninfo.c_str()) == PQPING_OK; }, proc_, log_path(),
                       "postgres");
  }
  /// Fast shutdown: connections are closed, the data is kept for `start()`.
  void stop() { proc_.stop(SIGINT, std::chrono::seconds(30)); }

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

 private:
  detail::run_as who_;
  detail::temp_dir dir_;
  std::filesystem::path bindir_;
  int port_ = 0;
  detail::child proc_;
};

/// One reply from `redis_server::command`, flattened to text.
struct redis_reply {
  bool error = false;
  std::string text;                ///< status, string, error or integer as text
  std::vector<std::string> items;  ///< an array's elements, flattened one level
};

/// A throwaway Redis 7 with ACL users, on 127.0.0.1. An `admin` user (random password)
/// administers it over one persistent connection, so `INFO stats` counts only the tests'
/// own connections. The `default` user is left as Redis ships it (on, no password); ACLs
/// survive `stop()`/`start()` through an ACL file.
class redis_server {
 public:
  redis_server() : dir_("dualcred-redis"), admin_password_(detail::random_token()) {
    if (const char* env = std::getenv("DUALCRED_REDIS_SERVER"); env && *env)
      binary_ = env;
    else
      binary_ = detail::find_in_path("redis-server");
    if (binary_.empty() && ::access("/usr/bin/redis-server", X_OK) == 0)
      binary_ = "/usr/bin/redis-server";
    if (binary_.empty())
      throw std::runtime_error(
          "redis-server not found: install redis-server or set "
          "DUALCRED_REDIS_SERVER");
    port_ = detail::free_port();
    {
      std::ofstream acl(dir_.path() / "users.acl");
      acl << "user default on nopass ~* &* +@all\n"
          << "user admin on >" << admin_password_ << " ~* &* +@all\n";
    }
    {
      std::ofstream conf(dir_.path() / "redis.conf");
      conf << "port " << port_ << "\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\n"
           << "save \"\"\nappendonly no\ndir " << dir_.path().string() << "\naclfile "
           << (dir_.path() / "users.acl").string() << "\nlogfile \"\"\n";
    }
    start();
  }
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;
  ~redis_server() {
    drop_admin();
    proc_.stop(SIGTERM, std::chrono::seconds(10));
  }

  [[nodiscard]] std::string host() const { return "127.0.0.1"; }
  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] const std::string& admin_user() const noexcept { return admin_user_; }
  [[nodiscard]] const std::string& admin_password() const noexcept { return admin_password_; }
  [[nodiscard]] std::filesystem::path log_path() const { return dir_.path() / "server.log"; }
  [[nodiscard]] bool running() { return proc_.running(); }

  void start() {
    if (proc_.running()) return;
    proc_ = detail::child({binary_.string(), (dir_.path() / "redis.conf").string()}, log_path(),
                          detail::run_as{}, dir_.path());
    detail::wait_until(
        [&] {
          std::lock_guard lock(mutex_);
          return admin_locked() != nullptr;
        },
        proc_, log_path(), "redis-server");
  }
  /// Saves the ACLs, then shuts down. `start()` brings it back with the same users.
  void stop() {
    try {
      command({"ACL", "SAVE"});
    } catch (const std::exception&) {
      // Already unreachable: nothing to save.
    }
    drop_admin();
    proc_.stop(SIGTERM, std::chrono::seconds(10));
  }

  /// Runs one command as the admin (argv-style: any byte is fine). Throws when the server
  /// cannot be reached; an error reply comes back with `error` set.
  redis_reply command(const std::vector<std::string>& args) {
    std::lock_guard lock(mutex_);
    redisContext* c = admin_locked();
    if (c == nullptr) throw std::runtime_error("cannot reach redis-server as admin");
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* raw = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (raw == nullptr) {
      const std::string why = c->errstr;
      redisFree(std::exchange(admin_, nullptr));
      throw std::runtime_error("redis admin command failed: " + why);
    }
    std::unique_ptr<redisReply, void (*)(void*)> reply(raw, freeReplyObject);
    redis_reply out;
    out.error = reply->type == REDIS_REPLY_ERROR;
    if (reply->type == REDIS_REPLY_INTEGER)
      out.text = std::to_string(reply->integer);
    else if (reply->str != nullptr)
      out.text.assign(reply->str, reply->len);
    if (reply->type == REDIS_REPLY_ARRAY)
      for (std::size_t i = 0; i < reply->elements; ++i)
        if (reply->element[i]->str != nullptr)
          out.items.emplace_back(reply->element[i]->str, reply->element[i]->len);
    return out;
  }

  /// Like `command`, but an error reply throws.
  redis_reply must(const std::vector<std::string>& args) {
    auto r = command(args);
    if (r.error) throw std::runtime_error("redis admin command refused: " + r.text);
    return r;
  }

  /// A numeric field of `INFO section` (`info_number("stats", "total_connections_received")`).
  long long info_number(const std::string& section, const std::string& field) {
    const std::string info = must({"INFO", section}).text;
    const std::string key = field + ":";
    const auto at = info.find(key);
    if (at == std::string::npos) throw std::runtime_error("INFO has no " + field);
    return std::atoll(info.c_str() + at + key.size());
  }

  /// Creates or resets an ACL user that may run every command, with exactly these passwords.
  void set_user(const std::string& user, const std::vector<std::string>& passwords) {
    std::vector<std::string> args{"ACL", "SETUSER", user, "reset", "on", "~*", "&*", "+@all"};
    for (const auto& p : passwords) args.push_back(">" + p);
    must(args);
  }

 private:
  redisContext* admin_locked() {
    if (admin_ != nullptr && admin_->err == 0) return admin_;
    if (admin_ != nullptr) redisFree(std::exchange(admin_, nullptr));
    const timeval tv{2, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (c == nullptr) return nullptr;
    if (c->err != 0) {
      redisFree(c);
      return nullptr;
    }
    redisSetTimeout(c, timeval{10, 0});
    const char* argv[] = {"AUTH", admin_user_.c_str(), admin_password_.c_str()};
    auto* reply = static_cast<redisReply*>(redisCommandArgv(c, 3, argv, nullptr));
    const bool ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS;
    if (reply != nullptr) freeReplyObject(reply);
    if (!ok) {
      redisFree(c);
      return nullptr;
    }
    admin_ = c;
    return admin_;
  }
  void drop_admin() {
    std::lock_guard lock(mutex_);
    if (admin_ != nullptr) redisFree(std::exchange(admin_, nullptr));
  }

  detail::temp_dir dir_;
  std::string admin_user_ = "admin";
  std::string admin_password_;
  std::filesystem::path binary_;
  int port_ = 0;
  std::mutex mutex_;
  redisContext* admin_ = nullptr;
  detail::child proc_;
};

}  // namespace dualcred::testing
