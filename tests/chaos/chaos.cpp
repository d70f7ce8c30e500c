// The chaos soak: dualcred's promise, "no new connection ever fails during a
// rotation", checked over many rotation cycles while the rotator is SIGKILLed, the secret
// store flaps and the backends restart.
//
// It starts PostgreSQL, Redis and the KV v2 test server on loopback and keeps client threads
// (--clients per login, 4 by default) connecting through dual_credential with the Vault
// provider (periodic refresh on) to three logins held in one Vault secret:
//   postgres-single       DB_*     one role, its password replaced (pg single strategy)
//   postgres-alternating  DBALT_*  two roles taking turns (pg alternating strategy)
//   redis                 REDIS_*  one ACL user holding two passwords during a rotation
// Each cycle rotates one login (in turn) with the dualcred-rotate binary as a child process
// (Vault store, the runner's /health as its fleet), SIGKILLs it at a random point in some
// cycles and runs `all` again to finish; in some cycles the KV v2 server answers the clients'
// reloads with faults (503, sealed, a delay past their timeout, a dropped connection) for a
// while; every --restart-every cycles Redis, then PostgreSQL, is restarted.
//
// Asserted, and counted on the last line:
// - no connect fails for credentials (auth_rejected or all_rejected returned to a client);
// - connection errors happen only inside a restart's window (from the stop to the server
//   taking logins again; each window's length is reported);
// - after a kill, and after every cycle: no password the backend accepts is missing from the
//   store ("lost"), and the phase is one `all` resumes from; after every cycle the phase is
//   idle, CURRENT logs in and the decommissioned password does not.
// What "lost" means per backend:
// - Redis: ACL GETUSER lists the user's password hashes; each must be the SHA-256 of a
//   store value (CURRENT, NEXT or PREVIOUS). When idle, exactly CURRENT's.
// - PostgreSQL: a role holds at most one password and its SCRAM verifier cannot be compared
//   with a value, so: every role that has a password (pg_authid) must be logged in to by one
//   of the store's credentials for that role. When idle, the roles other than CURRENT's
//   have no password (alternating) and PREVIOUS is refused.
//
//   dualcred_chaos --rotate PATH [--cycles N] [--seed S] [--results FILE]
//                  [--restart-every K] [--kill-ratio R] [--fault-ratio R] [--clients N]
//                  [--pause-ms MS] [--plant-lost-password CYCLE] [--crash-restarts]
//                  [--verbose]
//
// --crash-restarts makes every other restart of each backend a crash (Redis SIGKILLed, so
// ACL changes not saved are gone; PostgreSQL's immediate shutdown, so it recovers on start)
// instead of a clean stop.
//
// --plant-lost-password CYCLE checks the checker: after that cycle's rotation it gives Redis
// and the idle PostgreSQL alternating role a password the store does not hold (no client
// uses them), and the run passes only if exactly those 2 lost passwords are found.
//
// The cycle plan (which cycles kill, where in the run as a fraction of the expected run time,
// which faults when, which restarts) comes from the seed, printed first, so a failing run
// replays with --seed; the operating system's timing does not replay. Exit 0 when every
// assertion held, 1 when one failed, 2 on bad usage.

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <dualcred/backend/hiredis.hpp>
#include <dualcred/backend/libpq.hpp>
#include <dualcred/dual_credential.hpp>
#include <dualcred/health.hpp>
#include <dualcred/http/curl.hpp>
#include <dualcred/provider/vault.hpp>
#include <dualcred/rotation.hpp>
#include <dualcred/rotation/redis/detail/sha256.hpp>
#include <dualcred/rotation/stores/vault.hpp>

#include <dualcred_testing/kv2_server.hpp>
#include <dualcred_testing/postgres.hpp>
#include <dualcred_testing/process.hpp>
#include <dualcred_testing/redis.hpp>
#include <dualcred_testing/temp_dir.hpp>
#include "health_server.hpp"

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;
namespace rot = dualcred::rotation;
namespace dt = dualcred::testing;

constexpr const char* secret_path = "chaos/app";

// SIGINT/SIGTERM: finish the cycle under way, then report the cycles done.
volatile std::sig_atomic_t stop_requested = 0;
extern "C" void request_stop(int) {
  stop_requested = 1;
}
// The clients' Vault requests carry this header; faults hit only requests that do, so the
// rotator keeps its store while the clients' reloads fail.
constexpr const char* client_header = "X-Chaos-Client";

struct config {
  int cycles = 10;
  std::uint64_t seed = 0;
  bool seed_given = false;
  std::string rotate_tool;
  std::string results;
  int restart_every = 4;
  double kill_ratio = 0.3;
  double fault_ratio = 0.4;
  int clients = 4;
  int pause_ms = 2;
  int plant_at = 0;
  bool crash_restarts = false;
  bool verbose = false;
};

double seconds_since(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}
double ms_since(steady::time_point t0) {
  return std::chrono::duration<double, std::milli>(steady::now() - t0).count();
}

// ---------------------------------------------------------------------------------------
// Clients

// A restart's bracket: `began` is bumped before the stop, `ended` once the server takes
// logins again. A connect that saw them differ, or saw either change while it ran, overlapped
// a restart window.
struct restart_marks {
  std::atomic<std::uint64_t> began{0};
  std::atomic<std::uint64_t> ended{0};
};

struct tally {
  std::atomic<std::uint64_t> ok{0};
  std::atomic<std::uint64_t> auth_failures{0};
  std::atomic<std::uint64_t> window_errors{0};
  std::atomic<std::uint64_t> stray_errors{0};  // connection errors outside restart windows
  std::mutex mutex;
  std::vector<std::string> details;

