// The Redis trust boundary: nothing secret goes to a node the operator did not name or allow.
// Real Redis (a primary, a Sentinel group) and fake nodes (testing/fake_redis_node.py) that
// record every command they receive: a rogue replica announcing 127.0.0.2, a forged Sentinel
// added by a hello message, a rogue node in CLUSTER NODES; lists and counts over their caps;
// the allow list itself.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/redis/admin.hpp>
#include <dualcred/rotation/redis/allow.hpp>
#include <dualcred/rotation/redis/replies.hpp>

#include <dualcred_testing/fake_redis_node.hpp>
#include <dualcred_testing/redis_topology.hpp>
#include <dualcred_testing/scoped_env.hpp>
#include <dualcred_testing/temp_dir.hpp>
#include "rotation_helpers.hpp"

// Everything below in one namespace: the test programs are built as unity files.
namespace test_redis_trust {

TEST_SUITE_BEGIN("rotation_redis_trust");

using namespace std::chrono_literals;
using namespace dualcred;
using namespace dualcred::rotation;
namespace rr = dualcred::rotation::redis;
using clock_type = std::chrono::steady_clock;

namespace {

dualcred::redis::params at_port(int port) {
  dualcred::redis::params p;
  p.port = port;
  p.timeout = 5s;
  return p;
}

// The error a node outside the allowed set gives.
bool outside_allowed(const error& e) {
  return e.code == make_error_code(dualcred::rotation::condition::node_not_allowed);
}

std::string store_current(const std::string& path) {
  const auto st = stores::file_store(path).read().value();
  (void)st.data.at("REDIS_USER").reveal_public();
  return std::string(st.data.at("REDIS_PASS_CURRENT").reveal());
}

template <class Ready>
bool wait_for(Ready ready, std::chrono::seconds limit) {
  const auto until = clock_type::now() + limit;
  while (!ready()) {
    if (clock_type::now() > until) return false;
    std::this_thread::sleep_for(100ms);
  }
  return true;
}

// What a fake seed node answers to `CLUSTER NODES`: itself, then `others` (host:port each).
std::string cluster_nodes_text(const std::string& self, const std::vector<std::string>& others) {
  std::string text = "0000000000000000000000000000000000000001 " + self +
                     "@1 myself,master - 0 0 1 connected 0-16383\n";
  int id = 2;
  for (const auto& o : others)
    text += std::string(38, '0') + std::to_string(10 + id++) + " " + o +
            "@1 slave 0000000000000000000000000000000000000001 0 0 1 connected\n";
  return text;
}

}  // namespace

TEST_CASE("allow_list: addresses by network (IPv4, IPv6, mapped), names exactly, bad entries") {
  auto a = rr::allow_list::parse("10.1.0.0/16,127.0.0.1,Redis-A.example.,fd00::/8,[::1]");
  REQUIRE_MESSAGE(a, a.error().detail);
  const auto& allow = a.value();
  CHECK(allow.contains("10.1.255.3"));
  CHECK_FALSE(allow.contains("10.2.0.1"));
  CHECK(allow.contains("127.0.0.1"));
  CHECK_FALSE(allow.contains("127.0.0.2"));
  CHECK(allow.contains("::ffff:10.1.2.3"));
  CHECK(allow.contains("fd12:3456::1"));
  CHECK_FALSE(allow.contains("fe80::1"));
  CHECK(allow.contains("::1"));
  CHECK(allow.contains("redis-a.example"));
  CHECK(allow.contains("REDIS-A.EXAMPLE."));
  CHECK_FALSE(allow.contains("redis-a.example.evil"));
  CHECK_FALSE(allow.contains("10.1.0.0.evil"));
  CHECK_FALSE(allow.contains(""));
  CHECK(rr::allow_list::parse("0.0.0.0/0").value().contains("192.0.2.1"));
  CHECK(rr::allow_list::parse("10.0.0.8/31").value().contains("10.0.0.9"));
  // Host bits past the prefix: a typo for a host or for its network, not ours to guess.
  CHECK_FALSE(rr::allow_list::parse("10.0.0.9/31"));
  for (const char* bad : {"", "10.0.0.0/33", "fd00::/129", "10.0.0.0/", "host/8", "a b",
                          "10.0.0.0/8,", "x/1/2", "ex\x01mple"}) {
    auto e = rr::allow_list::parse(bad);
    REQUIRE_FALSE_MESSAGE(e, bad);
    CHECK(e.error().is(errc::invalid_argument));
    CHECK(e.error().detail.find("allow list entry") != std::string::npos);
  }
  // The default: only what the operator named.
  rr::topology t;
  t.how = rr::discovery::sentinel;
  t.sentinel.sentinels = {{"10.9.0.1", 26379}, {"sentinel-b", 26379}};
  const auto named = rr::allowed_hosts(t, at_port(6379));
  CHECK(named.contains("10.9.0.1"));
  CHECK(named.contains("sentinel-b"));
  CHECK_FALSE(named.contains("127.0.0.1"));
  CHECK(rr::allowed_hosts({}, at_port(6379)).contains("127.0.0.1"));
}

TEST_CASE("reply parsers: counts and lists over their caps are errors naming the node and cap") {
  const auto replicas = rr::replies::info_replicas(
      "# Replication\r\nrole:master\r\nconnected_slaves:2000000000\r\n", "Redis h:1");
  REQUIRE_FALSE(replicas);
  CHECK(replicas.error().detail.find("Redis h:1") != std::string::npos);
  CHECK(replicas.error().detail.find("cap of 1000") != std::string::npos);
  std::string many = "role:master\r\n";
  for (int i = 0; i <= 1000; ++i)
    many += "slave" + std::to_string(i) + ":ip=10.0.0.1,port=" + std::to_string(i + 1) + "\r\n";
  CHECK_FALSE(rr::replies::info_replicas(many, "n"));
  const auto two =
      rr::replies::info_replicas("slave0:ip=a,port=1\nslave1:ip=b,port=0\nslave2:port=3\n", "n");
  REQUIRE(two);
  CHECK(two.value().size() == 1);
  std::vector<std::string> others;
  for (int i = 0; i < 1000; ++i) others.push_back("10.0.0.1:" + std::to_string(i + 1));
  const auto cl = rr::replies::cluster_nodes(cluster_nodes_text("10.0.0.1:7000", others), "n");
  REQUIRE_FALSE(cl);
  CHECK(cl.error().detail.find("cap of 1000") != std::string::npos);
  const std::string_view fields[] = {"name", "x", "ip", "10.0.0.2", "port", "6380x"};
  CHECK_FALSE(rr::replies::sentinel_entry(fields));
}

namespace {

// Whether the primary lists `rogue` among its replicas (what it announced) within 20 s.
bool listed_as_replica(testing::redis_server& rd, testing::fake_redis_node& rogue) {
  const std::string listed = "ip=127.0.0.2,port=" + std::to_string(rogue.port());
  return wait_for(
      [&] {
        return rd.must({"INFO", "replication"}).text.find(listed) != std::string::npos;
      },
      20s);
}

// A Redis whose user `app` logs in with `first`, the store's CURRENT at `path`, and a rogue
// replica that announced 127.0.0.2 to it. Tests name the members by reference, not by a
// structured binding: clang 14 cannot capture a binding in a lambda.
struct rogue_replica_setup {
  testing::redis_server rd;
  testing::temp_dir dir;
  const std::string first = "first-" + testing::random_token(16);
  const std::string path = app_store(rd, dir, first);
  testing::fake_redis_node rogue{{"127.0.0.2", "slave", rd.port(), "127.0.0.2"}};

