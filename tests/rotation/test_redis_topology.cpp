// The Redis runbook on every node of a deployment: a primary with two replicas and three
// Sentinels, and a cluster, each started once for the whole suite. Soaks with client threads
// (through dualcred::redis::sentinel_connector, and to every cluster primary) during rotation
// cycles with a SENTINEL FAILOVER between apply and decommission; masterauth following the
// replication user; bad input. Cycles: DUALCRED_ROTATION_CYCLES, else 10.
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/backend/hiredis_sentinel.hpp>
#include <dualcred/provider/file.hpp>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/redis/admin.hpp>

#include <dualcred_testing/redis_topology.hpp>
#include <dualcred_testing/scoped_env.hpp>
#include <dualcred_testing/temp_dir.hpp>
#include "rotation_helpers.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_redis_topology {

TEST_SUITE_BEGIN("rotation_redis_topology");

using namespace std::chrono_literals;
using namespace dualcred;
using namespace dualcred::rotation;
using clock_type = std::chrono::steady_clock;

namespace {

int topology_cycles() {
  if (const char* env = std::getenv("DUALCRED_ROTATION_CYCLES"); env && std::atoi(env) > 0)
    return std::atoi(env);
  return 10;
}

testing::redis_sentinel_group& sentinel_group() {
  static testing::redis_sentinel_group g(2, 3);
  return g;
}

testing::redis_cluster& cluster() {
  static testing::redis_cluster c(3, 1);
  return c;
}

dualcred::redis::sentinel_params sentinel_params() {
  dualcred::redis::sentinel_params s;
  for (auto& p : sentinel_group().sentinels()) s.sentinels.push_back({"127.0.0.1", p->port()});
  s.master_name = sentinel_group().master_name();
  s.timeout = 2s;
  return s;
}

dualcred::rotation::redis::admin_options sentinel_topology(
    std::vector<std::string>* lines = nullptr) {
  dualcred::rotation::redis::admin_options o;
  o.topology.how = dualcred::rotation::redis::discovery::sentinel;
  o.topology.sentinel = sentinel_params();
  if (lines != nullptr) o.on_node = [lines](std::string_view l) { lines->emplace_back(l); };
  return o;
}

dualcred::redis::params at_port(int port) {
  dualcred::redis::params p;
  p.port = port;
  p.timeout = 5s;
  return p;
}

credential group_admin() {
  return {"admin", secret(sentinel_group().admin_password())};
}
credential cluster_admin() {
  return {"admin", secret(cluster().admin_password())};
}

std::vector<int> ports(std::vector<std::unique_ptr<testing::redis_process>>& nodes) {
  std::vector<int> out;
  for (auto& n : nodes) out.push_back(n->port());
  return out;
}

// A user with one password on every node, and a dotenv store holding it.
template <class Topology>
std::string seed(Topology& t, const testing::temp_dir& dir, const std::string& user) {
  const std::string pw = "seed-" + testing::random_token(16);
  t.on_every_node({"ACL", "SETUSER", user, "reset", "on", ">" + pw, "~*", "&*", "+@all"});
  return dir.write("app.env", "REDIS_USER=" + user + "\nREDIS_PASS_CURRENT=" + pw + "\n");
}

// After a cycle: every node accepts CURRENT and refuses the decommissioned password.
void check_every_node(const std::vector<int>& nodes, const std::string& path,
                      const std::string& gone, const char* what) {
  const auto st = dualcred::rotation::stores::file_store(path).read().value();
  // The store reads every value as a secret; the user name is public text.
  const std::string user(st.data.at("REDIS_USER").reveal_public());
  const std::string current(st.data.at("REDIS_PASS_CURRENT").reveal());
  for (const int port : nodes) {
    CHECK_MESSAGE(testing::redis_logs_in(port, user, current), what << ": " << port);
    if (!gone.empty())
      CHECK_MESSAGE(!testing::redis_logs_in(port, user, gone), what << ": " << port);
  }
}

// Client threads that tell credential refusals from connection errors, and time the latter.
template <class Creds>
class counting_clients {
 public:
  counting_clients(std::vector<Creds*> creds, int threads) {
    for (int i = 0; i < threads; ++i)
      threads_.emplace_back([this, c = creds[static_cast<std::size_t>(i) % creds.size()]] {
        while (!stop_.load(std::memory_order_relaxed)) {
          auto conn = c->connect();
          if (conn && rotation_tests::usable(conn.value())) {
            ++ok;
            continue;
          }
          const bool refused = !conn && (conn.error().is(errc::auth_rejected) ||
                                         conn.error().is(errc::all_rejected));
          std::lock_guard lock(mutex_);
          const std::string why = conn ? "connected, but PING failed" : conn.error().detail;
          if (refused) {
            ++refused_;
            if (refusals.size() < 5) refusals.push_back(why);
          } else {
            const auto now = clock_type::now();
            if (errors_ == 0) first_error_ = now;
            last_error_ = now;
            ++errors_;
            if (error_samples.size() < 3) error_samples.push_back(why);
            std::this_thread::sleep_for(10ms);
          }
        }
      });
  }
  ~counting_clients() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  // Connection errors since the last call, and the span from the first to the last.
  std::pair<long, std::chrono::milliseconds> take_errors() {
    std::lock_guard lock(mutex_);
    const auto span =
        std::chrono::duration_cast<std::chrono::milliseconds>(last_error_ - first_error_);
    const auto out = std::make_pair(errors_, errors_ > 0 ? span : 0ms);
    errors_ = 0;
    return out;
  }
  long refused() {
    std::lock_guard lock(mutex_);
    return refused_;
  }