  // Printed at once too, so a long run shows a failure when it happens.
  void note(std::string line) {
    std::lock_guard lock(mutex);
    if (details.size() >= 20) return;
    fmt::print("chaos: {}\n", line);
    std::fflush(stdout);
    details.push_back(std::move(line));
  }
};

// Adds the client header to every request of the clients' Vault provider.
class client_transport {
 public:
  client_transport() : http_(std::make_shared<dualcred::curl_transport>(options())) {}
  dualcred::result<dualcred::http_response> operator()(const dualcred::http_request& r) {
    dualcred::http_request tagged = r;
    tagged.headers.emplace_back(client_header, "1");
    return (*http_)(tagged);
  }

 private:
  // Short, so a delayed reload is a timeout rather than a stall.
  static dualcred::curl_options options() {
    dualcred::curl_options o;
    o.connect_timeout = 1s;
    o.timeout = 1s;
    return o;
  }
  std::shared_ptr<dualcred::curl_transport> http_;
};

using vault_provider = dualcred::vault_kv2_provider<client_transport>;
using pg_creds = dualcred::dual_credential<dualcred::pg::connector, vault_provider>;
using redis_creds = dualcred::dual_credential<dualcred::redis::connector, vault_provider>;

bool select_one(dualcred::pg::connection& c) {
  std::unique_ptr<PGresult, void (*)(PGresult*)> res(PQexec(c.get(), "SELECT 1"), PQclear);
  return PQresultStatus(res.get()) == PGRES_TUPLES_OK;
}

bool ping(dualcred::redis::connection& c) {
  std::unique_ptr<redisReply, void (*)(void*)> reply(
      static_cast<redisReply*>(redisCommand(c.get(), "PING")), freeReplyObject);
  return reply && reply->type == REDIS_REPLY_STATUS && std::string_view(reply->str) == "PONG";
}

template <class Creds, class Query>
void client_loop(Creds& creds, Query query, tally& t, const restart_marks& marks,
                 const std::atomic<bool>& stop, ms pause, steady::time_point t0,
                 const std::string& name) {
  while (!stop.load(std::memory_order_relaxed)) {
    const std::uint64_t b0 = marks.began.load(), e0 = marks.ended.load();
    auto conn = creds.connect();
    std::optional<dualcred::error> err;
    if (!conn)
      err = conn.error();
    else if (!query(conn.value()))
      err = dualcred::error(dualcred::errc::backend_unavailable, "connected, but the query failed");
    const std::uint64_t b1 = marks.began.load(), e1 = marks.ended.load();
    if (!err) {
      t.ok.fetch_add(1, std::memory_order_relaxed);
      if (pause.count() > 0) std::this_thread::sleep_for(pause);
      continue;
    }
    const bool credentials =
        dualcred::is_auth_failure(*err) || err->is(dualcred::errc::all_rejected);
    if (credentials) {
      t.auth_failures.fetch_add(1);
      t.note(fmt::format("{:.3f}s {}: auth failure: {}", seconds_since(t0), name, err->detail));
    } else if (b0 != e0 || b1 != e1 || b0 != b1) {
      t.window_errors.fetch_add(1);
    } else {
      t.stray_errors.fetch_add(1);
      t.note(fmt::format("{:.3f}s {}: connection error outside a restart window: {}",
                         seconds_since(t0), name, err->detail));
    }
    std::this_thread::sleep_for(5ms);  // a refused port answers at once: do not spin
  }
}

// ---------------------------------------------------------------------------------------
// The logins and their checks

enum class kind { redis, pg_single, pg_alternating };

struct login {
  std::string name;
  kind k;
  std::string prefix;
  std::vector<std::string> roles;  // PostgreSQL roles, or the Redis user
  double expected_ms = 1500;       // a clean run's duration, for the kill point
  int clean_runs = 0;
};

struct world {
  dt::postgres_server& pg;
  dt::redis_server& redis;
  kv2test::kv2_server& kv;
  rot::stores::vault_store<dualcred::curl_transport>& store;
};

dualcred::pg::params pg_params(dt::postgres_server& pg) {
  dualcred::pg::params p;
  p.host = pg.host();
  p.port = pg.port();
  p.dbname = "postgres";
  p.connect_timeout = 5s;
  return p;
}

dualcred::redis::params redis_params(dt::redis_server& r) {
  dualcred::redis::params p;
  p.host = r.host();
  p.port = r.port();
  p.timeout = 5s;
  return p;
}

// Whether `cred` logs in (and answers a query); nullopt with `why` when the backend could not
// say (unreachable), which is a failed check of its own.
std::optional<bool> logs_in(world& w, const login& l, const dualcred::credential& cred,
                            std::string& why) {
  if (l.k == kind::redis) {
    dualcred::redis::connector connect(redis_params(w.redis));
    auto c = connect(cred);
    if (c) return ping(c.value());
    if (dualcred::is_auth_failure(c.error())) return false;
    why = c.error().detail;
    return std::nullopt;
  }
  dualcred::pg::connector connect(pg_params(w.pg));
  auto c = connect(cred);
  if (c) return select_one(c.value());
  if (dualcred::is_auth_failure(c.error())) return false;
  why = c.error().detail;
  return std::nullopt;
}

