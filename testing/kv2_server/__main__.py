#!/usr/bin/env python3
"""A stand-in for HashiCorp Vault's KV version 2 API, for dualcred's tests.

Standard library only. Binds 127.0.0.1 on a free port, prints the port on stdout and, with
--port-file, writes it there (atomically). It behaves as Vault's documented API does for
what dualcred uses, with response bodies shaped like real Vault's (see tests/vault/data/):

  KV v2 (mount "secret"; more with the admin API): data/ (read, ?version=N, write with
  options.cas and cas_required, DELETE = soft delete of the latest version), delete/,
  undelete/, destroy/, metadata/ (read, LIST, write max_versions/cas_required, delete),
  config. A KV v1 mount answers plain reads and writes.
  Tokens with policies (path globs with `*` and `+`, capabilities read/create/update/patch/
  delete/list/deny, the most specific rule of each policy wins, deny wins across policies),
  namespaces (X-Vault-Namespace; a token reaches its namespace and those below it),
  TTLs and max TTLs; auth/approle/login, auth/kubernetes/login, auth/token/lookup-self and
  auth/token/renew-self; sys/health; the sealed 503.

A test-only admin API under /_admin/ (no token) configures it and injects faults:
  POST /_admin/token       {"id"?, "policies", "ttl", "max_ttl", "renewable", "namespace",
                            "no_default_policy"} -> {"token": id}
  POST /_admin/policy      {"name", "rules": [{"path", "capabilities"}]}
  POST /_admin/namespace   {"name"}
  POST /_admin/mount       {"namespace", "path", "version", "max_versions", "cas_required"}
  POST /_admin/approle     {"role", "role_id", "secret_id", "policies", "token_ttl",
                            "token_max_ttl", "renewable", "namespace"}
  POST /_admin/kubernetes  {"role", "jwt", "policies", "ttl", "max_ttl", "namespace"}
  POST /_admin/revoke      {"token"} or {"all": true} (every token but root ones)
  POST /_admin/seal        {"sealed": bool}
  POST /_admin/fault       {"kind": delay|status|garbage|drop|big|sealed, "path" (a prefix of
                            the request path, default all of /v1/), "method"?, "count" (-1:
                            until cleared), "seconds" (delay), "status", "body", "bytes"}
  DELETE /_admin/fault     clears every fault
  GET /_admin/stats        counters: requests by "METHOD /path", logins, renewals,
                           connections, requests without X-Vault-Request
"""

import argparse
import collections
import datetime
import json
import os
import secrets
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_MAX_VERSIONS = 10
DEFAULT_TTL = 768 * 3600
PERMISSION_DENIED = "1 error occurred:\n\t* permission denied\n\n"


def rfc3339(t=None):
    t = time.time() if t is None else t
    dt = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


class VaultError(Exception):
    def __init__(self, status, errors=None, body=None):
        super().__init__(status)
        self.status = status
        self.body = body if body is not None else {"errors": [] if errors is None else errors}


def denied():
    return VaultError(403, [PERMISSION_DENIED])


class Token:
    def __init__(self, token_id, policies, namespace="", ttl=0, max_ttl=0, renewable=False,
                 meta=None, path="auth/token/create"):
        self.id = token_id
        self.accessor = uuid.uuid4().hex[:24]
        self.policies = policies
        self.namespace = namespace
        self.ttl = ttl
        self.max_ttl = max_ttl
        self.renewable = renewable
        self.meta = meta
        self.path = path
        self.created = time.time()
        self.expires = self.created + ttl if ttl > 0 else None
        self.revoked = False

    def alive(self):
        return not self.revoked and (self.expires is None or time.time() < self.expires)

    def remaining(self):
        return 0 if self.expires is None else max(0, int(round(self.expires - time.time())))

    def auth_body(self):
        return {
            "client_token": self.id, "accessor": self.accessor,
            "policies": sorted(self.policies), "token_policies": sorted(self.policies),
            "metadata": self.meta, "lease_duration": self.remaining(),
            "renewable": self.renewable, "entity_id": "", "token_type": "service",
            "orphan": True, "mfa_requirement": None, "num_uses": 0,
        }