  std::atomic<long> ok{0};
  std::vector<std::string> refusals, error_samples;

 private:
  std::mutex mutex_;
  long refused_ = 0, errors_ = 0;
  clock_type::time_point first_error_{}, last_error_{};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

std::string current_password(const std::string& path) {
  const auto st = dualcred::rotation::stores::file_store(path).read().value();
  (void)st.data.at("REDIS_USER").reveal_public();  // a user name, read as a secret by the store
  return std::string(st.data.at("REDIS_PASS_CURRENT").reveal());
}

}  // namespace

TEST_CASE("discovery: Sentinel, a replica's replication group and a cluster name every node") {
  auto& g = sentinel_group();
  std::vector<int> all = ports(g.nodes());
  std::sort(all.begin(), all.end());
  const auto found_ports = [](const dualcred::rotation::redis::deployment& d) {
    std::vector<int> out;
    for (const auto& n : d.nodes) out.push_back(n.at.port);
    std::sort(out.begin(), out.end());
    return out;
  };
  auto by_sentinel = dualcred::rotation::redis::discover_nodes(
      sentinel_topology().topology, at_port(g.nodes()[1]->port()), group_admin());
  REQUIRE(by_sentinel);
  CHECK(found_ports(by_sentinel.value()) == all);
  CHECK(by_sentinel.value().nodes[0].at.port == g.primary_port());
  CHECK(by_sentinel.value().sentinels.size() == 3);

  // From a replica: up to its primary, then down to every replica.
  const int replica =
      g.primary_port() == g.nodes()[1]->port() ? g.nodes()[2]->port() : g.nodes()[1]->port();
  auto group_of = dualcred::rotation::redis::discover_nodes({}, at_port(replica), group_admin());
  REQUIRE(group_of);
  CHECK(found_ports(group_of.value()) == all);
  CHECK(group_of.value().nodes[0].role == "primary");

  dualcred::rotation::redis::topology one;
  one.how = dualcred::rotation::redis::discovery::single_node;
  auto single = dualcred::rotation::redis::discover_nodes(one, at_port(replica), group_admin());
  REQUIRE(single);
  CHECK(single.value().nodes.size() == 1);

  auto& c = cluster();
  std::vector<int> every = ports(c.nodes());
  std::sort(every.begin(), every.end());
  dualcred::rotation::redis::topology ct;
  ct.how = dualcred::rotation::redis::discovery::cluster;
  ct.nodes = {dualcred::redis::endpoint{"127.0.0.1", c.nodes()[0]->port()}};
  auto by_cluster =
      dualcred::rotation::redis::discover_nodes(ct, at_port(c.nodes()[0]->port()), cluster_admin());
  REQUIRE(by_cluster);
  CHECK(found_ports(by_cluster.value()) == every);
  // The default finds the whole cluster from any node.
  auto by_default =
      dualcred::rotation::redis::discover_nodes({}, at_port(c.nodes()[4]->port()), cluster_admin());
  REQUIRE(by_default);
  CHECK(found_ports(by_default.value()) == every);
}

TEST_CASE(
    "sentinel_connector: the primary Sentinel names, skipping a dead Sentinel; CURRENT/NEXT "
    "fallback on one connection") {
  auto& g = sentinel_group();
  testing::temp_dir dir;
  const std::string path = seed(g, dir, "conn_user");
  dualcred::redis::sentinel_params s = sentinel_params();
  s.sentinels.insert(s.sentinels.begin(), {"127.0.0.1", testing::free_port()});
  dualcred::redis::sentinel_connector c(s);
  const credential good{"conn_user", secret(current_password(path))};
  auto conn = c(good);
  REQUIRE_MESSAGE(conn, conn.error().detail);
  CHECK(conn.value().get()->tcp.port == g.primary_port());
  // A refused password leaves the connection open for the next one.
  auto opened = c.open();
  REQUIRE(opened);
  auto bad = c.authenticate(opened.value(), {"conn_user", secret("not-it")});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().is(errc::auth_rejected));
  CHECK(c.authenticate(opened.value(), good));
  // An unknown master name is not_found, whatever the Sentinels' order.
  s.master_name = "no-such-master";
  auto unknown = dualcred::redis::sentinel_connector(s).open();
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().is(errc::not_found));
  CHECK(unknown.error().detail.find("no-such-master") != std::string::npos);
}

