#pragma once

// Process plumbing for throwaway servers: start a program with its output in a log file, wait
// until it is ready, and make sure it dies with us.
//
// A `child` is killed (SIGKILL) by its destructor, so a failing test still cleans up, and by
// the kernel when this process dies without unwinding (PR_SET_PDEATHSIG): construct servers
// on a thread that outlives their use, such as the main thread.
//
// Self-contained: the C++ standard library and POSIX only. Errors throw std::runtime_error.

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace dualcred::testing {

/// The last `max` bytes of a (log) file, for error messages.
inline std::string read_tail(const std::filesystem::path& p, std::size_t max = 2000) {
  std::ifstream in(p);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > max ? all.substr(all.size() - max) : all;
}

/// `n` random alphanumerics: throwaway passwords and names.
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

/// `name` in one of $PATH's directories, executable; empty when there is none.
inline std::filesystem::path find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::filesystem::path p = std::filesystem::path(dir) / name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

/// Whom to run a child as: this process's user unless `switch_user`.
struct run_as {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
};

/// A child process with stdout and stderr appended to a log file and stdin from /dev/null.
/// Killed (SIGKILL) on destruction, and by the kernel if we die first.
class child {
 public:
  child() = default;
  child(const std::vector<std::string>& argv, const std::filesystem::path& log, const run_as& who,
        const std::filesystem::path& cwd) {
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
  child(child&& o) noexcept
      : pid_(std::exchange(o.pid_, -1)), exit_status_(std::exchange(o.exit_status_, 0)) {}
  child& operator=(child&& o) noexcept {
    if (this != &o) {
      kill_now();
      pid_ = std::exchange(o.pid_, -1);
      exit_status_ = std::exchange(o.exit_status_, 0);
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

/// Polls `ready` until it returns true. Throws, with the tail of `log`, when `proc` exits first
/// or `timeout` passes.
inline void wait_until(const std::function<bool()>& ready, child& proc,
                       const std::filesystem::path& log, const std::string& what,
                       std::chrono::seconds timeout = std::chrono::seconds(60)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!ready()) {
    if (!proc.running())
      throw std::runtime_error(what + " exited during start-up; log:\n" + read_tail(log));
    if (std::chrono::steady_clock::now() > until)
      throw std::runtime_error(what + " did not become ready in " +
                               std::to_string(timeout.count()) + " s; log:\n" + read_tail(log));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace dualcred::testing
