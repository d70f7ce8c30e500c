"""KV version 1 and 2 semantics: versions, check-and-set, soft delete, undelete, destroy,
metadata, listing and pruning to max_versions."""

from state import DEFAULT_MAX_VERSIONS, VaultError, rfc3339


class KV:
    """Handler mixin."""

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