TEST_CASE(
    "Sentinel soak: 4 clients through sentinel_connector, a failover between apply and "
    "decommission, 0 refusals, every node checked after every cycle") {
  auto& g = sentinel_group();
  testing::temp_dir dir;
  const std::string path = seed(g, dir, "soak_user");
  std::vector<std::string> lines;
  rotator r(dualcred::rotation::stores::file_store(path),
            dualcred::rotation::redis::acl_admin(at_port(g.primary_port()), group_admin(),
                                                 sentinel_topology(&lines)),
            rotation_keys::for_prefix("REDIS"));
  auto dc = make_dual_credential(dualcred::redis::sentinel_connector(sentinel_params()),
                                 file_provider(path, key_names::for_prefix("REDIS")),
                                 rotation_tests::client_options());
  REQUIRE(dc);
  auto& creds = dc.value();
  counting_clients<std::remove_reference_t<decltype(creds)>> clients({&creds}, 4);
  const int n = topology_cycles();
  for (int i = 0; i < n; ++i) {
    const std::string before = current_password(path);
    REQUIRE(r.prepare());
    auto applied = r.apply();
    REQUIRE_MESSAGE(applied, applied.error().detail);
    // Every other cycle, starting with the second: 5 failovers in 10 cycles.
    if (i % 2 == 1) {
      const auto took = g.failover();
      std::this_thread::sleep_for(300ms);  // clients meet the new primary
      const auto [errors, span] = clients.take_errors();
      MESSAGE("cycle " << i << ": SENTINEL FAILOVER (group quiet after " << took.quieted.count()
                       << " ms): Sentinels named the new primary after " << took.named.count()
                       << " ms, all replicas linked after " << took.settled.count()
                       << " ms; client connection errors in the window: " << errors << " over "
                       << span.count() << " ms");
    }
    REQUIRE(r.promote());
    REQUIRE(r.verify());
    auto done = r.decommission();
    REQUIRE_MESSAGE(done, done.error().detail);
    std::this_thread::sleep_for(100ms);
    check_every_node(ports(g.nodes()), path, before, "sentinel soak");
  }
  clients.stop();
  const auto [late_errors, late_span] = clients.take_errors();
  for (const auto& e : clients.refusals) MESSAGE("refused: " << e);
  for (const auto& e : clients.error_samples) MESSAGE("connection error: " << e);
  CHECK(clients.refused() == 0);
  CHECK(late_errors == 0);
  CHECK(clients.ok > 0);
  MESSAGE("sentinel soak: " << n << " cycles, " << clients.ok.load() << " connects");
  // The step named every node it changed.
  for (const int port : ports(g.nodes()))
    CHECK(std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
      return l.find(":" + std::to_string(port) + " ") != std::string::npos;
    }));
}

TEST_CASE(
    "masterauth follows the replication user; ACL SAVE per node; replication survives a "
    "failover with the new password") {
  auto& g = sentinel_group();
  testing::temp_dir dir;
  // The store starts from the password every node's masterauth holds.
  const std::string path =
      dir.write("repl.env", "REDIS_USER=repl\nREDIS_PASS_CURRENT=" + g.repl_password() + "\n");
  std::vector<std::string> lines;
  auto o = sentinel_topology(&lines);
  o.acl_save = true;
  rotator r(dualcred::rotation::stores::file_store(path),
            dualcred::rotation::redis::acl_admin(at_port(g.primary_port()), group_admin(), o),
            rotation_keys::for_prefix("REDIS"));
  auto done = r.run_all();
  REQUIRE_MESSAGE(done, done.error().detail);
  const std::string now = current_password(path);
  for (const int port : ports(g.nodes())) {
    const auto auth = g.admin_command(port, {"CONFIG", "GET", "masterauth"}).items;
    REQUIRE(auth.size() == 2);
    CHECK(auth[1] == now);
  }
  CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
          return l.find("saved with ACL SAVE") != std::string::npos;
        }) >= 6);
  CHECK(std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("master_link_status:up") != std::string::npos;
  }));
  CHECK(g.linked());
  const auto took = g.failover();
  MESSAGE("failover after rotating the replication user: named after "
          << took.named.count() << " ms, linked after " << took.settled.count() << " ms");
  CHECK(g.linked());
  check_every_node(ports(g.nodes()), path, g.repl_password(), "repl");
}