// The password hashes Redis holds for `user` (ACL GETUSER's "passwords").
std::optional<std::set<std::string>> redis_hashes(dt::redis_server& r, const std::string& user,
                                                  std::string& why) {
  std::unique_ptr<redisContext, void (*)(redisContext*)> c(
      redisConnectWithTimeout(r.host().c_str(), r.port(), timeval{5, 0}), redisFree);
  if (!c || c->err != 0) {
    why = c ? c->errstr : "cannot allocate a redis context";
    return std::nullopt;
  }
  const char* auth[] = {"AUTH", r.admin_user().c_str(), r.admin_password().c_str()};
  std::unique_ptr<redisReply, void (*)(void*)> a(
      static_cast<redisReply*>(redisCommandArgv(c.get(), 3, auth, nullptr)), freeReplyObject);
  if (!a || a->type != REDIS_REPLY_STATUS) {
    why = "admin AUTH failed";
    return std::nullopt;
  }
  const char* get[] = {"ACL", "GETUSER", user.c_str()};
  std::unique_ptr<redisReply, void (*)(void*)> g(
      static_cast<redisReply*>(redisCommandArgv(c.get(), 3, get, nullptr)), freeReplyObject);
  if (!g || g->type != REDIS_REPLY_ARRAY) {
    why = "ACL GETUSER gave no user";
    return std::nullopt;
  }
  std::set<std::string> out;
  for (std::size_t i = 0; i + 1 < g->elements; i += 2) {
    const redisReply* key = g->element[i];
    const redisReply* value = g->element[i + 1];
    if (key->str == nullptr || std::string_view(key->str, key->len) != "passwords") continue;
    for (std::size_t k = 0; k < value->elements; ++k)
      out.emplace(value->element[k]->str, value->element[k]->len);
  }
  return out;
}

struct findings {
  int lost = 0;
  std::vector<std::string> problems;  // every failed check, lost passwords included
};

// Where the kills left the rotated login: the phase the store says, and how often the
// backend was a step ahead of it (changed, but the store not yet written: the window a kill
// must not lose a password in).
struct kill_stats {
  std::map<std::string, int> phases;
  int backend_ahead = 0;
};

std::vector<dualcred::credential> store_credentials(const rot::rotation_state& st) {
  std::vector<dualcred::credential> out;
  out.push_back(st.current);
  if (st.next) out.push_back(*st.next);
  if (st.previous) out.push_back(*st.previous);
  return out;
}

// The checks of one login. `settled`: a cycle just finished, so the phase must be idle,
// CURRENT must log in and the decommissioned password must not; otherwise (after a kill)
// only what must hold at every moment: nothing lost, and a phase `all` resumes from.
void check_login(world& w, const login& l, bool settled, findings& f,
                 kill_stats* killed = nullptr) {
  auto raw = w.store.read();
  if (!raw) {
    f.problems.push_back(
        fmt::format("{}: the store cannot be read: {}", l.name, raw.error().detail));
    return;
  }
  auto parsed =
      rot::parse_state(raw.value().data, rot::rotation_keys::for_prefix(l.prefix), "the store");
  if (!parsed) {
    f.problems.push_back(
        fmt::format("{}: the store does not parse: {}", l.name, parsed.error().detail));
    return;
  }
  const rot::rotation_state& st = parsed.value();
  if (!rot::resume_step(st.phase))
    f.problems.push_back(fmt::format("{}: the store is in phase {}, which `all` cannot finish",
                                     l.name, rot::to_string(st.phase)));
  if (settled && st.phase != rot::phase::idle)
    f.problems.push_back(
        fmt::format("{}: phase {} after `all` succeeded", l.name, rot::to_string(st.phase)));
  const auto creds = store_credentials(st);
  std::string why;
  bool ahead = false;

  if (l.k == kind::redis) {
    auto hashes = redis_hashes(w.redis, l.roles.front(), why);
    if (!hashes) {
      f.problems.push_back(fmt::format("{}: cannot read the ACL: {}", l.name, why));
      return;
    }
    std::set<std::string> known;
    for (const auto& c : creds) known.insert(rot::redis::detail::sha256_hex(c.password.reveal()));
    for (const auto& h : *hashes)
      if (!known.contains(h)) {
        ++f.lost;
        f.problems.push_back(fmt::format(
            "{}: LOST: Redis accepts a password for '{}' that the store does not hold (phase {})",
            l.name, l.roles.front(), rot::to_string(st.phase)));
      }
    // Applied but not recorded; decommissioned but not recorded.
    if (st.phase == rot::phase::idle && st.next &&
        hashes->contains(rot::redis::detail::sha256_hex(st.next->password.reveal())))
      ahead = true;
    if (st.phase == rot::phase::verified && st.previous &&
        !hashes->contains(rot::redis::detail::sha256_hex(st.previous->password.reveal())))
      ahead = true;
    if (settled && st.phase == rot::phase::idle &&
        *hashes !=
            std::set<std::string>{rot::redis::detail::sha256_hex(st.current.password.reveal())})
      f.problems.push_back(
          fmt::format("{}: idle, but Redis holds {} password(s) for '{}' rather than CURRENT alone",
                      l.name, hashes->size(), l.roles.front()));
  } else {
    std::string in;
    for (const auto& r : l.roles)
      in += (in.empty() ? "" : ",") + dt::postgres_server::quote_literal(r);
    std::vector<std::vector<std::string>> rows;
    try {
      rows = w.pg.exec("SELECT rolname, rolpassword IS NOT NULL FROM pg_authid WHERE rolname IN (" +
                       in + ")");
    } catch (const std::exception& e) {
      f.problems.push_back(fmt::format("{}: cannot read pg_authid: {}", l.name, e.what()));
      return;
    }
    for (const auto& row : rows) {
      const std::string& role = row[0];
      const bool has_password = row[1] == "t";
      // Decommissioned but not recorded (alternating: the old role lost its password).
      if (!has_password && st.phase == rot::phase::verified && st.previous &&
          st.previous->user == role && st.previous->user != st.current.user)
        ahead = true;
      if (!has_password) continue;
      bool known = false;
      for (const auto& c : creds) {
        if (c.user != role) continue;
        const auto in_ok = logs_in(w, l, c, why);
        if (!in_ok) {
          f.problems.push_back(fmt::format("{}: cannot log in to check: {}", l.name, why));
          return;
        }
        if (*in_ok) {
          known = true;
          // Applied but not recorded (the role takes NEXT while the store says idle).
          if (st.phase == rot::phase::idle && st.next && c == *st.next) ahead = true;
          break;
        }
      }
      if (!known) {
        ++f.lost;
        f.problems.push_back(fmt::format(
            "{}: LOST: role '{}' has a password that none of the store's credentials for it "
            "logs in with (phase {})",
            l.name, role, rot::to_string(st.phase)));
      }
      if (settled && st.phase == rot::phase::idle && role != st.current.user)
        f.problems.push_back(fmt::format(
            "{}: idle, but role '{}' (not CURRENT's) still has a password", l.name, role));
    }
  }

  if (killed != nullptr) {
    ++killed->phases[std::string(rot::to_string(st.phase))];
    if (ahead) ++killed->backend_ahead;
  }
  if (!settled) return;
  const auto current_ok = logs_in(w, l, st.current, why);
  if (!current_ok || !*current_ok)
    f.problems.push_back(fmt::format("{}: CURRENT ('{}') does not log in{}", l.name,
                                     st.current.user, current_ok ? "" : ": " + why));
  if (st.phase == rot::phase::idle && st.previous && *st.previous != st.current) {
    const auto previous_ok = logs_in(w, l, *st.previous, why);
    if (!previous_ok || *previous_ok)
      f.problems.push_back(
          fmt::format("{}: the decommissioned PREVIOUS ('{}') {}", l.name, st.previous->user,
                      previous_ok ? "still logs in" : "cannot be checked: " + why));
  }
}