class Mount:
    def __init__(self, version=2, max_versions=0, cas_required=False):
        self.version = version
        self.max_versions = max_versions
        self.cas_required = cas_required
        self.secrets = {}  # path -> dict (v2: metadata and versions; v1: the data)


class State:
    def __init__(self, root_token):
        self.lock = threading.RLock()
        self.sealed = False
        self.namespaces = {""}
        self.mounts = {("", "secret"): Mount()}
        self.policies = {
            "default": [
                {"path": "auth/token/lookup-self", "capabilities": ["read"]},
                {"path": "auth/token/renew-self", "capabilities": ["update"]},
            ],
        }
        self.tokens = {root_token: Token(root_token, ["root"], path="auth/token/root")}
        self.approles = {}  # (namespace, mount, role) -> dict
        self.k8s = {}  # (namespace, mount, role) -> dict
        self.faults = []
        self.stats = collections.Counter()
        self.requests = collections.Counter()

    def issue(self, policies, namespace, ttl, max_ttl, renewable, meta, path,
              no_default=False):
        token_id = "hvs." + secrets.token_urlsafe(24)
        pols = list(policies) + ([] if no_default or "default" in policies else ["default"])
        tok = Token(token_id, pols, namespace, ttl, max_ttl, renewable, meta, path)
        self.tokens[token_id] = tok
        return tok


def glob_score(pattern, path):
    """How specifically `pattern` matches `path`, or None. Higher is more specific."""
    prefix = pattern.endswith("*")
    pat = pattern[:-1] if prefix else pattern
    pat_parts = pat.split("/")
    path_parts = path.split("/")
    if not prefix and len(pat_parts) != len(path_parts):
        return None
    if prefix and len(path_parts) < len(pat_parts):
        return None
    plus = 0
    for i, p in enumerate(pat_parts):
        last = i == len(pat_parts) - 1
        seg = path_parts[i]
        if p == "+":
            plus += 1
            continue
        if last and prefix:
            if not seg.startswith(p):
                return None
        elif p != seg:
            return None
    return (0 if prefix else 1, len(pat) - plus, -plus)