TEST_CASE(
    "Sentinels that log in as the rotated user: auth-pass follows with SENTINEL SET, and they "
    "log in again with the new password once the old one is revoked") {
  auto& g = sentinel_group();
  testing::temp_dir dir;
  const std::string user = "sentinel_user";
  const std::string first = "sent-" + testing::random_token(16);
  // The permissions Redis's Sentinel documentation gives a Sentinel's ACL user.
  g.on_every_node({"ACL", "SETUSER", user, "reset", "on", ">" + first, "allchannels", "+multi",
                   "+slaveof", "+ping", "+exec", "+subscribe", "+config|rewrite", "+role",
                   "+publish", "+info", "+client|setname", "+client|kill", "+script|kill"});
  const auto point_sentinels = [&](const std::string& as, const std::string& pw) {
    for (auto& s : g.sentinels()) {
      // No structured binding: doctest's message lambda captures these (clang 14 refuses).
      for (const std::string option : {"auth-user", "auth-pass"}) {
        const auto r = testing::redis_command_at(
            s->port(),
            {"SENTINEL", "SET", g.master_name(), option, option == "auth-user" ? as : pw});
        REQUIRE_MESSAGE(!r.error, "SENTINEL SET " << option << ": " << r.error);
      }
    }
  };
  // Each Sentinel holds two links to every node; how many of them are logged in as `as` on
  // the primary now.
  const auto sentinel_links_as = [&](const std::string& as) {
    const std::string list = g.admin_command(g.primary_port(), {"CLIENT", "LIST"}).text;
    int n = 0;
    for (std::size_t at = list.find(" name=sentinel-"); at != std::string::npos;
         at = list.find(" name=sentinel-", at + 1)) {
      const std::size_t eol = list.find('\n', at);
      n += list.substr(at, eol - at).find(" user=" + as + " ") != std::string::npos ? 1 : 0;
    }
    return n;
  };
  // Drops the Sentinels' links (logged in as `was`) on every node and waits until every
  // Sentinel is back on the primary as `as`: they logged in with the password they hold.
  const auto relink = [&](const std::string& was, const std::string& as) {
    g.on_every_node({"CLIENT", "KILL", "USER", was});
    const auto until = clock_type::now() + 20s;
    const int want = static_cast<int>(g.sentinels().size()) * 2;
    while (sentinel_links_as(as) < want && clock_type::now() < until)
      std::this_thread::sleep_for(100ms);
    return sentinel_links_as(as) >= want;
  };
  const rotation_tests::on_scope_exit back_to_default{[&] {
    for (auto& s : g.sentinels())
      for (const char* option : {"auth-user", "auth-pass"})
        testing::redis_command_at(s->port(), {"SENTINEL", "SET", g.master_name(), option, ""});
    relink(user, "default");
  }};
  point_sentinels(user, first);
  REQUIRE(relink("default", user));

  const std::string path =
      dir.write("sent.env", "REDIS_USER=" + user + "\nREDIS_PASS_CURRENT=" + first + "\n");
  std::vector<std::string> lines;
  rotator r(dualcred::rotation::stores::file_store(path),
            dualcred::rotation::redis::acl_admin(at_port(g.primary_port()), group_admin(),
                                                 sentinel_topology(&lines)),
            rotation_keys::for_prefix("REDIS"));
  auto done = r.run_all();
  REQUIRE_MESSAGE(done, done.error().detail);
  const std::string now = current_password(path);
  REQUIRE(now != first);
  // Every Sentinel was told, and kept it (SENTINEL SET rewrites its configuration file).
  for (auto& s : g.sentinels()) {
    CHECK(std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
      return l.find("Sentinel " + s->address() + ": auth-pass for '" + g.master_name() +
                    "' follows '" + user + "'") != std::string::npos;
    }));
    std::ifstream conf(s->dir() / "redis.conf");
    const std::string text((std::istreambuf_iterator<char>(conf)),
                           std::istreambuf_iterator<char>());
    CHECK_MESSAGE(text.find("auth-pass " + g.master_name() + " " + now) != std::string::npos,
                  s->address());
  }
  // The old password is revoked everywhere: Sentinels that reconnect can only use the new one.
  check_every_node(ports(g.nodes()), path, first, "sentinel user");
  CHECK(relink(user, user));
  const auto took = g.failover();
  MESSAGE("failover with Sentinels logged in as the rotated user: named after "
          << took.named.count() << " ms, linked after " << took.settled.count() << " ms");
  CHECK(g.linked());
}

