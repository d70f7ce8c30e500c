#pragma once

// What the fleet check's tests run against, all on loopback and stopped by their destructors
// (and by the kernel if this process dies, process.hpp):
//
// - fleet_instances: many simulated service instances in one python3 process
//   (testing/fleet_instances.py), each serving its status JSON at /health and the library's
//   `dualcred_credential_info` at /metrics, some slow, silent or with stale samples;
// - dnsmasq_server: Debian's dnsmasq on a free port, answering only the records given;
// - prometheus_server: Debian's prometheus, scraping the instances every second.
//
// DUALCRED_FLEET_INSTANCES_SCRIPT and DUALCRED_PYTHON3 come from dualcred_testing_dep.

#include <chrono>
#include <csignal>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <dualcred_testing/process.hpp>
#include <dualcred_testing/temp_dir.hpp>

#if !defined(DUALCRED_FLEET_INSTANCES_SCRIPT) || !defined(DUALCRED_PYTHON3)
#error "DUALCRED_FLEET_INSTANCES_SCRIPT and DUALCRED_PYTHON3 must be defined (testing/meson.build)"
#endif

namespace dualcred::testing {

/// One simulated instance.
struct instance_spec {
  std::string host = "127.0.0.1";  ///< any 127.0.0.0/8 address: Linux loopback takes them all
  int port = 0;                    ///< 0: the kernel picks
  std::string version = "1";
  int delay_ms = 0;       ///< answers this late
  bool silent = false;    ///< takes connections, never answers
  int stale_seconds = 0;  ///< its /metrics samples carry a timestamp this old
};

class fleet_instances {
 public:
  explicit fleet_instances(std::vector<instance_spec> specs)
      : dir_("dualcred-fleet"), specs_(std::move(specs)) {
    std::string json = "[";
    for (const auto& s : specs_)
      json += (json.size() > 1 ? "," : "") + std::string("{\"host\":\"") + s.host +
              "\",\"port\":" + std::to_string(s.port) + ",\"version\":\"" + s.version +
              "\",\"delay_ms\":" + std::to_string(s.delay_ms) +
              ",\"silent\":" + (s.silent ? "true" : "false") +
              ",\"stale_seconds\":" + std::to_string(s.stale_seconds) + "}";
    dir_.write("instances.json", json + "]");
    proc_ = child({DUALCRED_PYTHON3, DUALCRED_FLEET_INSTANCES_SCRIPT, "--instances",
                   dir_ / "instances.json", "--port-file", dir_ / "ports"},
                  dir_ / "instances.log", run_as{}, dir_.path());
    wait_until(
        [&] {
          std::ifstream in(dir_ / "ports");
          std::string text((std::istreambuf_iterator<char>(in)), {});
          if (text.empty()) return false;
          for (char& c : text)
            if (c == '[' || c == ']' || c == ',') c = ' ';
          std::istringstream words(text);
          for (int p = 0; words >> p;) ports_.push_back(p);
          return true;
        },
        proc_, dir_ / "instances.log", "fleet_instances", std::chrono::seconds(60));
    for (std::size_t i = 0; i < specs_.size(); ++i) specs_[i].port = ports_.at(i);
  }
  fleet_instances(const fleet_instances&) = delete;
  fleet_instances& operator=(const fleet_instances&) = delete;
  ~fleet_instances() { proc_.stop(SIGTERM, std::chrono::seconds(5)); }

  [[nodiscard]] const std::vector<instance_spec>& specs() const noexcept { return specs_; }
  /// `host:port` of instance `i`, as Prometheus's `instance` label names it.
  [[nodiscard]] std::string address(std::size_t i) const {
    return specs_.at(i).host + ":" + std::to_string(specs_.at(i).port);
  }
  [[nodiscard]] std::string health_url(std::size_t i) const {
    return "http://" + address(i) + "/health";
  }

