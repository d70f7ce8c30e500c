#pragma once

// A fake Redis node (testing/fake_redis_node.py, run by python3) that records every command
// it receives, for the trust-boundary tests: it listens on a loopback address of the test's
// choosing (127.0.0.2 is loopback on Linux, outside an allow list of 127.0.0.1) on a port
// the kernel picks, answers what a rotator asks with canned replies (overridable per command
// with `set_reply`), and can register itself as a replica of a real primary, announcing its
// own address, as a hostile replica would. Stopped by its destructor, and by the kernel if
// this process dies (process.hpp).
//
// DUALCRED_FAKE_REDIS_NODE_SCRIPT and DUALCRED_PYTHON3 come from dualcred_testing_dep
// (testing/meson.build).

#include <unistd.h>

#include <cctype>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <dualcred_testing/process.hpp>
#include <dualcred_testing/temp_dir.hpp>

#if !defined(DUALCRED_FAKE_REDIS_NODE_SCRIPT) || !defined(DUALCRED_PYTHON3)
#error "DUALCRED_FAKE_REDIS_NODE_SCRIPT and DUALCRED_PYTHON3 must be defined (testing/meson.build)"
#endif

namespace dualcred::testing {

/// RESP encodings for `fake_redis_node::set_reply`.
inline std::string resp_bulk(std::string_view s) {
  return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}
inline std::string resp_array(const std::vector<std::string>& encoded_items) {
  std::string out = "*" + std::to_string(encoded_items.size()) + "\r\n";
  for (const auto& i : encoded_items) out += i;
  return out;
}

class fake_redis_node {
 public:
  struct options {
    std::string host = "127.0.0.1";
    std::string role = "slave";  ///< what its default INFO says: "slave" or "master"
    int replicate_to = 0;        ///< a real primary's port on 127.0.0.1 to register with
    std::string announce_ip;     ///< REPLCONF ip-address (default: `host`)
  };

  explicit fake_redis_node(options o) : dir_("dualcred-fake-redis"), host_(std::move(o.host)) {
    std::filesystem::create_directories(dir_.path() / "replies");
    std::vector<std::string> argv{DUALCRED_PYTHON3, DUALCRED_FAKE_REDIS_NODE_SCRIPT,
                                  "--host",         host_,
                                  "--port-file",    dir_ / "port",
                                  "--log",          commands_path(),
                                  "--replies",      dir_ / "replies",
                                  "--role",         o.role};
    if (o.replicate_to != 0)
      argv.insert(argv.end(), {"--replicate-to", std::to_string(o.replicate_to)});
    if (!o.announce_ip.empty()) argv.insert(argv.end(), {"--announce-ip", o.announce_ip});
    proc_ = child(argv, dir_ / "node.log", run_as{}, dir_.path());
    wait_until(
        [&] {
          std::ifstream in(dir_ / "port");
          return static_cast<bool>(in >> port_);
        },
        proc_, dir_ / "node.log", "fake_redis_node", std::chrono::seconds(15));
  }
  fake_redis_node() : fake_redis_node(options{}) {}
  fake_redis_node(const fake_redis_node&) = delete;
  fake_redis_node& operator=(const fake_redis_node&) = delete;
  ~fake_redis_node() { proc_.stop(SIGTERM, std::chrono::seconds(5)); }

  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] const std::string& host() const noexcept { return host_; }
  [[nodiscard]] std::string address() const { return host_ + ":" + std::to_string(port_); }

  /// The raw RESP `reply` to every command whose first words are `name` ("INFO",
  /// "CLUSTER_NODES", "SENTINEL_REPLICAS"), from now on.
  void set_reply(const std::string& name, const std::string& reply) const {
    (void)dir_.write("replies/" + name, reply);
  }

  /// Every command received so far, each as its arguments.
  [[nodiscard]] std::vector<std::vector<std::string>> commands() const {
    std::vector<std::vector<std::string>> out;
    std::ifstream in(commands_path());
    for (std::string line; std::getline(in, line);) {
      std::vector<std::string> argv;
      std::istringstream words(line);
      for (std::string hex; words >> hex;) {
        std::string arg;
        for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
          arg.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
        argv.push_back(std::move(arg));
      }
      out.push_back(std::move(argv));
    }
    return out;
  }

  /// The commands received, one per line, arguments space-separated (for messages; may
  /// hold what a test passed as a secret, so only for a failing check's text).
  [[nodiscard]] std::string transcript() const {
    std::string out;
    for (const auto& argv : commands()) {
      for (const auto& a : argv) out += a + " ";
      out += "\n";
    }
    return out;
  }

  /// Whether any argument of any command received contains `needle`.
  [[nodiscard]] bool received(std::string_view needle) const {
    for (const auto& argv : commands())
      for (const auto& a : argv)
        if (a.find(needle) != std::string::npos) return true;
    return false;
  }

  /// Whether a command starting with `word` (case-insensitive) was received.
  [[nodiscard]] bool received_command(std::string_view word) const {
    for (const auto& argv : commands()) {
      if (argv.empty() || argv[0].size() != word.size()) continue;
      bool same = true;
      for (std::size_t i = 0; i < word.size(); ++i)
        same = same && std::tolower(static_cast<unsigned char>(argv[0][i])) ==
                           std::tolower(static_cast<unsigned char>(word[i]));
      if (same) return true;
    }
    return false;
  }

 private:
  [[nodiscard]] std::string commands_path() const { return dir_ / "commands"; }

  temp_dir dir_;
  std::string host_;
  int port_ = 0;
  child proc_;
};

}  // namespace dualcred::testing