// The checker's own check: passwords the store does not hold, where no client logs in.
constexpr int planted_losses = 2;
void plant_lost_passwords(world& w) {
  w.redis.must({"ACL", "SETUSER", "chaos", ">" + dt::random_token(32)});
  auto raw = w.store.read();
  if (!raw) throw std::runtime_error("cannot read the store: " + raw.error().detail);
  auto st = rot::parse_state(raw.value().data, rot::rotation_keys::for_prefix("DBALT"), "store");
  if (!st) throw std::runtime_error("cannot parse the store: " + st.error().detail);
  w.pg.set_password(st.value().current.user == "chaos_a" ? "chaos_b" : "chaos_a",
                    dt::random_token(32));
}

// ---------------------------------------------------------------------------------------
// The plan

enum class fault_kind { status_503, sealed, timeout, drop };

std::string_view to_string(fault_kind k) {
  switch (k) {
    case fault_kind::status_503:
      return "503";
    case fault_kind::sealed:
      return "sealed";
    case fault_kind::timeout:
      return "timeout";
    case fault_kind::drop:
      return "drop";
  }
  return "503";
}

std::string fault_body(fault_kind k) {
  const std::string match = fmt::format(R"("headers":{{"{}":"1"}},"count":-1)", client_header);
  switch (k) {
    case fault_kind::status_503:
      return fmt::format(R"({{"kind":"status","status":503,{}}})", match);
    case fault_kind::sealed:
      return fmt::format(R"({{"kind":"sealed",{}}})", match);
    case fault_kind::timeout:  // past the clients' 1 s timeout
      return fmt::format(R"({{"kind":"delay","seconds":1.5,{}}})", match);
    case fault_kind::drop:
      return fmt::format(R"({{"kind":"drop",{}}})", match);
  }
  return {};
}

// One cycle's draws, always the same number in the same order, so the plan replays.
struct cycle_plan {
  bool kill = false;
  double kill_at = 0;  // of the expected run time
  bool kill_again = false;
  double kill_again_at = 0;
  bool fault = false;
  fault_kind fault_k = fault_kind::status_503;
  double fault_start = 0;  // of the expected run time
  double fault_ms = 0;
};

cycle_plan draw(std::mt19937_64& rng, const config& c) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  cycle_plan p;
  p.kill = u(rng) < c.kill_ratio;
  // Squared: most kills land in the run's quick first steps (where the backend changes ahead
  // of a store write), the rest in the waits for the fleet.
  const double k = u(rng);
  p.kill_at = 0.02 + 0.8 * k * k;
  p.kill_again = u(rng) < 0.15;
  p.kill_again_at = 0.02 + 0.6 * u(rng);
  p.fault = u(rng) < c.fault_ratio;
  p.fault_k = static_cast<fault_kind>(std::min(3, static_cast<int>(u(rng) * 4)));
  p.fault_start = 0.8 * u(rng);
  p.fault_ms = 300 + 1700 * u(rng);
  return p;
}

// ---------------------------------------------------------------------------------------
// The run

struct window {
  std::string backend;
  int cycle;
  double ms;
  bool crash = false;
};

struct totals {
  int cycles = 0, kills = 0, restarts = 0, killed_cycles = 0, rotator_runs = 0;
  int faults[4] = {0, 0, 0, 0};
  std::vector<window> windows;
  findings found;
  kill_stats after_kill;
};