  static std::string app_store(testing::redis_server& rd, testing::temp_dir& dir,
                               const std::string& first) {
    rd.set_user("app", {first});
    return dir.write("app.env", "REDIS_USER=app\nREDIS_PASS_CURRENT=" + first + "\n");
  }
};

}  // namespace

TEST_CASE(
    "a rogue replica announcing 127.0.0.2: the step stops naming it before any change, and it "
    "receives nothing; allowed, discovery finds it") {
  rogue_replica_setup setup;
  auto& rd = setup.rd;
  auto& rogue = setup.rogue;
  const std::string &first = setup.first, &path = setup.path;
  REQUIRE(listed_as_replica(rd, rogue));
  const credential admin{rd.admin_user(), secret(rd.admin_password())};
  rotator r(stores::file_store(path), rr::acl_admin(at_port(rd.port()), admin),
            rotation_keys::for_prefix("REDIS"));
  auto done = r.run_all();
  REQUIRE_FALSE(done);
  INFO(done.error().detail);
  CHECK(outside_allowed(done.error()));
  CHECK(done.error().detail.find(rogue.address()) != std::string::npos);
  CHECK(done.error().detail.find("INFO replication") != std::string::npos);
  CHECK_MESSAGE(rogue.commands().empty(), rogue.transcript());
  // Nothing changed: CURRENT still logs in, the NEXT prepared does not.
  CHECK(store_current(path) == first);
  CHECK(testing::redis_logs_in(rd.port(), "app", first));
  const auto st = stores::file_store(path).read().value();
  if (st.data.count("REDIS_PASS_NEXT") == 1)
    CHECK_FALSE(testing::redis_logs_in(rd.port(), "app",
                                       std::string(st.data.at("REDIS_PASS_NEXT").reveal())));

  // The operator allows 127.0.0.2: discovery goes on and lists it.
  auto allow = rr::allow_list::parse("127.0.0.2/32");
  REQUIRE(allow);
  auto found = rr::discover_nodes({}, at_port(rd.port()), admin, allow.value());
  REQUIRE_MESSAGE(found, found.error().detail);
  CHECK(std::any_of(found.value().nodes.begin(), found.value().nodes.end(),
                    [&](const rr::node& n) { return n.at.port == rogue.port(); }));
}

TEST_CASE(
    "a forged Sentinel added by a hello message: listed by the real Sentinel, sent nothing; "
    "the step goes on with the named Sentinel and reports it") {
  testing::redis_sentinel_group g(1, 1, "trustmaster");
  testing::temp_dir dir;
  const std::string first = "sent-" + testing::random_token(16);
  g.on_every_node({"ACL", "SETUSER", "app", "reset", "on", ">" + first, "~*", "&*", "+@all"});
  const std::string path =
      dir.write("app.env", "REDIS_USER=app\nREDIS_PASS_CURRENT=" + first + "\n");
  // A connection to the primary as the rotated user named like a Sentinel's: the rotator
  // then sends auth-pass to the Sentinels.
  auto as_sentinel = testing::redis_connect(g.primary_port(), "app", first);
  REQUIRE(as_sentinel != nullptr);
  REQUIRE(testing::redis_run(as_sentinel.get(), {"CLIENT", "SETNAME", "sentinel-watch-cmd"}));

  testing::fake_redis_node forged({"127.0.0.2", "master", 0, ""});
  const std::string hello = "127.0.0.2," + std::to_string(forged.port()) + "," +
                            std::string(40, 'f') + ",0,trustmaster,127.0.0.1," +
                            std::to_string(g.primary_port()) + ",0";
  const int real = g.sentinels()[0]->port();
  // Published until the real Sentinel counts another Sentinel (it has none of its own).
  REQUIRE(wait_for(
      [&] {
        testing::redis_command_at(g.primary_port(), {"PUBLISH", "__sentinel__:hello", hello});
        const auto m = testing::redis_command_at(real, {"SENTINEL", "MASTER", "trustmaster"});
        const auto it = std::find(m.items.begin(), m.items.end(), "num-other-sentinels");
        return it != m.items.end() && it + 1 != m.items.end() && *(it + 1) == "1";
      },
      20s));

  std::vector<std::string> lines;
  rr::admin_options o;
  o.topology.how = rr::discovery::sentinel;
  o.topology.sentinel.sentinels = {{"127.0.0.1", real}};
  o.topology.sentinel.master_name = "trustmaster";
  o.topology.sentinel.timeout = 2s;
  o.on_node = [&lines](std::string_view l) { lines.emplace_back(l); };
  rotator r(stores::file_store(path),
            rr::acl_admin(at_port(g.primary_port()), {"admin", secret(g.admin_password())}, o),
            rotation_keys::for_prefix("REDIS"));
  REQUIRE(r.prepare());
  auto applied = r.apply();
  REQUIRE_MESSAGE(applied, applied.error().detail);
  const auto st = stores::file_store(path).read().value();
  const std::string next(st.data.at("REDIS_PASS_NEXT").reveal());
  const std::string transcript = forged.transcript();
  INFO(transcript);
  CHECK_FALSE(forged.received_command("AUTH"));
  CHECK_FALSE(forged.received_command("SENTINEL"));
  CHECK_FALSE(forged.received(next));
  CHECK_FALSE(forged.received(first));
  CHECK_FALSE(forged.received(g.admin_password()));
  CHECK(std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
    return l.find("Sentinel " + forged.address() +
                  ": listed by SENTINEL SENTINELS but not named") != std::string::npos;
  }));
  // The named Sentinel was told.
  CHECK(std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
    return l.find("Sentinel 127.0.0.1:" + std::to_string(real) + ": auth-pass") !=
           std::string::npos;
  }));
}