TEST_CASE("cluster soak: clients on every primary, every node checked after every cycle") {
  auto& c = cluster();
  testing::temp_dir dir;
  const std::string path = seed(c, dir, "cl_user");
  std::vector<std::string> lines;
  dualcred::rotation::redis::admin_options o;
  o.topology.how = dualcred::rotation::redis::discovery::cluster;
  o.topology.nodes = {dualcred::redis::endpoint{"127.0.0.1", c.nodes()[0]->port()}};
  o.on_node = [&lines](std::string_view l) { lines.emplace_back(l); };
  rotator r(dualcred::rotation::stores::file_store(path),
            dualcred::rotation::redis::acl_admin(at_port(c.nodes()[0]->port()), cluster_admin(), o),
            rotation_keys::for_prefix("REDIS"));
  using creds_t = decltype(make_dual_credential(dualcred::redis::connector(at_port(0)),
                                                file_provider(path, key_names::for_prefix("REDIS")),
                                                rotation_tests::client_options()))::value_type;
  std::vector<std::unique_ptr<creds_t>> per_primary;
  std::vector<creds_t*> raw;
  for (const int port : c.primary_ports()) {
    auto dc = make_dual_credential(dualcred::redis::connector(at_port(port)),
                                   file_provider(path, key_names::for_prefix("REDIS")),
                                   rotation_tests::client_options());
    REQUIRE(dc);
    per_primary.push_back(std::make_unique<creds_t>(std::move(dc).value()));
    raw.push_back(per_primary.back().get());
  }
  REQUIRE(raw.size() == 3);
  counting_clients<creds_t> clients(raw, 4);
  const int n = topology_cycles();
  for (int i = 0; i < n; ++i) {
    const std::string before = current_password(path);
    auto done = r.run_all();
    REQUIRE_MESSAGE(done, done.error().detail);
    check_every_node(ports(c.nodes()), path, before, "cluster soak");
  }
  clients.stop();
  for (const auto& e : clients.refusals) MESSAGE("refused: " << e);
  for (const auto& e : clients.error_samples) MESSAGE("connection error: " << e);
  CHECK(clients.refused() == 0);
  CHECK(clients.take_errors().first == 0);
  CHECK(clients.ok > 0);
  MESSAGE("cluster soak: " << n << " cycles, " << clients.ok.load() << " connects");
  CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
          return l.find("accepts the new password") != std::string::npos;
        }) == 6 * n);
}