def capabilities(state, token, rel_path):
    if "root" in token.policies:
        return {"root"}
    caps = set()
    deny = False
    for name in token.policies:
        best = None
        for rule in state.policies.get(name, []):
            score = glob_score(rule["path"], rel_path)
            if score is not None and (best is None or score > best[0]):
                best = (score, rule)
        if best is not None:
            rule_caps = set(best[1].get("capabilities", []))
            if "deny" in rule_caps:
                deny = True
            caps |= rule_caps
    return set() if deny else caps


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Keep-alive replies must not wait for the client's delayed ACK (about 40 ms a request).
    disable_nagle_algorithm = True
    server_version = "kv2-test"
    sys_version = ""

    def log_message(self, fmt, *args):  # never log: a request line is all it has, but be quiet
        if self.server.verbose:
            sys.stderr.write("kv2_server: " + (fmt % args) + "\n")

    def setup(self):
        super().setup()
        with self.server.state.lock:
            self.server.state.stats["connections"] += 1

    # Every method goes through one dispatcher.
    def do_GET(self): self.dispatch()
    def do_POST(self): self.dispatch()
    def do_PUT(self): self.dispatch()
    def do_DELETE(self): self.dispatch()
    def do_LIST(self): self.dispatch()
    def do_PATCH(self): self.dispatch()

    # ---- plumbing -------------------------------------------------------------------------
    def send_json(self, status, body, raw=None):
        data = raw if raw is not None else json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if status != 204 and self.command != "HEAD":
            self.wfile.write(data)

    def read_body(self):
        raw = self.raw_body
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise VaultError(400, ["failed to parse JSON input: invalid character"])
        if not isinstance(body, dict):
            raise VaultError(400, ["failed to parse JSON input: not an object"])
        return body

    def envelope(self, data=None, auth=None, mount_type="kv", warnings=None):
        return {"request_id": str(uuid.uuid4()), "lease_id": "", "renewable": False,
                "lease_duration": 0, "data": data, "wrap_info": None, "warnings": warnings,
                "auth": auth, "mount_type": mount_type}

    def dispatch(self):
        state = self.server.state
        url = urlsplit(self.path)
        path = url.path
        query = parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        self.raw_body = self.rfile.read(length) if length else b""
        with state.lock:
            state.requests[f"{self.command} {path}"] += 1
            if path.startswith("/v1/") and self.headers.get("X-Vault-Request") != "true":
                state.stats["missing_x_vault_request"] += 1
        try:
            if path.startswith("/_admin/"):
                return self.admin(path[len("/_admin/"):])
            if not path.startswith("/v1/"):
                raise VaultError(404, ["not found"])
            if self.apply_faults(path):
                return
            status, body = self.vault(unquote(path[len("/v1/"):]), query)
            self.send_json(status, body)
        except VaultError as e:
            self.send_json(e.status, e.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def apply_faults(self, path):
        """True when a fault answered (or dropped) the request."""
        state = self.server.state
        with state.lock:
            fault = None
            for f in state.faults:
                if path.startswith(f.get("path", "/v1/")) and \
                        f.get("method") in (None, self.command):
                    fault = f
                    break
            if fault is None:
                return False
            if fault.get("count", -1) > 0:
                fault["count"] -= 1
                if fault["count"] == 0:
                    state.faults.remove(fault)
            state.stats["faults"] += 1
        kind = fault["kind"]
        if kind == "delay":
            time.sleep(float(fault.get("seconds", 1.0)))
            return False  # then answers normally
        if kind == "status":
            status = int(fault.get("status", 500))
            body = fault.get("body", {"errors": ["injected fault"]})
            raw = body.encode() if isinstance(body, str) else None
            self.send_json(status, body, raw)
        elif kind == "sealed":
            self.send_json(503, {"errors": ["Vault is sealed"]})
        elif kind == "garbage":
            self.send_json(int(fault.get("status", 200)), None,
                           fault.get("body", "<html>502 Bad Gateway</html>").encode())
        elif kind == "big":
            size = int(fault.get("bytes", 2 << 20))
            pad = "x" * max(0, size - 40)
            self.send_json(200, None, ('{"data":{"pad":"' + pad + '"}}').encode())
        elif kind == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        else:
            self.send_json(500, {"errors": [f"unknown fault kind {kind}"]})
        return True

    # ---- Vault ----------------------------------------------------------------------------
    def namespace(self):
        ns = (self.headers.get("X-Vault-Namespace") or "").strip("/")
        if ns.startswith("root"):
            ns = ns[4:].strip("/")
        return ns

    def token(self, ns):
        state = self.server.state
        tok = state.tokens.get(self.headers.get("X-Vault-Token") or "")
        if tok is None or not tok.alive():
            raise denied()
        if ns != tok.namespace and not ns.startswith(tok.namespace + "/") and tok.namespace:
            raise denied()
        return tok

    def require(self, tok, ns, rel, needed):
        state = self.server.state
        scope = ns[len(tok.namespace):].strip("/") if tok.namespace else ns
        full = (scope + "/" + rel) if scope else rel
        caps = capabilities(state, tok, full)
        if "root" in caps:
            return
        if not (set(needed) & caps):
            raise denied()

    def vault(self, rest, query):
        state = self.server.state
        body = self.read_body() if self.command in ("POST", "PUT", "PATCH") else {}
        with state.lock:
            if rest == "sys/health":
                if state.sealed:
                    return 503, {"initialized": True, "sealed": True, "standby": False}
                return 200, {"initialized": True, "sealed": False, "standby": False,
                             "version": "1.15.0-kv2-test", "cluster_name": "kv2-test"}
            if state.sealed:
                raise VaultError(503, ["Vault is sealed"])
            ns = self.namespace()
            if ns not in state.namespaces:
                raise denied()
            parts = rest.split("/")
            if len(parts) >= 3 and parts[0] == "auth" and parts[-1] == "login":
                return self.login(ns, "/".join(parts[1:-1]), body)
            if rest == "auth/token/lookup-self":
                tok = self.token(ns)
                self.require(tok, ns, rest, ["read", "update"])
                return 200, self.envelope(self.lookup(tok), mount_type="token")
            if rest == "auth/token/renew-self":
                tok = self.token(ns)
                self.require(tok, ns, rest, ["update"])
                return self.renew(tok, body)
            tok = self.token(ns)
            mount_path, mount = self.find_mount(ns, rest)
            if mount is None:
                raise VaultError(404, [f'no handler for route "{rest}". route entry not found.'])
            sub = rest[len(mount_path):].strip("/")
            if mount.version == 1:
                return self.kv1(tok, ns, mount_path, mount, sub, body)
            return self.kv2(tok, ns, mount_path, mount, sub, query, body)

    def find_mount(self, ns, rest):
        state = self.server.state
        best = (None, None)
        for (mns, mpath), mount in state.mounts.items():
            if mns == ns and (rest == mpath or rest.startswith(mpath + "/")):
                if best[0] is None or len(mpath) > len(best[0]):
                    best = (mpath, mount)
        return best

    # ---- auth -----------------------------------------------------------------------------
    def login(self, ns, mount, body):
        state = self.server.state
        state.stats["logins"] += 1
        for (rns, rmount, name), role in state.approles.items():
            if rns == ns and rmount == mount:
                if body.get("role_id") == role["role_id"] and \
                        body.get("secret_id") in role["secret_ids"]:
                    tok = state.issue(role["policies"], ns, role["token_ttl"],
                                      role["token_max_ttl"], role["renewable"],
                                      {"role_name": name}, f"auth/{mount}/login")
                    return 200, self.envelope(None, tok.auth_body(), mount_type="approle")
        if any(rns == ns and rmount == mount for (rns, rmount, _) in state.approles):
            raise VaultError(400, ["invalid role or secret ID"])
        k8s_roles = {name: r for (rns, rmount, name), r in state.k8s.items()
                     if rns == ns and rmount == mount}
        if k8s_roles:
            role = k8s_roles.get(body.get("role"))
            if role is None:
                raise VaultError(400, [f'invalid role name "{body.get("role")}"'])
            if body.get("jwt") not in role["jwts"]:
                raise denied()
            tok = state.issue(role["policies"], ns, role["ttl"], role["max_ttl"], True,
                              {"role": body.get("role"), "service_account_name": "mutt"},
                              f"auth/{mount}/login")
            return 200, self.envelope(None, tok.auth_body(), mount_type="kubernetes")
        raise VaultError(404, [f'no handler for route "auth/{mount}/login". route entry not found.'])

    def lookup(self, tok):
        return {
            "accessor": tok.accessor, "creation_time": int(tok.created),
            "creation_ttl": tok.ttl, "display_name": "token", "entity_id": "",
            "expire_time": rfc3339(tok.expires) if tok.expires else None,
            "explicit_max_ttl": 0, "id": tok.id, "issue_time": rfc3339(tok.created),
            "meta": tok.meta, "num_uses": 0, "orphan": True, "path": tok.path,
            "policies": sorted(tok.policies), "renewable": tok.renewable,
            "ttl": tok.remaining(), "type": "service",
        }

    def renew(self, tok, body):
        state = self.server.state
        state.stats["renewals"] += 1
        if not tok.renewable or tok.expires is None:
            raise VaultError(400, ["lease is not renewable"])
        increment = int(body.get("increment") or tok.ttl)
        now = time.time()
        expires = now + increment
        if tok.max_ttl > 0:
            expires = min(expires, tok.created + tok.max_ttl)
        tok.expires = expires
        return 200, self.envelope(None, tok.auth_body(), mount_type="token")

    # ---- KV -------------------------------------------------------------------------------
    def kv1(self, tok, ns, mount_path, mount, sub, body):
        rel = f"{mount_path}/{sub}"
        if self.command == "GET":
            self.require(tok, ns, rel, ["read"])
            if sub not in mount.secrets:
                raise VaultError(404, [])
            env = self.envelope(mount.secrets[sub])
            env["lease_duration"] = 2764800
            return 200, env
        if self.command in ("POST", "PUT"):
            self.require(tok, ns, rel, ["create", "update"])
            mount.secrets[sub] = body
            return 204, None
        if self.command == "DELETE":
            self.require(tok, ns, rel, ["delete"])
            mount.secrets.pop(sub, None)
            return 204, None
        raise VaultError(405, ["unsupported operation"])

    def version_meta(self, n, v):
        return {"created_time": v["created_time"], "deletion_time": v["deletion_time"],
                "destroyed": v["destroyed"]}

    def kv2(self, tok, ns, mount_path, mount, sub, query, body):
        op, _, path = sub.partition("/")
        path = path.strip("/")
        rel = f"{mount_path}/{op}/{path}" if path else f"{mount_path}/{op}"
        cmd = self.command
        if op == "config":
            if cmd == "GET":
                self.require(tok, ns, rel, ["read"])
                return 200, self.envelope({"cas_required": mount.cas_required,
                                           "delete_version_after": "0s",
                                           "max_versions": mount.max_versions})
            self.require(tok, ns, rel, ["update"])
            if "max_versions" in body:
                mount.max_versions = int(body["max_versions"])
            if "cas_required" in body:
                mount.cas_required = bool(body["cas_required"])
            return 204, None
        if op == "metadata" and (cmd == "LIST" or (cmd == "GET" and query.get("list") == ["true"])):
            self.require(tok, ns, rel, ["list"])
            prefix = path + "/" if path else ""
            keys = sorted({(k[len(prefix):].split("/")[0] + ("/" if "/" in k[len(prefix):] else ""))
                           for k in mount.secrets if k.startswith(prefix)})
            if not keys:
                raise VaultError(404, [])
            return 200, self.envelope({"keys": keys})
        if not path:
            raise VaultError(405, ["missing secret path"])
        sec = mount.secrets.get(path)
        if op == "data":
            if cmd == "GET":
                self.require(tok, ns, rel, ["read"])
                return self.read_version(sec, query)
            if cmd in ("POST", "PUT"):
                self.require(tok, ns, rel, ["update"] if sec else ["create"])
                return self.write(mount, path, sec, body)
            if cmd == "DELETE":
                self.require(tok, ns, rel, ["delete"])
                if sec and sec["current_version"] in sec["versions"]:
                    v = sec["versions"][sec["current_version"]]
                    if not v["deletion_time"]:
                        v["deletion_time"] = rfc3339()
                return 204, None
            raise VaultError(405, ["unsupported operation"])
        if op in ("delete", "undelete", "destroy"):
            if cmd not in ("POST", "PUT"):
                raise VaultError(405, ["unsupported operation"])
            self.require(tok, ns, rel, ["update"])
            versions = body.get("versions")
            if not versions or not isinstance(versions, list):
                raise VaultError(400, ["no version number provided"])
            for n in versions:
                v = sec["versions"].get(int(n)) if sec else None
                if v is None:
                    continue
                if op == "delete" and not v["deletion_time"] and not v["destroyed"]:
                    v["deletion_time"] = rfc3339()
                elif op == "undelete" and not v["destroyed"]:
                    v["deletion_time"] = ""
                elif op == "destroy":
                    v["destroyed"] = True
                    v["data"] = None
            return 204, None
        if op == "metadata":
            if cmd == "GET":
                self.require(tok, ns, rel, ["read"])
                if sec is None:
                    raise VaultError(404, [])
                data = {k: sec[k] for k in ("cas_required", "created_time", "current_version",
                                            "custom_metadata", "max_versions", "oldest_version",
                                            "updated_time")}
                data["delete_version_after"] = "0s"
                data["versions"] = {str(n): self.version_meta(n, v)
                                    for n, v in sorted(sec["versions"].items())}
                return 200, self.envelope(data)
            if cmd in ("POST", "PUT"):
                self.require(tok, ns, rel, ["update"] if sec else ["create"])
                if sec is None:
                    sec = mount.secrets[path] = self.new_secret()
                if "max_versions" in body:
                    sec["max_versions"] = int(body["max_versions"])
                if "cas_required" in body:
                    sec["cas_required"] = bool(body["cas_required"])
                if "custom_metadata" in body:
                    sec["custom_metadata"] = body["custom_metadata"]
                sec["updated_time"] = rfc3339()
                return 204, None
            if cmd == "DELETE":
                self.require(tok, ns, rel, ["delete"])
                mount.secrets.pop(path, None)
                return 204, None
            raise VaultError(405, ["unsupported operation"])
        raise VaultError(404, [f'no handler for route "{mount_path}/{sub}". route entry not found.'])

    @staticmethod
    def new_secret():
        now = rfc3339()
        return {"versions": {}, "current_version": 0, "oldest_version": 0, "max_versions": 0,
                "cas_required": False, "custom_metadata": None, "created_time": now,
                "updated_time": now}

    def read_version(self, sec, query):
        if sec is None or not sec["versions"]:
            raise VaultError(404, [])
        try:
            n = int(query.get("version", ["0"])[0])
        except ValueError:
            raise VaultError(400, ["invalid version"])
        if n == 0:
            n = sec["current_version"]
        v = sec["versions"].get(n)
        if v is None:
            raise VaultError(404, [])
        meta = {"created_time": v["created_time"], "custom_metadata": sec["custom_metadata"],
                "deletion_time": v["deletion_time"], "destroyed": v["destroyed"], "version": n}
        if v["deletion_time"] or v["destroyed"]:
            raise VaultError(404, body=self.envelope({"data": None, "metadata": meta}))
        return 200, self.envelope({"data": v["data"], "metadata": meta})

    def write(self, mount, path, sec, body):
        data = body.get("data")
        if not isinstance(data, dict):
            raise VaultError(400, ["no data provided"])
        options = body.get("options") or {}
        cas = options.get("cas")
        required = mount.cas_required or (sec is not None and sec["cas_required"])
        if cas is None and required:
            raise VaultError(400, ["check-and-set parameter required for this call"])
        if cas is not None:
            current = sec["current_version"] if sec else 0
            if int(cas) != current:
                raise VaultError(400, ["check-and-set parameter did not match the current version"])
        if sec is None:
            sec = mount.secrets[path] = self.new_secret()
        n = sec["current_version"] + 1
        now = rfc3339()
        sec["versions"][n] = {"data": data, "created_time": now, "deletion_time": "",
                              "destroyed": False}
        sec["current_version"] = n
        sec["updated_time"] = now
        keep = sec["max_versions"] or mount.max_versions or DEFAULT_MAX_VERSIONS
        while len(sec["versions"]) > keep:  # Vault prunes the oldest and records where it stopped
            del sec["versions"][min(sec["versions"])]
            sec["oldest_version"] = min(sec["versions"])
        meta = {"created_time": now, "custom_metadata": sec["custom_metadata"],
                "deletion_time": "", "destroyed": False, "version": n}
        return 200, self.envelope(meta)

    # ---- admin ----------------------------------------------------------------------------
    def admin(self, what):
        state = self.server.state
        body = self.read_body() if self.command in ("POST", "PUT") else {}
        with state.lock:
            if what == "stats" and self.command == "GET":
                out = dict(state.stats)
                out["requests"] = dict(state.requests)
                return self.send_json(200, out)
            if what == "fault" and self.command == "DELETE":
                state.faults.clear()
                return self.send_json(204, None)
            if self.command != "POST":
                raise VaultError(405, ["admin endpoints take POST"])
            ns = body.get("namespace", "").strip("/")
            if what == "token":
                token_id = body.get("id") or "hvs." + secrets.token_urlsafe(24)
                pols = list(body.get("policies", []))
                if not body.get("no_default_policy") and "default" not in pols and "root" not in pols:
                    pols.append("default")
                tok = Token(token_id, pols, ns, int(body.get("ttl", 0)),
                            int(body.get("max_ttl", 0)), bool(body.get("renewable", True)))
                state.tokens[token_id] = tok
                return self.send_json(200, {"token": token_id})
            if what == "policy":
                state.policies[body["name"]] = body.get("rules", [])
                return self.send_json(204, None)
            if what == "namespace":
                state.namespaces.add(body["name"].strip("/"))
                state.mounts.setdefault((body["name"].strip("/"), "secret"), Mount())
                return self.send_json(204, None)
            if what == "mount":
                state.mounts[(ns, body["path"].strip("/"))] = Mount(
                    int(body.get("version", 2)), int(body.get("max_versions", 0)),
                    bool(body.get("cas_required", False)))
                return self.send_json(204, None)
            if what == "approle":
                key = (ns, body.get("mount", "approle"), body["role"])
                role = state.approles.setdefault(key, {"secret_ids": set()})
                role.update(role_id=body["role_id"], policies=body.get("policies", []),
                            token_ttl=int(body.get("token_ttl", DEFAULT_TTL)),
                            token_max_ttl=int(body.get("token_max_ttl", 0)),
                            renewable=bool(body.get("renewable", True)))
                if "secret_id" in body:
                    role["secret_ids"].add(body["secret_id"])
                return self.send_json(204, None)
            if what == "kubernetes":
                key = (ns, body.get("mount", "kubernetes"), body["role"])
                role = state.k8s.setdefault(key, {"jwts": set()})
                role.update(policies=body.get("policies", []),
                            ttl=int(body.get("ttl", DEFAULT_TTL)),
                            max_ttl=int(body.get("max_ttl", 0)))
                role["jwts"].add(body["jwt"])
                return self.send_json(204, None)
            if what == "revoke":
                for tok in state.tokens.values():
                    if tok.id == body.get("token") or (body.get("all") and "root" not in tok.policies):
                        tok.revoked = True
                return self.send_json(204, None)
            if what == "seal":
                state.sealed = bool(body.get("sealed", True))
                return self.send_json(204, None)
            if what == "fault":
                fault = dict(body)
                fault.setdefault("count", -1)
                state.faults.append(fault)
                return self.send_json(204, None)
        raise VaultError(404, [f"unknown admin endpoint {what}"])


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        if self.verbose:  # a client that speaks TLS or hangs up is no server failure
            super().handle_error(request, client_address)


def watch_parent(parent):
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port-file", help="write the chosen port here")
    ap.add_argument("--root-token", default="root-token-for-tests")
    ap.add_argument("--parent-pid", type=int, help="exit when this process is gone")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    server = Server(("127.0.0.1", 0), Handler)
    server.state = State(args.root_token)
    server.verbose = args.verbose
    port = server.server_address[1]
    if args.parent_pid:
        threading.Thread(target=watch_parent, args=(args.parent_pid,), daemon=True).start()
    print(port, flush=True)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
