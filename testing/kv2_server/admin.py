"""The test-only admin API under /_admin/ (no token): tokens, policies, namespaces, mounts,
auth roles, revocation, sealing, faults and counters."""

import secrets

from state import DEFAULT_TTL, Mount, Token, VaultError


class Admin:
    """Handler mixin."""

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