bool parse_args(int argc, char** argv, config& c) {
  if (const char* env = std::getenv("DUALCRED_CHAOS_CYCLES"); env && std::atoi(env) > 0)
    c.cycles = std::atoi(env);
  if (const char* env = std::getenv("DUALCRED_ROTATE_TOOL"); env && *env) c.rotate_tool = env;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--verbose") {
      c.verbose = true;
      continue;
    }
    if (a == "--crash-restarts") {
      c.crash_restarts = true;
      continue;
    }
    if (i + 1 >= argc) return false;
    const std::string v = argv[++i];
    char* end = nullptr;
    if (a == "--rotate") {
      c.rotate_tool = v;
    } else if (a == "--results") {
      c.results = v;
    } else if (a == "--seed") {
      c.seed = std::strtoull(v.c_str(), &end, 10);
      c.seed_given = true;
      if (*end != '\0' || v.empty()) return false;
    } else if (a == "--kill-ratio" || a == "--fault-ratio") {
      const double r = std::strtod(v.c_str(), &end);
      if (*end != '\0' || r < 0 || r > 1) return false;
      (a == "--kill-ratio" ? c.kill_ratio : c.fault_ratio) = r;
    } else {
      const long n = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || v.empty() || n < 0 || n > 10'000'000) return false;
      if (a == "--cycles" && n > 0)
        c.cycles = static_cast<int>(n);
      else if (a == "--restart-every")
        c.restart_every = static_cast<int>(n);
      else if (a == "--clients" && n > 0)
        c.clients = static_cast<int>(n);
      else if (a == "--pause-ms")
        c.pause_ms = static_cast<int>(n);
      else if (a == "--plant-lost-password")
        c.plant_at = static_cast<int>(n);
      else
        return false;
    }
  }
  if (c.rotate_tool.empty()) return false;
  // The rotator runs in a scratch directory: a relative path would name nothing there.
  c.rotate_tool = std::filesystem::absolute(c.rotate_tool).string();
  return true;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

struct window_stats {
  std::size_t n = 0;
  double min = 0, median = 0, max = 0;
};

