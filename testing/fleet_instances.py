#!/usr/bin/env python3
"""Many simulated service instances in one process, for the fleet check's tests.

Reads a JSON list of instances, each {"host", "port" (0: the kernel picks), "version",
"delay_ms", "silent", "stale_seconds"}, listens on every one, then writes the ports bound (a
JSON list, in the same order) to --port-file. Each instance serves:

  GET /health   {"version": "<version>"}, a dual_credential's status JSON
  GET /metrics  dualcred_credential_info{backend="db",version="<version>"} 1, what the
                library exports; with stale_seconds, the sample carries a timestamp that
                many seconds in the past, so Prometheus keeps a scrape that old

A slow instance answers after delay_ms; a silent one accepts connections and never answers.
"""
import argparse
import asyncio
import json
import resource
import time


def body_for(inst, path):
    version = inst["version"]
    if path.startswith("/metrics"):
        stamp = ""
        if inst.get("stale_seconds"):
            stamp = " %d" % int((time.time() - inst["stale_seconds"]) * 1000)
        text = ("# TYPE dualcred_credential_info gauge\n"
                'dualcred_credential_info{backend="db",version="%s"} 1%s\n' % (version, stamp))
        return "200 OK", "text/plain; version=0.0.4", text
    if path.startswith("/health"):
        return "200 OK", "application/json", json.dumps({"version": version})
    return "404 Not Found", "text/plain", "not found\n"


def handler(inst):
    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if inst.get("silent"):
                    await asyncio.sleep(3600)
                    return
                if inst.get("delay_ms"):
                    await asyncio.sleep(inst["delay_ms"] / 1000.0)
                path = head.split(b" ", 2)[1].decode("ascii", "replace")
                status, ctype, text = body_for(inst, path)
                data = text.encode()
                writer.write(("HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                              % (status, ctype, len(data))).encode() + data)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
    return handle


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", required=True)
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with open(args.instances) as f:
        instances = json.load(f)
    ports = []
    for inst in instances:
        server = await asyncio.start_server(handler(inst), inst["host"], inst.get("port", 0),
                                            backlog=64, reuse_address=True)
        ports.append(server.sockets[0].getsockname()[1])
    with open(args.port_file + ".tmp", "w") as f:
        json.dump(ports, f)
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