 private:
  temp_dir dir_;
  std::vector<instance_spec> specs_;
  std::vector<int> ports_;
  child proc_;
};

/// dnsmasq answering only `hosts` (lines of /etc/hosts form; a name on several lines has
/// several addresses) and `records` (its own options, e.g.
/// `--srv-host=_svc._tcp.NAME,TARGET,PORT`), on a free port of 127.0.0.1, UDP and TCP.
class dnsmasq_server {
 public:
  dnsmasq_server(const std::string& hosts, const std::vector<std::string>& records)
      : dir_("dualcred-dnsmasq"), port_(free_port()) {
    dir_.write("hosts", hosts, 0644);
    auto binary = find_in_path("dnsmasq");
    if (binary.empty()) binary = "/usr/sbin/dnsmasq";
    std::vector<std::string> argv{binary.string(),
                                  "--keep-in-foreground",
                                  "--conf-file=/dev/null",
                                  "--no-resolv",
                                  "--no-hosts",
                                  "--no-poll",
                                  "--bind-interfaces",
                                  "--listen-address=127.0.0.1",
                                  "--port=" + std::to_string(port_),
                                  "--pid-file=",
                                  "--log-facility=" + (dir_ / "dnsmasq.log"),
                                  "--addn-hosts=" + (dir_ / "hosts"),
                                  "--user=" + std::string(::getuid() == 0 ? "root" : "")};
    if (::getuid() != 0) argv.pop_back();
    argv.insert(argv.end(), records.begin(), records.end());
    proc_ = child(argv, dir_ / "stderr.log", run_as{}, dir_.path());
    wait_until(
        [&] {
          std::ifstream in(dir_ / "dnsmasq.log");
          std::string text((std::istreambuf_iterator<char>(in)), {});
          return text.find("started") != std::string::npos;
        },
        proc_, dir_ / "stderr.log", "dnsmasq", std::chrono::seconds(15));
  }
  dnsmasq_server(const dnsmasq_server&) = delete;
  dnsmasq_server& operator=(const dnsmasq_server&) = delete;
  ~dnsmasq_server() { proc_.stop(SIGTERM, std::chrono::seconds(5)); }

  /// `127.0.0.1:PORT`, for `dns_instances::dns_server`.
  [[nodiscard]] std::string server() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  temp_dir dir_;
  int port_;
  child proc_;
};

/// Prometheus scraping `targets` (`host:port`) every second in one job, on a free port.
class prometheus_server {
 public:
  prometheus_server(const std::vector<std::string>& targets, const std::string& job = "app")
      : dir_("dualcred-prometheus"), port_(free_port()) {
    auto binary = find_in_path("prometheus");
    if (binary.empty()) throw std::runtime_error("prometheus is not installed (.ci/install-deps)");
    std::string list;
    for (const auto& t : targets) list += (list.empty() ? "'" : ", '") + t + "'";
    dir_.write("prometheus.yml",
               "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
               "scrape_configs:\n  - job_name: '" +
                   job + "'\n    static_configs:\n      - targets: [" + list + "]\n",
               0644);
    proc_ = child({binary.string(), "--config.file=" + (dir_ / "prometheus.yml"),
                   "--storage.tsdb.path=" + (dir_ / "data"),
                   "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
                  dir_ / "prometheus.log", run_as{}, dir_.path());
    wait_until(
        [&] {
          std::ifstream in(dir_ / "prometheus.log");
          std::string text((std::istreambuf_iterator<char>(in)), {});
          return text.find("Server is ready to receive web requests") != std::string::npos;
        },
        proc_, dir_ / "prometheus.log", "prometheus", std::chrono::seconds(60));
  }
  prometheus_server(const prometheus_server&) = delete;
  prometheus_server& operator=(const prometheus_server&) = delete;
  ~prometheus_server() { proc_.stop(SIGTERM, std::chrono::seconds(10)); }

  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  temp_dir dir_;
  int port_;
  child proc_;
};

}  // namespace dualcred::testing
