#!/usr/bin/env python3
"""A stand-in for HashiCorp Vault's KV version 2 API, for dualcred's tests.

Standard library only. Binds 127.0.0.1 on a free port, prints the port on stdout and, with
--port-file, writes it there (atomically). It behaves as Vault's documented API does for
what dualcred uses, with response bodies shaped like real Vault's (see tests/provider/vault/data/):

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
                            until cleared), "seconds" (delay), "status", "body", "bytes",
                            "headers"? ({name: value} a request must carry to be hit)}
  DELETE /_admin/fault     clears every fault
  GET /_admin/stats        counters: requests by "METHOD /path", logins, renewals,
                           connections, requests without X-Vault-Request

Run as `python3 testing/kv2_server [options]`. Modules: state (tokens, mounts, secrets),
policy (ACL globs), auth (namespaces, tokens, login methods), kv (KV v1 and v2), faults,
admin (/_admin/), handler (HTTP dispatch and server); this file parses the command line.
"""

import argparse
import os
import threading
import time

from handler import Handler, Server
from state import State


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