TEST_CASE(
    "a rogue node in CLUSTER NODES: the step stops naming it before any change, and it "
    "receives nothing; allowed, discovery lists it") {
  testing::fake_redis_node seed({"127.0.0.1", "master", 0, ""});
  testing::fake_redis_node rogue({"127.0.0.2", "master", 0, ""});
  seed.set_reply("CLUSTER_NODES",
                 testing::resp_bulk(cluster_nodes_text(seed.address(), {rogue.address()})));
  rr::admin_options o;
  o.topology.how = rr::discovery::cluster;
  o.topology.nodes = {{"127.0.0.1", seed.port()}};
  const std::string admin_pw = testing::random_token();
  const std::string next = "next-" + testing::random_token(16);
  rr::acl_admin admin(at_port(seed.port()), {"admin", secret(admin_pw)}, o);
  auto accepted = admin.accept({"app", secret(next)});
  REQUIRE_FALSE(accepted);
  INFO(accepted.error().detail);
  CHECK(outside_allowed(accepted.error()));
  CHECK(accepted.error().detail.find(rogue.address()) != std::string::npos);
  CHECK(accepted.error().detail.find("CLUSTER NODES") != std::string::npos);
  CHECK_MESSAGE(rogue.commands().empty(), rogue.transcript());
  CHECK_FALSE(seed.received_command("ACL"));
  CHECK_FALSE(seed.received(next));

  o.allow = rr::allow_list::parse("127.0.0.0/30").value();
  auto found = rr::acl_admin(at_port(seed.port()), {"admin", secret(admin_pw)}, o).nodes();
  REQUIRE_MESSAGE(found, found.error().detail);
  CHECK(found.value().nodes.size() == 2);
}