window_stats stats_for(const std::vector<window>& all, const std::string& backend) {
  std::vector<double> v;
  for (const auto& w : all)
    if (w.backend == backend) v.push_back(w.ms);
  window_stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.n = v.size();
  s.min = v.front();
  s.max = v.back();
  s.median = v[v.size() / 2];
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  config cfg;
  if (!parse_args(argc, argv, cfg)) {
    fmt::print(stderr,
               "usage: {} --rotate PATH [--cycles N] [--seed S] [--results FILE] "
               "[--restart-every K] [--kill-ratio R] [--fault-ratio R] [--clients N] "
               "[--pause-ms MS] [--plant-lost-password CYCLE] [--crash-restarts] [--verbose]\n  "
               "(DUALCRED_CHAOS_CYCLES and DUALCRED_ROTATE_TOOL "
               "give --cycles and --rotate)\n",
               argv[0]);
    return 2;
  }
  if (!cfg.seed_given)
    cfg.seed = std::random_device{}() ^ (std::uint64_t{std::random_device{}()} << 32);
  fmt::print("chaos: seed={} cycles={} (replay: tests/chaos/run --cycles {} --seed {})\n", cfg.seed,
             cfg.cycles, cfg.cycles, cfg.seed);
  std::fflush(stdout);
  std::mt19937_64 rng(cfg.seed);
  const auto t0 = steady::now();
  const std::string started_at = utc_now();

  try {
    dt::postgres_server pg;
    dt::redis_server redis;
    kv2test::kv2_server kv;
    dt::temp_dir scratch("dualcred-chaos");
    const std::string rotator_log = scratch / "rotator.log";

    // The first logins: the backends and the store agree.
    auto pw = [] { return dt::random_token(32); };
    const std::string pg_single_pw = pw(), pg_a_pw = pw(), redis_pw = pw();
    pg.create_login_role("chaos_single", pg_single_pw);
    pg.exec("CREATE ROLE chaos_group NOLOGIN");
    pg.exec("CREATE ROLE chaos_a LOGIN IN ROLE chaos_group PASSWORD " +
            dt::postgres_server::quote_literal(pg_a_pw));
    pg.exec("CREATE ROLE chaos_b LOGIN IN ROLE chaos_group");
    redis.set_user("chaos", {redis_pw});
    redis.must({"ACL", "SAVE"});

    rot::stores::vault_store<dualcred::curl_transport> store(dualcred::curl_transport{},
                                                             kv.config(secret_path));
    {
      dualcred::secret_map seed;
      seed.emplace("DB_USER", dualcred::secret("chaos_single"));
      seed.emplace("DB_PASS_CURRENT", dualcred::secret(pg_single_pw));
      seed.emplace("DBALT_USER", dualcred::secret("chaos_a"));
      seed.emplace("DBALT_PASS_CURRENT", dualcred::secret(pg_a_pw));
      seed.emplace("REDIS_USER", dualcred::secret("chaos"));
      seed.emplace("REDIS_PASS_CURRENT", dualcred::secret(redis_pw));
      auto written = store.write(seed, 0);
      if (!written) throw std::runtime_error("cannot seed the store: " + written.error().detail);
    }
    world w{pg, redis, kv, store};
    // The rotator's environment: Vault and the Redis admin's password (never argv). Set before
    // any thread starts: libpq reads the environment while connecting.
    ::setenv("VAULT_ADDR", kv.address().c_str(), 1);
    ::setenv("VAULT_TOKEN", kv2test::root_token.c_str(), 1);
    ::unsetenv("VAULT_NAMESPACE");
    ::setenv("REDIS_ADMIN_PASSWORD", redis.admin_password().c_str(), 1);

    // The clients.
    dualcred::options opts;
    opts.refresh_interval = 200ms;
    opts.min_reload_interval = 50ms;
    auto provider = [&](const char* prefix) {
      return vault_provider(client_transport{}, kv.config(secret_path),
                            dualcred::key_names::for_prefix(prefix));
    };
    auto single_made = dualcred::make_dual_credential(dualcred::pg::connector(pg_params(pg)),
                                                      provider("DB"), opts);
    auto alt_made = dualcred::make_dual_credential(dualcred::pg::connector(pg_params(pg)),
                                                   provider("DBALT"), opts);
    auto redis_made = dualcred::make_dual_credential(
        dualcred::redis::connector(redis_params(redis)), provider("REDIS"), opts);
    if (!single_made || !alt_made || !redis_made)
      throw std::runtime_error("the clients cannot load their logins");
    pg_creds& single = single_made.value();
    pg_creds& alt = alt_made.value();
    redis_creds& rcreds = redis_made.value();

    // The rotator's fleet: it waits until all three report the store's version.
    example::health_server health([&] {
      return std::vector<dualcred::named_status>{{"postgres-single", single.snapshot()},
                                                 {"postgres-alternating", alt.snapshot()},
                                                 {"redis", rcreds.snapshot()}};
    });

    restart_marks pg_marks, redis_marks;
    tally pg_tally, redis_tally;
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    const ms pause(cfg.pause_ms);
    for (int i = 0; i < cfg.clients; ++i) {
      threads.emplace_back([&] {
        client_loop(single, select_one, pg_tally, pg_marks, stop, pause, t0, "postgres-single");
      });
      threads.emplace_back([&] {
        client_loop(alt, select_one, pg_tally, pg_marks, stop, pause, t0, "postgres-alternating");
      });
      threads.emplace_back(
          [&] { client_loop(rcreds, ping, redis_tally, redis_marks, stop, pause, t0, "redis"); });
    }

    const std::vector<std::string> common = {
        cfg.rotate_tool,
        "--vault-path",
        secret_path,
        "--instance",
        fmt::format("http://127.0.0.1:{}/health", health.port()),
        "--fleet-timeout",
        "60"};
    const std::vector<std::string> pg_flags = {
        "--backend",   "postgres", "--pg-admin", pg.admin_conninfo(),
        "--pg-host",   pg.host(),  "--pg-port",  std::to_string(pg.port()),
        "--pg-dbname", "postgres"};
    std::vector<login> logins = {
        {"redis", kind::redis, "REDIS", {"chaos"}},
        {"postgres-single", kind::pg_single, "DB", {"chaos_single"}},
        {"postgres-alternating", kind::pg_alternating, "DBALT", {"chaos_a", "chaos_b"}},
    };
    auto argv_for = [&](const login& l) {
      std::vector<std::string> a = common;
      if (l.k == kind::redis) {
        for (const auto& s : {"--backend", "redis", "--prefix", "REDIS", "--redis-host",
                              "127.0.0.1", "--redis-admin-user", "admin", "--redis-acl-save"})
          a.emplace_back(s);
        a.emplace_back("--redis-port");
        a.emplace_back(std::to_string(redis.port()));
      } else {
        a.insert(a.end(), pg_flags.begin(), pg_flags.end());
        a.emplace_back("--prefix");
        a.emplace_back(l.prefix);
        a.emplace_back("--pg-strategy");
        if (l.k == kind::pg_single) {
          a.emplace_back("single");
        } else {
          a.emplace_back("alternating");
          a.emplace_back("--pg-roles");
          a.emplace_back("chaos_a,chaos_b");
        }
      }
      a.emplace_back("all");
      return a;
    };

    totals tot;
    bool fault_on = false;
    auto set_fault = [&](std::optional<fault_kind> k) {
      if (k)
        kv.admin("fault", fault_body(*k));
      else
        kv.request("DELETE", "/_admin/fault", {}, "");
      fault_on = k.has_value();
    };

    struct sigaction sa {};
    sa.sa_handler = request_stop;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    std::size_t printed = 0;  // problems already shown
    for (int c = 1; c <= cfg.cycles && stop_requested == 0; ++c) {
      cycle_plan plan = draw(rng, cfg);
      // Kills in at least a fifth of the cycles however the draws fall (a short CI run too).
      if (cfg.kill_ratio > 0 && tot.killed_cycles < (c * 2) / 10) plan.kill = true;
      login& l = logins[static_cast<std::size_t>((c - 1) % 3)];
      const double cycle_start = seconds_since(t0);

      if (cfg.restart_every > 0 && c % cfg.restart_every == 0) {
        const bool restart_redis = tot.restarts % 2 == 0;
        const bool crash = cfg.crash_restarts && (tot.restarts / 2) % 2 == 1;
        restart_marks& marks = restart_redis ? redis_marks : pg_marks;
        marks.began.fetch_add(1);
        const auto r0 = steady::now();
        if (restart_redis) {
          if (crash)
            redis.crash();
          else
            redis.stop();
          redis.start();
        } else {
          if (crash)
            pg.crash();
          else
            pg.stop();
          pg.start();
        }
        const double took = ms_since(r0);
        marks.ended.fetch_add(1);
        ++tot.restarts;
        tot.windows.push_back({restart_redis ? "redis" : "postgres", c, took, crash});
        if (cfg.verbose)
          fmt::print("  cycle {}: {} {} ({:.0f} ms)\n", c,
                     crash ? "crashed and restarted" : "restarted",
                     restart_redis ? "redis" : "postgres", took);
      }

      const auto c0 = steady::now();
      const double fault_from = plan.fault_start * l.expected_ms;
      const double fault_to = fault_from + plan.fault_ms;
      bool fault_done = !plan.fault;
      auto tick_fault = [&] {
        if (fault_done) return;
        const double now = ms_since(c0);
        if (!fault_on && now >= fault_from && now < fault_to) {
          set_fault(plan.fault_k);
          ++tot.faults[static_cast<int>(plan.fault_k)];
        } else if (now >= fault_to) {
          if (fault_on) set_fault(std::nullopt);
          fault_done = true;
        }
      };

      bool killed_this_cycle = false;
      for (int attempt = 0;; ++attempt) {
        std::optional<double> kill_ms;
        if (attempt == 0 && plan.kill) kill_ms = plan.kill_at * l.expected_ms;
        if (attempt == 1 && plan.kill_again) kill_ms = plan.kill_again_at * l.expected_ms;
        const auto run0 = steady::now();
        dt::child proc(argv_for(l), rotator_log, dt::run_as{}, scratch.path());
        ++tot.rotator_runs;
        bool killed = false;
        while (proc.running()) {
          tick_fault();
          if (kill_ms && ms_since(run0) >= *kill_ms) {
            ::kill(proc.pid(), SIGKILL);
            proc.wait();
            killed = true;
            break;
          }
          std::this_thread::sleep_for(2ms);
        }
        const double run_ms = ms_since(run0);
        if (killed) {
          ++tot.kills;
          killed_this_cycle = true;
          if (cfg.verbose) fmt::print("  cycle {}: killed {} after {:.0f} ms\n", c, l.name, run_ms);
          for (auto& each : logins)
            check_login(w, each, false, tot.found, &each == &l ? &tot.after_kill : nullptr);
          continue;
        }
        const int code = proc.wait();
        if (code == 0) {
          if (attempt == 0) {
            l.expected_ms = l.clean_runs == 0 ? run_ms : 0.8 * l.expected_ms + 0.2 * run_ms;
            ++l.clean_runs;
          }
          break;
        }
        tot.found.problems.push_back(
            fmt::format("cycle {}: dualcred-rotate all ({}) exited {}; its log ends:\n{}", c,
                        l.name, code, dt::read_tail(rotator_log, 1500)));
        if (attempt >= 3) break;
      }
      if (killed_this_cycle) ++tot.killed_cycles;
      while (!fault_done) {
        tick_fault();
        std::this_thread::sleep_for(2ms);
      }
      if (c == cfg.plant_at) plant_lost_passwords(w);
      for (auto& each : logins) check_login(w, each, true, tot.found);
      ++tot.cycles;
      for (; printed < tot.found.problems.size(); ++printed)
        fmt::print("chaos: cycle {}: {}\n", c, tot.found.problems[printed]);

      const std::uint64_t bad = pg_tally.auth_failures + redis_tally.auth_failures +
                                pg_tally.stray_errors + redis_tally.stray_errors;
      if (cfg.verbose || c % 50 == 0 || c == cfg.cycles)
        fmt::print(
            "  cycle {}/{} ({}{}{}): {:.1f}s, kills {}, restarts {}, connects {}, "
            "problems {}\n",
            c, cfg.cycles, l.name, killed_this_cycle ? ", killed" : "",
            plan.fault ? fmt::format(", fault {}", to_string(plan.fault_k)) : "",
            seconds_since(t0) - cycle_start, tot.kills, tot.restarts, pg_tally.ok + redis_tally.ok,
            tot.found.problems.size() + bad);
      std::fflush(stdout);
    }

    stop = true;
    for (auto& t : threads) t.join();
    const double run_s = seconds_since(t0);

    const std::uint64_t connects = pg_tally.ok + redis_tally.ok;
    const std::uint64_t auth = pg_tally.auth_failures + redis_tally.auth_failures;
    const std::uint64_t in_window = pg_tally.window_errors + redis_tally.window_errors;
    const std::uint64_t stray = pg_tally.stray_errors + redis_tally.stray_errors;
    std::uint64_t reload_failures = 0, reloads = 0, fallbacks = 0;
    for (const auto& s : {single.snapshot(), alt.snapshot(), rcreds.snapshot()}) {
      reload_failures += s.reload_failures;
      reloads += s.reloads;
      fallbacks += s.fallbacks;
    }

    std::string kill_phases;
    for (const auto& [phase, n] : tot.after_kill.phases)
      kill_phases += fmt::format("{}{} {}", kill_phases.empty() ? "" : ", ", phase, n);
    if (kill_phases.empty()) kill_phases = "none";
    fmt::print(
        "chaos: phases the kills left: {}; the backend was a step ahead of the store after "
        "{} kills\n",
        kill_phases, tot.after_kill.backend_ahead);
    const auto pg_w = stats_for(tot.windows, "postgres");
    const auto redis_w = stats_for(tot.windows, "redis");
    const std::string summary = fmt::format(
        "chaos: cycles={} kills={} restarts={} connects={} ok, {} auth failures, {} connection "
        "errors (restart windows only), lost passwords={}",
        tot.cycles, tot.kills, tot.restarts, connects, auth, in_window, tot.found.lost);
    const bool passed =
        auth == 0 && stray == 0 &&
        (cfg.plant_at > 0 && cfg.plant_at <= tot.cycles ? tot.found.lost == planted_losses
                                                        : tot.found.problems.empty());
    if (cfg.plant_at > 0)
      fmt::print("chaos: planted {} lost passwords in cycle {}; found {}\n", planted_losses,
                 cfg.plant_at, tot.found.lost);
    fmt::print(
        "chaos: {} of {} cycles had a kill ({:.0f}%); {} rotator runs; faults 503={} "
        "sealed={} timeout={} drop={}; client reloads {} ok, {} failed; {} fallbacks\n",
        tot.killed_cycles, tot.cycles, 100.0 * tot.killed_cycles / std::max(1, tot.cycles),
        tot.rotator_runs, tot.faults[0], tot.faults[1], tot.faults[2], tot.faults[3], reloads,
        reload_failures, fallbacks);
    fmt::print(
        "chaos: restart windows: redis n={} min={:.0f} median={:.0f} max={:.0f} ms; "
        "postgres n={} min={:.0f} median={:.0f} max={:.0f} ms\n",
        redis_w.n, redis_w.min, redis_w.median, redis_w.max, pg_w.n, pg_w.min, pg_w.median,
        pg_w.max);
    fmt::print(
        "chaos: {:.1f} s, {:.2f} s per cycle, seed {}; {}{}\n", run_s,
        run_s / std::max(1, tot.cycles), cfg.seed, passed ? "PASS" : "FAIL",
        stray > 0 ? fmt::format(" ({} connection errors outside restart windows)", stray) : "");

    if (!cfg.results.empty()) {
      std::ofstream out(cfg.results, std::ios::trunc);
      out << "# Chaos soak results\n\n"
          << "Written by `tests/chaos/run` (tests/chaos/chaos.cpp). Replay with\n"
          << "`tests/chaos/run --cycles " << tot.cycles << " --seed " << cfg.seed << "`.\n\n"
          << "```\n"
          << summary << "\n```\n\n"
          << "| what | value |\n|---|---|\n"
          << "| verdict | " << (passed ? "PASS" : "FAIL") << " |\n"
          << "| started (UTC) | " << started_at << " |\n"
          << "| seed | " << cfg.seed << " |\n"
          << "| cycles | " << tot.cycles
          << (tot.cycles < cfg.cycles
                  ? fmt::format(" (stopped early: {} were asked for)", cfg.cycles)
                  : std::string())
          << "; redis, postgres single role, postgres alternating roles in turn |\n"
          << "| kills (SIGKILL of dualcred-rotate) | " << tot.kills << " in " << tot.killed_cycles
          << " cycles ("
          << fmt::format("{:.0f}", 100.0 * tot.killed_cycles / std::max(1, tot.cycles)) << "%) |\n"
          << "| rotator runs | " << tot.rotator_runs << " |\n"
          << "| phases the kills left the store in | " << kill_phases << " |\n"
          << "| kills that left the backend a step ahead of the store | "
          << tot.after_kill.backend_ahead << " |\n"
          << "| backend restarts | " << tot.restarts << " (every " << cfg.restart_every
          << " cycles, Redis then PostgreSQL"
          << (cfg.crash_restarts ? "; every other one per backend a crash" : "") << ") |\n"
          << "| client threads | " << cfg.clients << " per login, 3 logins |\n"
          << "| connects ok (SELECT 1 / PING checked) | " << connects << " |\n"
          << "| auth failures | " << auth << " |\n"
          << "| connection errors inside restart windows | " << in_window << " |\n"
          << "| connection errors outside restart windows | " << stray << " |\n"
          << "| lost passwords | " << tot.found.lost << " |\n"
          << "| other failed checks | "
          << (tot.found.problems.size() - static_cast<std::size_t>(tot.found.lost)) << " |\n"
          << "| KV v2 faults on client reloads | 503: " << tot.faults[0]
          << ", sealed: " << tot.faults[1] << ", timeout: " << tot.faults[2]
          << ", dropped: " << tot.faults[3] << " |\n"
          << "| client reloads | " << reloads << " ok, " << reload_failures << " failed |\n"
          << "| fallbacks to the other slot | " << fallbacks << " |\n"
          << fmt::format(
                 "| restart windows, Redis (ms) | n={} min={:.0f} median={:.0f} max={:.0f} |\n",
                 redis_w.n, redis_w.min, redis_w.median, redis_w.max)
          << fmt::format(
                 "| restart windows, PostgreSQL (ms) | n={} min={:.0f} median={:.0f} "
                 "max={:.0f} |\n",
                 pg_w.n, pg_w.min, pg_w.median, pg_w.max)
          << fmt::format("| run time | {:.0f} s ({:.2f} s per cycle) |\n\n", run_s,
                         run_s / std::max(1, tot.cycles))
          << "A restart window runs from the stop of the server to the moment it takes logins "
             "again.\nEach window (cycle: backend ms):\n\n";
      std::string line;
      for (const auto& win : tot.windows) {
        const std::string item = fmt::format("{}: {}{} {:.0f}", win.cycle, win.backend,
                                             win.crash ? " (crash)" : "", win.ms);
        if (line.size() + item.size() > 96) {
          out << line << "\n";
          line.clear();
        }
        line += (line.empty() ? "" : "; ") + item;
      }
      if (!line.empty()) out << line << "\n";
      if (!tot.found.problems.empty() || !pg_tally.details.empty() ||
          !redis_tally.details.empty()) {
        out << "\nFailures (the clients' first 20 per backend, then the failed checks):\n\n```\n";
        for (const tally* t : {&pg_tally, &redis_tally})
          for (const auto& d : t->details) out << d << "\n";
        for (const auto& p : tot.found.problems) out << p << "\n";
        out << "```\n";
      }
      fmt::print("chaos: results written to {}\n", cfg.results);
    }
    fmt::print("{}\n", summary);
    return passed ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "chaos: aborted: {}\n", e.what());
    return 1;
  }
}
