"""Fault injection (POST /_admin/fault): delays, error statuses, garbage, oversized bodies,
dropped connections, a sealed Vault."""

import socket
import time


class Faults:
    """Handler mixin."""

    def apply_faults(self, path):
        """True when a fault answered (or dropped) the request."""
        state = self.server.state
        with state.lock:
            fault = None
            for f in state.faults:
                if path.startswith(f.get("path", "/v1/")) and \
                        f.get("method") in (None, self.command) and \
                        all(self.headers.get(k) == v for k, v in (f.get("headers") or {}).items()):
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