TEST_CASE(
    "a hostile node's counts and lists over the caps: connected_slaves:2000000000, 1001 "
    "CLUSTER NODES lines, 1001 SENTINEL REPLICAS entries, each an error at once") {
  const credential admin{"admin", secret(testing::random_token())};
  testing::fake_redis_node node({"127.0.0.1", "master", 0, ""});
  node.set_reply("INFO", testing::resp_bulk("# Replication\r\nrole:master\r\nconnected_slaves:"
                                            "2000000000\r\n"));
  const auto start = clock_type::now();
  auto spin = rr::discover_nodes({}, at_port(node.port()), admin);
  REQUIRE_FALSE(spin);
  CHECK(clock_type::now() - start < 10s);
  CHECK(spin.error().detail.find(node.address()) != std::string::npos);
  CHECK(spin.error().detail.find("cap of 1000") != std::string::npos);

  std::vector<std::string> others;
  for (int i = 0; i < 1000; ++i) others.push_back("127.0.0.1:" + std::to_string(20000 + i));
  node.set_reply("CLUSTER_NODES", testing::resp_bulk(cluster_nodes_text(node.address(), others)));
  rr::topology ct;
  ct.how = rr::discovery::cluster;
  auto cl = rr::discover_nodes(ct, at_port(node.port()), admin);
  REQUIRE_FALSE(cl);
  CHECK(cl.error().detail.find("cap of 1000") != std::string::npos);

  // A Sentinel (the fake answers as one) naming the fake as primary and 1001 replicas.
  node.set_reply("SENTINEL_GET-MASTER-ADDR-BY-NAME",
                 testing::resp_array({testing::resp_bulk("127.0.0.1"),
                                      testing::resp_bulk(std::to_string(node.port()))}));
  std::vector<std::string> entries;
  for (int i = 0; i <= 1000; ++i)
    entries.push_back(testing::resp_array(
        {testing::resp_bulk("ip"), testing::resp_bulk("127.0.0.1"), testing::resp_bulk("port"),
         testing::resp_bulk(std::to_string(20000 + i))}));
  node.set_reply("SENTINEL_REPLICAS", testing::resp_array(entries));
  rr::topology st;
  st.how = rr::discovery::sentinel;
  st.sentinel.sentinels = {{"127.0.0.1", node.port()}};
  st.sentinel.master_name = "m";
  auto sn = rr::discover_nodes(st, at_port(node.port()), admin);
  REQUIRE_FALSE(sn);
  CHECK(sn.error().detail.find("cap of 1000") != std::string::npos);
}

TEST_CASE(
    "dualcred-rotate --redis-host with a rogue replica: refused before the store is written, "
    "naming it; the rogue receives nothing") {
  const char* exe = std::getenv("DUALCRED_ROTATE_TOOL");
  if (exe == nullptr || *exe == '\0') {
    MESSAGE("DUALCRED_ROTATE_TOOL is not set: the tool's case is skipped");
    return;
  }
  rogue_replica_setup setup;
  auto& rd = setup.rd;
  auto& rogue = setup.rogue;
  const std::string &first = setup.first, &path = setup.path;
  REQUIRE(listed_as_replica(rd, rogue));
  const auto bytes = [&] {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const std::string before = bytes();
  testing::scoped_env pw("REDIS_ADMIN_PASSWORD", rd.admin_password().c_str());
  const auto r = rotation_tests::run_rotate_tool(
      "--backend redis --redis-admin-user admin --file " + path +
      " --redis-host 127.0.0.1 --redis-port " + std::to_string(rd.port()) + " all");
  INFO(r.output);
  CHECK(r.code == 12);
  CHECK(r.output.find("--redis-allow") != std::string::npos);  // the tool's hint
  CHECK(r.output.find(rogue.address()) != std::string::npos);
  CHECK(r.output.find("outside the allowed hosts") != std::string::npos);
  CHECK(r.output.find(rd.admin_password()) == std::string::npos);
  CHECK(bytes() == before);
  CHECK_MESSAGE(rogue.commands().empty(), rogue.transcript());
  CHECK(testing::redis_logs_in(rd.port(), "app", first));
}

TEST_SUITE_END();

}  // namespace test_redis_trust