TEST_CASE(
    "--redis-acl-save: CONFIG REWRITE on a node whose users are in its config file, kept "
    "across a restart; a node with neither file is refused before any change") {
  testing::temp_dir dir;
  const std::string admin_pw = testing::random_token();
  const credential admin{"admin", secret(admin_pw)};
  const std::string first = "conf-" + testing::random_token(16);
  const auto options = [](std::vector<std::string>* lines) {
    dualcred::rotation::redis::admin_options o;
    o.topology.how = dualcred::rotation::redis::discovery::single_node;
    o.acl_save = true;
    o.on_node = [lines](std::string_view l) { lines->emplace_back(l); };
    return o;
  };

  // Users as `user` directives in redis.conf, no aclfile.
  testing::redis_process conf_node(dir.path() / "conf-node",
                                   "user default on nopass ~* &* +@all\nuser admin on >" +
                                       admin_pw + " ~* &* +@all\nuser conf_user on >" + first +
                                       " ~* &* +@all\n",
                                   std::string(), false);
  const std::string path =
      dir.write("conf.env", "REDIS_USER=conf_user\nREDIS_PASS_CURRENT=" + first + "\n");
  std::vector<std::string> lines;
  rotator r(dualcred::rotation::stores::file_store(path),
            dualcred::rotation::redis::acl_admin(at_port(conf_node.port()), admin, options(&lines)),
            rotation_keys::for_prefix("REDIS"));
  auto done = r.run_all();
  REQUIRE_MESSAGE(done, done.error().detail);
  CHECK(std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("saved with CONFIG REWRITE") != std::string::npos;
  }));
  const std::string now = current_password(path);
  conf_node.stop(SIGTERM, 10s);
  conf_node.start();
  CHECK(testing::redis_logs_in(conf_node.port(), "conf_user", now));
  CHECK_FALSE(testing::redis_logs_in(conf_node.port(), "conf_user", first));

  // Started with arguments only: a restart would lose any ACL change.
  const int port = testing::free_port();
  const auto log = dir.path() / "bare.log";
  testing::child bare({testing::redis_binary().string(), "--port", std::to_string(port), "--bind",
                       "127.0.0.1", "--save", "", "--appendonly", "no"},
                      log, testing::run_as{}, dir.path());
  testing::wait_until([&] { return testing::redis_connect(port) != nullptr; }, bare, log,
                      "redis-server");
  testing::redis_command_at(port,
                            {"ACL", "SETUSER", "admin", "on", ">" + admin_pw, "~*", "&*", "+@all"});
  testing::redis_command_at(port,
                            {"ACL", "SETUSER", "bare_user", "on", ">" + first, "~*", "+@all"});
  const std::string bare_path =
      dir.write("bare.env", "REDIS_USER=bare_user\nREDIS_PASS_CURRENT=" + first + "\n");
  lines.clear();
  rotator refused(dualcred::rotation::stores::file_store(bare_path),
                  dualcred::rotation::redis::acl_admin(at_port(port), admin, options(&lines)),
                  rotation_keys::for_prefix("REDIS"));
  auto e = refused.run_all();
  REQUIRE_FALSE(e);
  CHECK(e.error().is(errc::invalid_argument));
  CHECK(e.error().detail.find(std::to_string(port)) != std::string::npos);
  CHECK(e.error().detail.find("forget the change on restart") != std::string::npos);
  // Nothing changed: the store still names the old password CURRENT, and the node accepts
  // it and not the NEXT that prepare wrote.
  CHECK(current_password(bare_path) == first);
  CHECK(testing::redis_logs_in(port, "bare_user", first));
  const auto st = dualcred::rotation::stores::file_store(bare_path).read().value();
  REQUIRE(st.data.count("REDIS_PASS_NEXT") == 1);
  CHECK_FALSE(testing::redis_logs_in(port, "bare_user",
                                     std::string(st.data.at("REDIS_PASS_NEXT").reveal())));
  bare.stop(SIGTERM, 5s);
}

TEST_CASE("bad input: a clear error naming what failed, and no store write") {
  auto& g = sentinel_group();
  testing::temp_dir dir;
  const std::string path = seed(g, dir, "bad_user");
  const auto before = dualcred::rotation::stores::file_store(path).read().value();
  // run_all prepared NEXT, then the backend step failed: the store says so and no more.
  const auto unchanged = [&] {
    rotator r(dualcred::rotation::stores::file_store(path),
              dualcred::rotation::redis::acl_admin(at_port(g.primary_port()), group_admin()),
              rotation_keys::for_prefix("REDIS"));
    const auto st = r.state();
    REQUIRE(st);
    CHECK(st.value().phase == phase::idle);
    CHECK(st.value().next);
    CHECK(st.value().current.password.reveal() == before.data.at("REDIS_PASS_CURRENT").reveal());
  };
  const auto apply_with = [&](dualcred::rotation::redis::admin_options o,
                              dualcred::redis::params seed) {
    rotator r(dualcred::rotation::stores::file_store(path),
              dualcred::rotation::redis::acl_admin(seed, group_admin(), std::move(o)),
              rotation_keys::for_prefix("REDIS"));
    auto done = r.run_all();
    const failure_site site = done ? failure_site::none : done.error().site;
    if (!done) MESSAGE(done.error().detail);
    return std::make_pair(std::move(done), site);
  };

  SUBCASE("an unreachable node in the list") {
    const int dead = testing::free_port();
    dualcred::rotation::redis::admin_options o;
    o.topology.how = dualcred::rotation::redis::discovery::node_list;
    o.topology.nodes = {dualcred::redis::endpoint{"127.0.0.1", g.nodes()[0]->port()},
                        dualcred::redis::endpoint{"127.0.0.1", dead}};
    auto [e, site] = apply_with(o, at_port(g.nodes()[0]->port()));
    REQUIRE_FALSE(e);
    CHECK(site == failure_site::backend);
    CHECK(e.error().is(errc::backend_unavailable));
    CHECK(e.error().detail.find(std::to_string(dead)) != std::string::npos);
    unchanged();
    // Nothing changed on the reachable node either: it was checked first.
    const auto st = dualcred::rotation::stores::file_store(path).read().value();
    CHECK_FALSE(testing::redis_logs_in(g.nodes()[0]->port(), "bad_user",
                                       std::string(st.data.at("REDIS_PASS_NEXT").reveal())));
  }
  SUBCASE("a Sentinel naming an unknown master") {
    auto o = sentinel_topology();
    o.topology.sentinel.master_name = "nope";
    auto [e, site] = apply_with(o, at_port(g.primary_port()));
    REQUIRE_FALSE(e);
    CHECK(e.error().is(errc::not_found));
    CHECK(e.error().detail.find("'nope'") != std::string::npos);
    unchanged();
  }
  SUBCASE("a cluster seed not in cluster mode") {
    dualcred::rotation::redis::admin_options o;
    o.topology.how = dualcred::rotation::redis::discovery::cluster;
    o.topology.nodes = {dualcred::redis::endpoint{"127.0.0.1", g.primary_port()}};
    auto [e, site] = apply_with(o, at_port(g.primary_port()));
    REQUIRE_FALSE(e);
    CHECK(e.error().what == condition::not_a_cluster);
    CHECK(e.error().detail.find("not in cluster mode") != std::string::npos);
    unchanged();
  }
  SUBCASE("a node without the user") {
    g.admin_command(g.nodes()[2]->port(), {"ACL", "DELUSER", "bad_user"});
    auto [e, site] = apply_with(sentinel_topology(), at_port(g.primary_port()));
    REQUIRE_FALSE(e);
    CHECK(e.error().is(errc::not_found));
    CHECK(e.error().detail.find(std::to_string(g.nodes()[2]->port())) != std::string::npos);
    unchanged();
  }
}

