#pragma once

// Every flag of dualcred-rotate, once: name, value, --help text, and the setter that checks
// the value into the configuration. The parser (cli.hpp) and --help read only this table.

#include <chrono>
#include <string_view>

#include <fmt/format.h>

#include "flags.hpp"

namespace dualcred_rotate {

// The tool's own namespace: the flags' bounds read as 1ms, 24h.
using namespace std::chrono_literals;

inline constexpr flag_spec flag_table[] = {
    {"--store", "file|vault", store_section, "default: file when --file is given, else vault",
     [](draft& d, std::string_view v) {
       return flag_detail::choice(d.store, store_names, v, "--store is file or vault");
     }},
    {"--file", "PATH", store_section, "a dotenv file, or a directory of one file per key",
     [](draft& d, std::string_view v) { return flag_detail::path(d.c.file, "--file", v); }},
    {"--vault-path", "PATH", store_section, "the KV v2 secret",
     [](draft& d, std::string_view v) {
       return flag_detail::path(d.c.vault_path, "--vault-path", v);
     }},
    {"--vault-mount", "MOUNT", store_section, "default: secret",
     [](draft& d, std::string_view v) {
       return flag_detail::word(d.c.vault_mount, "--vault-mount", v);
     }},
    {"--vault-token-file", "PATH", store_section,
     "the Vault token, from a file only its owner can read\n(default: VAULT_TOKEN, else "
     "~/.vault-token)",
     [](draft& d, std::string_view v) {
       return flag_detail::path(d.c.vault_token_file, "--vault-token-file", v);
     }},
    {"--prefix", "PREFIX", store_section,
     "key prefix: DB_USER, DB_PASS_CURRENT, ... (default: DB for\npostgres, REDIS for redis)",
     [](draft& d, std::string_view v) { return flag_detail::word(d.c.prefix, "--prefix", v); }},

    {"--backend", "postgres|redis", backend_section, "required",
     [](draft& d, std::string_view v) {
       return flag_detail::choice(d.backend, backend_names, v, "--backend is postgres or redis");
     }},
    {"--pg-strategy", "single|alternating", backend_section, "default: single",
     [](draft& d, std::string_view v) {
       std::optional<pg_strategy> s;
       auto why =
           flag_detail::choice(s, strategy_names, v, "--pg-strategy is single or alternating");
       if (s) d.c.strategy = *s;
       return why;
     }},
    {"--pg-roles", "ROLE_A,ROLE_B", backend_section,
     "the two login roles of the alternating strategy",
     [](draft& d, std::string_view v) -> problem {
       d.pg_roles = v;
       return std::nullopt;
     }},
    {"--pg-admin", "CONNINFO", backend_section,
     "the admin's libpq connection string, without a password\n(default: libpq's environment)",
     [](draft& d, std::string_view v) -> problem {
       d.c.pg_admin = dualcred::secret(v);
       return std::nullopt;
     }},
    {"--pg-admin-file", "PATH", backend_section,
     "the admin's connection string, password allowed, from a file\nonly its owner can read",
     [](draft& d, std::string_view v) {
       return flag_detail::path(d.c.pg_admin_file, "--pg-admin-file", v);
     }},
    {"--pg-host", "HOST", backend_section, "where clients log in, for verify (default: PGHOST)",
     [](draft& d, std::string_view v) -> problem {
       d.c.pg_host = v;
       return std::nullopt;
     }},
    {"--pg-port", "PORT", backend_section, "default: PGPORT, else 5432",
     [](draft& d, std::string_view v) { return flag_detail::port(d.c.pg_port, "--pg-port", v); }},
    {"--pg-dbname", "DB", backend_section, "the database verify logs in to (default: PGDATABASE)",
     [](draft& d, std::string_view v) -> problem {
       d.c.pg_dbname = v;
       return std::nullopt;
     }},
    {"--pg-sslmode", "MODE", backend_section,
     "disable|allow|prefer|require|verify-ca|verify-full, for the\nadmin and verify (default: "
     "PGSSLMODE, else libpq's prefer); a\nconnection string's own sslmode wins for the admin",
     [](draft& d, std::string_view v) {
       std::optional<pg_sslmode> m;
       auto why = flag_detail::choice(
           m, sslmode_names, v,
           "--pg-sslmode is one of disable, allow, prefer, require, verify-ca, verify-full");
       if (m) d.c.sslmode = *m;
       return why;
     }},
    {"--pg-sslrootcert", "PATH", backend_section,
     "CA certificates for verify-ca/verify-full (default:\nPGSSLROOTCERT, else "
     "~/.postgresql/root.crt)",
     [](draft& d, std::string_view v) {
       return flag_detail::path(d.c.pg_sslrootcert, "--pg-sslrootcert", v);
     }},
    {"--redis-host", "HOST", backend_section, "default: REDIS_HOST, else 127.0.0.1",
     [](draft& d, std::string_view v) {
       return flag_detail::word(d.c.redis_host, "--redis-host", v);
     }},
    {"--redis-port", "PORT", backend_section, "default: REDIS_PORT, else 6379",
     [](draft& d, std::string_view v) {
       return flag_detail::port(d.c.redis_port, "--redis-port", v);
     }},
    {"--redis-admin-user", "USER", backend_section, "default: REDIS_ADMIN_USER, else \"default\"",
     [](draft& d, std::string_view v) {
       return flag_detail::word(d.c.redis_admin_user, "--redis-admin-user", v);
     }},
    {"--redis-admin-password-file", "PATH", backend_section,
     "the admin's password, from a file only its owner can read\n(default: REDIS_ADMIN_PASSWORD)",
     [](draft& d, std::string_view v) {
       return flag_detail::path(d.c.redis_admin_password_file, "--redis-admin-password-file", v);
     }},
    {"--redis-acl-save", "", backend_section,
     "keep each change on every node: ACL SAVE (aclfile), else\nCONFIG REWRITE",
     [](draft& d, std::string_view) -> problem {
       d.c.redis_acl_save = true;
       return std::nullopt;
     }},

    {"--instance", "URL", rollout_section,
     "a service instance's health endpoint (http:// or https://, no\nuser:password@) serving the "
     "dual_credential status JSON; repeat\nfor each instance. apply and decommission wait until "
     "every one\nreports the store's version.",
     flag_detail::instance},
    {"--fleet-timeout", "DURATION", rollout_section, "default: 60s; at most 1d",
     [](draft& d, std::string_view v) {
       return flag_detail::duration(d.c.fleet_timeout, "--fleet-timeout", v, 1ms, 24h);
     }},
    {"--instance-timeout", "DURATION", rollout_section,
     "one instance's limit per round (default: 5s); every instance\nnot yet ready is asked at "
     "once, at most 256 at a time",
     [](draft& d, std::string_view v) {
       return flag_detail::duration(d.c.fleet.instance_timeout, "--instance-timeout", v, 1ms, 1h);
     }},
    {"--instances-dns", "NAME[:PORT]", rollout_section,
     "instances found in DNS, again every round: each A/AAAA address\nof NAME on PORT (or "
     "--instances-port), or each target of the\nSRV records of a _service._proto.name; "
     "repeatable",
     flag_detail::instances_dns},
    {"--instances-port", "PORT", rollout_section, "the port of --instances-dns addresses",
     [](draft& d, std::string_view v) {
       return flag_detail::port(d.c.fleet.dns_port, "--instances-port", v);
     }},
    {"--instances-path", "PATH", rollout_section,
     "the status path on instances found in DNS (default: /health)",
     [](draft& d, std::string_view v) -> problem {
       if (!v.starts_with('/')) return "--instances-path wants a path starting with /";
       d.c.fleet.dns_path = v;
       return std::nullopt;
     }},
    {"--instances-scheme", "http|https", rollout_section,
     "for instances found in DNS (default: http)",
     [](draft& d, std::string_view v) -> problem {
       if (v != "http" && v != "https") return "--instances-scheme is http or https";
       d.c.fleet.dns_scheme = v;
       return std::nullopt;
     }},
    {"--dns-server", "HOST:PORT", rollout_section,
     "ask this DNS server only (default: the system's resolver)",
     [](draft& d, std::string_view v) -> problem {
       if (v.find(':') == std::string_view::npos) return "--dns-server wants HOST:PORT";
       d.c.fleet.dns_server = v;
       return std::nullopt;
     }},
    {"--prometheus", "[URL]", rollout_section,
     "with an http(s) URL: read the instances' versions from this\nPrometheus "
     "(dualcred_credential_info as it last scraped them)\ninstead of asking them; alone: "
     "status's Prometheus text output",
     flag_detail::prometheus},
    {"--prometheus-query", "QUERY", rollout_section,
     "default: timestamp(dualcred_credential_info); series labelled\ninstance, job, version, "
     "valued their sample's Unix time",
     [](draft& d, std::string_view v) {
       return flag_detail::word(d.c.fleet.prometheus_query, "--prometheus-query", v);
     }},
    {"--prometheus-max-age", "DURATION", rollout_section,
     "an instance scraped longer ago is stale, not ready (default: 2m)",
     [](draft& d, std::string_view v) {
       return flag_detail::duration(d.c.fleet.prometheus_max_age, "--prometheus-max-age", v, 1s,
                                    24h);
     }},
    {"--settle", "DURATION", rollout_section,
     "pause before each backend change (default: 0); at most 1h",
     [](draft& d, std::string_view v) {
       return flag_detail::duration(d.c.settle, "--settle", v, 0ms, 1h);
     }},
    {"--drain", "wait|terminate", rollout_section,
     "decommission: wait for the sessions still logged in with the\nremoved credential to end "
     "(exit 14 past --drain-timeout), or end\nthem; without it they are only counted",
     [](draft& d, std::string_view v) -> problem {
       const auto m = dualcred::rotation::parse_drain_mode(v);
       if (!m || *m == dualcred::rotation::drain_mode::report)
         return "--drain is wait or terminate";
       d.c.drain.mode = *m;
       return std::nullopt;
     }},
    {"--drain-timeout", "DURATION", rollout_section, "--drain wait: default 60s; at most 1d",
     [](draft& d, std::string_view v) {
       d.c.drain_timeout_given = true;
       return flag_detail::duration(d.c.drain.timeout, "--drain-timeout", v, 1ms, 24h);
     }},
    {"--lock-wait", "DURATION", rollout_section,
     "how long to wait for another rotator's lock on the store\n(default: 0, then exit 13); at "
     "most 1h",
     [](draft& d, std::string_view v) {
       return flag_detail::duration(d.c.lock_wait, "--lock-wait", v, 0ms, 1h);
     }},
    {"--lock-lease", "DURATION", rollout_section,
     "Vault store: how long the rotation lock outlives a rotator that\ncrashed holding it "
     "(default: 15m; 1s to 1d)",
     [](draft& d, std::string_view v) {
       return flag_detail::duration(d.c.lock_lease, "--lock-lease", v, 1s, 24h);
     }},
    {"--lock-holder", "TEXT", rollout_section,
     "break-lock: the holder as the lock's error names it",
     [](draft& d, std::string_view v) -> problem {
       if (v.empty()) return "--lock-holder wants the holder as the lock's error names it";
       d.c.lock_holder = v;
       return std::nullopt;
     }},
    {"--password-length", "N", rollout_section, "16 to 1024, default: 32",
     [](draft& d, std::string_view v) -> problem {
       const auto n = parse_integer(v, 16, 1024);
       if (!n) return "--password-length wants a whole number, 16 to 1024";
       d.c.password_length = static_cast<std::size_t>(*n);
       return std::nullopt;
     }},

    {"--pg-standby", "HOST:PORT", pg_topology_section,
     "a hot standby of the primary; repeat for each. After each\nchange the step waits until every "
     "standby has replayed it,\nand verify logs in on each. The admin reaches it with "
     "the\nprimary's "
     "admin connection string at HOST:PORT.",
     [](draft& d, std::string_view v) {
       return flag_detail::endpoint(d.c.pg_topology.standbys, "--pg-standby", v);
     }},
    {"--replay-timeout", "DURATION", pg_topology_section,
     "how long to wait for the standbys' replay (default: 60s; at\nmost 1h); exit code 10 when it "
     "passes",
     [](draft& d, std::string_view v) {
       return flag_detail::duration(d.c.pg_topology.replay_timeout, "--replay-timeout", v, 1ms, 1h);
     }},
    {"--pgbouncer", "HOST:PORT", pg_topology_section,
     "a PgBouncer clients connect through (to --pg-dbname); repeat\nfor each. verify logs in "
     "through "
     "each; after an auth_file\nchange each is sent RELOAD on its admin console, as\n"
     "PGBOUNCER_ADMIN_USER with PGBOUNCER_ADMIN_PASSWORD.",
     [](draft& d, std::string_view v) {
       return flag_detail::endpoint(d.c.pg_topology.pgbouncers, "--pgbouncer", v);
     }},
    {"--pgbouncer-auth-file", "PATH", pg_topology_section,
     "a PgBouncer auth_file holding the users' SCRAM verifiers;\nrepeat for each. The role's line "
     "gets "
     "the verifier the server\ngot (atomic replace, other lines, mode and owner kept); only\nwith "
     "--pg-strategy alternating. Without it (auth_query),\nnothing is written.",
     [](draft& d, std::string_view v) -> problem {
       if (v.empty()) return "--pgbouncer-auth-file wants a path";
       d.c.pg_topology.auth_files.emplace_back(v);
       return std::nullopt;
     }},
    {"--pgbouncer-admin-password-file", "PATH", pg_topology_section,
     "PgBouncer's admin console password, from a file only its\nowner can read (instead of "
     "PGBOUNCER_ADMIN_PASSWORD)",
     [](draft& d, std::string_view v) {
       return flag_detail::path(d.c.pg_topology.admin_password_file,
                                "--pgbouncer-admin-password-file", v);
     }},

    {"--redis-node", "HOST:PORT", redis_topology_section,
     "rotate on exactly these nodes; repeat for each (default:\n--redis-host's replication group, "
     "or "
     "its whole cluster,\nfound with INFO replication / CLUSTER NODES)",
     [](draft& d, std::string_view v) {
       return flag_detail::endpoint(d.c.redis_topology.nodes, "--redis-node", v);
     }},
    {"--redis-sentinel", "HOST:PORT", redis_topology_section,
     "ask these Sentinels (in order) for the primary and replicas of\n--redis-master NAME; repeat "
     "for each",
     [](draft& d, std::string_view v) {
       return flag_detail::endpoint(d.c.redis_topology.sentinels, "--redis-sentinel", v);
     }},
    {"--redis-master", "NAME", redis_topology_section, "the master name the Sentinels watch",
     [](draft& d, std::string_view v) {
       return flag_detail::word(d.c.redis_topology.master, "--redis-master", v);
     }},
    {"--redis-sentinel-user", "USER", redis_topology_section,
     "Sentinel's own ACL user; its password from\nREDIS_SENTINEL_PASSWORD or "
     "--redis-sentinel-password-file",
     [](draft& d, std::string_view v) {
       return flag_detail::word(d.c.redis_topology.sentinel_user, "--redis-sentinel-user", v);
     }},
    {"--redis-sentinel-password-file", "PATH", redis_topology_section,
     "the Sentinels' password, from a file only its owner can read\n(instead of "
     "REDIS_SENTINEL_PASSWORD)",
     [](draft& d, std::string_view v) {
       return flag_detail::path(d.c.redis_topology.sentinel_password_file,
                                "--redis-sentinel-password-file", v);
     }},
    {"--redis-cluster", "HOST:PORT", redis_topology_section,
     "every primary and replica of the cluster this node is in",
     [](draft& d, std::string_view v) -> problem {
       std::vector<host_port> one;
       if (auto why = flag_detail::endpoint(one, "--redis-cluster", v)) return why;
       if (d.c.redis_topology.cluster) return "--redis-cluster is given once (one seed node)";
       d.c.redis_topology.cluster = one.front();
       return std::nullopt;
     }},
    {"--redis-single-node", "", redis_topology_section, "only --redis-host, no discovery",
     [](draft& d, std::string_view) -> problem {
       d.c.redis_topology.single_node = true;
       return std::nullopt;
     }},
    {"--redis-allow", "HOST|CIDR[,...]", redis_topology_section,
     "the nodes discovery may add (IPv4/IPv6 addresses, blocks, host\nnames; repeatable). Default: "
     "the hosts named by --redis-host,\n--redis-node, --redis-sentinel and --redis-cluster. A node "
     "found\noutside it stops the step before any change (exit 12).",
     flag_detail::redis_allow},

    {"--user", "NAME", day2_section,
     "the login role or ACL user (init; default: the store's user key)",
     [](draft& d, std::string_view v) -> problem {
       if (v.empty()) return "--user wants a name";
       d.c.day2.user = v;
       return std::nullopt;
     }},
    {"--current-file", "PATH", day2_section,
     "init: CURRENT from a file only its owner can read (else the\nenvironment variable "
     "DUALCRED_CURRENT_PASSWORD)",
     [](draft& d, std::string_view v) {
       return flag_detail::path(d.c.day2.current_file, "--current-file", v);
     }},
    {"--generate", "", day2_section, "init: make CURRENT and set it on the backend",
     [](draft& d, std::string_view) -> problem {
       d.c.day2.generate = true;
       return std::nullopt;
     }},
    {"--create-user", "", day2_section,
     "init --generate: create the role / ACL user first if missing:\nPostgreSQL LOGIN NOSUPERUSER "
     "NOCREATEDB NOCREATEROLE\nNOREPLICATION NOBYPASSRLS INHERIT, member of each --grant;\nRedis "
     "`reset on +ping` plus --acl-rules; no more",
     [](draft& d, std::string_view) -> problem {
       d.c.day2.create_user = true;
       return std::nullopt;
     }},
    {"--adopt-privileged-role", "", day2_section,
     "init --create-user: take over an existing PostgreSQL role with\nSUPERUSER, CREATEROLE, "
     "REPLICATION or BYPASSRLS (else refused)",
     [](draft& d, std::string_view) -> problem {
       d.c.day2.adopt_privileged = true;
       return std::nullopt;
     }},
    {"--grant", "ROLE", day2_section, "PostgreSQL group role the created role joins (repeat)",
     [](draft& d, std::string_view v) -> problem {
       if (v.empty()) return "--grant wants a role name";
       d.c.day2.grants.emplace_back(v);
       return std::nullopt;
     }},
    {"--acl-rules", "\"RULES\"", day2_section,
     "Redis ACL rules of the created user, e.g. \"~app:* +@read\"\n(no password rule)",
     flag_detail::acl_rules},
    {"--password-policy", "SPEC", day2_section,
     "length=N,lower=N,upper=N,digit=N,symbol=N,exclude=CHARS:\neach class named is used with at "
     "least N of it, a class not\nnamed is not used (none named: lower, upper, digit); "
     "exclude\nlast. "
     "Stored in the store (PREFIX_PASSWORD_POLICY) and used by\nevery later rotation; an "
     "impossible "
     "or weak (< 64 bits) policy\nis a usage error",
     [](draft& d, std::string_view v) -> problem {
       auto p = dualcred::rotation::parse_password_policy(v);
       if (!p) return fmt::format("--password-policy: {}", p.error().detail);
       d.c.day2.policy = std::move(p).value();
       return std::nullopt;
     }},
    {"--max-age", "DURATION", day2_section, "due: e.g. 30d, 12h, 0s",
     [](draft& d, std::string_view v) {
       return flag_detail::day2_duration(d.c.day2.max_age, "--max-age", v);
     }},
    {"--json", "", day2_section,
     "status: one JSON object (phase, revision, current_user,\nrotated_at, phase_age_seconds, ...)",
     [](draft& d, std::string_view) -> problem {
       d.c.day2.json = true;
       return std::nullopt;
     }},
    {"--stuck-after", "DURATION", day2_section,
     "status: exit 11 when a rotation has sat in a phase other than\nidle for that long or more "
     "(or "
     "since an unrecorded time)",
     [](draft& d, std::string_view v) {
       return flag_detail::day2_duration(d.c.day2.stuck_after, "--stuck-after", v);
     }},
};

}  // namespace dualcred_rotate
