"""Tokens, namespaces and auth methods: approle and kubernetes login, lookup-self,
renew-self, and the capability check every route makes."""

import time

from policy import capabilities
from state import VaultError, denied, rfc3339


class Auth:
    """Handler mixin."""

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
