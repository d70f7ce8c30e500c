"""Server state: tokens, mounts and their secrets, policies, faults and counters; Vault's
error shape."""

import collections
import datetime
import secrets
import threading
import time
import uuid

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
