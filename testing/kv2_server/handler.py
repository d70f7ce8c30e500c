"""HTTP: one handler class whose dispatcher routes /_admin/ and /v1/ (auth, KV mounts), and
the threading server."""

import json
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from admin import Admin
from auth import Auth
from faults import Faults
from kv import KV
from state import VaultError, denied


class Handler(Admin, Faults, Auth, KV, BaseHTTPRequestHandler):
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


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        if self.verbose:  # a client that speaks TLS or hangs up is no server failure
            super().handle_error(request, client_address)