namespace {

using rotation_tests::tool_outcome;

// dualcred-rotate with `args` (stdout and stderr together), the admin password in its
// environment; nullopt when the test runs without the tool.
std::optional<tool_outcome> rotate_tool(const std::string& args, const std::string& admin_pw) {
  const char* exe = std::getenv("DUALCRED_ROTATE_TOOL");
  if (exe == nullptr || *exe == '\0') return std::nullopt;
  testing::scoped_env pw("REDIS_ADMIN_PASSWORD", admin_pw.c_str());
  return rotation_tests::run_rotate_tool(args);
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string sentinel_flags() {
  std::string out = "--redis-master " + sentinel_group().master_name();
  for (auto& p : sentinel_group().sentinels()) out += " --redis-sentinel " + p->address();
  return out;
}

}  // namespace

TEST_CASE(
    "dualcred-rotate all with --redis-sentinel, a failover, all again: every node, each "
    "printed; --redis-host alone finds the group") {
  auto& g = sentinel_group();
  testing::temp_dir dir;
  const std::string path = seed(g, dir, "tool_user");
  const std::string base = "--backend redis --redis-admin-user admin --file " + path + " ";
  const std::string first = current_password(path);
  const auto r = rotate_tool(base + sentinel_flags() + " all", g.admin_password());
  if (!r) {
    MESSAGE("DUALCRED_ROTATE_TOOL is not set: the tool's cases are skipped");
    return;
  }
  INFO(r->output);
  REQUIRE(r->code == 0);
  for (const int port : ports(g.nodes()))
    CHECK(r->output.find(":" + std::to_string(port) + " ") != std::string::npos);
  CHECK(r->output.find(first) == std::string::npos);
  check_every_node(ports(g.nodes()), path, first, "tool sentinel");
  const auto took = g.failover();
  MESSAGE("tool: failover named after " << took.named.count() << " ms");
  const std::string second = current_password(path);
  const auto again = rotate_tool(base + sentinel_flags() + " all", g.admin_password());
  INFO(again->output);
  REQUIRE(again->code == 0);
  check_every_node(ports(g.nodes()), path, second, "tool after failover");
  // From a replica's address alone: its primary and every replica.
  int replica = 0;
  for (const int port : ports(g.nodes()))
    if (port != g.primary_port()) replica = port;
  const std::string third = current_password(path);
  const auto by_host =
      rotate_tool(base + "--redis-host 127.0.0.1 --redis-port " + std::to_string(replica) + " all",
                  g.admin_password());
  INFO(by_host->output);
  REQUIRE(by_host->code == 0);
  check_every_node(ports(g.nodes()), path, third, "tool replication group");
  // --redis-single-node changes that node only.
  const std::string fourth = current_password(path);
  const auto single = rotate_tool(base + "--redis-host 127.0.0.1 --redis-port " +
                                      std::to_string(replica) + " --redis-single-node all",
                                  g.admin_password());
  INFO(single->output);
  REQUIRE(single->code == 0);
  const std::string now = current_password(path);
  for (const int port : ports(g.nodes()))
    CHECK(testing::redis_logs_in(port, "tool_user", now) == (port == replica));
}

TEST_CASE(
    "dualcred-rotate with Sentinels that need a login: --redis-sentinel-user and "
    "REDIS_SENTINEL_PASSWORD; without them a clear error and the store untouched") {
  auto& g = sentinel_group();
  testing::temp_dir dir;
  const std::string path = seed(g, dir, "tool_sentpw");
  const std::string sentinel_pw = testing::random_token();
  // Each Sentinel gets its own ACL user; `default` (which the other Sentinels use) loses the
  // two questions the tool asks, so only the tool's login can answer them.
  const auto on_sentinels = [&](const std::vector<std::string>& args) {
    for (auto& s : g.sentinels()) {
      const auto r = testing::redis_command_at(s->port(), args);
      REQUIRE_MESSAGE(!r.error, s->address() << ": " << r.text);
    }
  };
  on_sentinels({"ACL", "SETUSER", "sentinel_admin", "on", ">" + sentinel_pw, "+@all"});
  on_sentinels(
      {"ACL", "SETUSER", "default", "-sentinel|get-master-addr-by-name", "-sentinel|replicas"});
  const rotation_tests::on_scope_exit back{[&] {
    for (auto& s : g.sentinels())
      testing::redis_command_at(s->port(), {"ACL", "SETUSER", "default", "+@all"});
  }};
  const std::string base =
      "--backend redis --redis-admin-user admin --file " + path + " " + sentinel_flags() + " ";
  const std::string before = file_bytes(path);
  const auto refused = rotate_tool(base + "all", g.admin_password());
  if (!refused) return;
  INFO(refused->output);
  CHECK(refused->code != 0);
  CHECK(refused->output.find("no Sentinel answered") != std::string::npos);
  CHECK(file_bytes(path) == before);

  const std::string first = current_password(path);
  testing::scoped_env pw("REDIS_SENTINEL_PASSWORD", sentinel_pw.c_str());
  const auto r = rotate_tool(base + "--redis-sentinel-user sentinel_admin all", g.admin_password());
  INFO(r->output);
  REQUIRE(r->code == 0);
  CHECK(r->output.find(sentinel_pw) == std::string::npos);
  check_every_node(ports(g.nodes()), path, first, "tool sentinel login");
}

TEST_CASE("dualcred-rotate all with --redis-cluster: every primary and replica") {
  auto& c = cluster();
  testing::temp_dir dir;
  const std::string path = seed(c, dir, "tool_cl");
  const std::string first = current_password(path);
  const auto r =
      rotate_tool("--backend redis --redis-admin-user admin --file " + path + " --redis-cluster " +
                      c.nodes()[1]->address() + " --redis-acl-save all",
                  c.admin_password());
  if (!r) return;
  INFO(r->output);
  REQUIRE(r->code == 0);
  for (const int port : ports(c.nodes()))
    CHECK(r->output.find(":" + std::to_string(port) + " ") != std::string::npos);
  CHECK(r->output.find("saved with ACL SAVE") != std::string::npos);
  check_every_node(ports(c.nodes()), path, first, "tool cluster");
}

TEST_CASE(
    "dualcred-rotate bad Redis deployment input: a clear error, exit 2/5/6, store untouched") {
  auto& g = sentinel_group();
  testing::temp_dir dir;
  const std::string path = seed(g, dir, "tool_bad");
  const std::string before = file_bytes(path);
  const std::string base = "--backend redis --redis-admin-user admin --file " + path + " ";
  struct bad_case {
    std::string args;
    int code;
    std::string names;
  };
  const int dead = testing::free_port();
  const std::vector<bad_case> cases{
      {"--redis-node " + g.nodes()[0]->address() +
           " --redis-node 127.0.0.1:" + std::to_string(dead) + " all",
       5, std::to_string(dead)},
      {"--redis-sentinel " + g.sentinels()[0]->address() + " --redis-master nope all", 6, "'nope'"},
      {"--redis-cluster " + g.nodes()[0]->address() + " all", 2, "not in cluster mode"},
      {"--redis-cluster " + g.nodes()[0]->address() + " --redis-node " + g.nodes()[1]->address() +
           " all",
       2, "give one of"},
      {"--redis-sentinel " + g.sentinels()[0]->address() + " all", 2, "--redis-master"},
      {"--redis-master x all", 2, "--redis-sentinel"},
      {"--redis-node nohostport all", 2, "HOST:PORT"},
  };
  for (const auto& c : cases) {
    const auto r = rotate_tool(base + c.args, g.admin_password());
    if (!r) return;
    INFO(c.args << "\n" << r->output);
    CHECK(r->code == c.code);
    CHECK(r->output.find(c.names) != std::string::npos);
    CHECK(r->output.find(g.admin_password()) == std::string::npos);
    CHECK(file_bytes(path) == before);
  }
}

TEST_SUITE_END();

}  // namespace test_redis_topology
