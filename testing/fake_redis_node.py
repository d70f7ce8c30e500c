#!/usr/bin/env python3
"""A fake Redis node for dualcred's trust-boundary tests: it records every command it receives.

Standard library only. Listens on --host (127.0.0.1 or another loopback address such as
127.0.0.2) on a port the kernel picks, written to --port-file once it accepts connections.
Every command any client sends is appended to --log as one line: its arguments, each
hex-encoded, separated by spaces (so any byte survives), flushed at once.

Replies: a file in --replies named after the command's first two words, upper case, joined
by "_" ("CLUSTER_NODES"), else after its first word ("INFO"), holds the raw RESP bytes to
answer; it is read at each command, so a test may change it while the node runs. Without a
file: PING +PONG, INFO a replica's (or with --role master a primary's) replication section,
ACL GETUSER a user with no flags, CONFIG GET and ROLE an empty array, CLIENT LIST an empty
string, anything else (AUTH included) +OK.

--replicate-to PORT makes it also register as a replica of 127.0.0.1:PORT, as a hostile
replica would: REPLCONF listening-port (its own port), REPLCONF ip-address (--announce-ip,
default --host), PSYNC, then it reads and drops the stream and acknowledges every second.
The primary then lists it in INFO replication at the announced address.
"""

import argparse
import os
import socket
import socketserver
import threading
import time


def bulk(text):
    data = text.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


class Node:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.log = open(args.log, "ab", buffering=0)

    def record(self, argv):
        line = b" ".join(a.hex().encode() for a in argv) + b"\n"
        with self.lock:
            self.log.write(line if argv else b"-\n")

    def canned(self, argv):
        words = [a.decode("latin-1").upper() for a in argv[:2]]
        names = ["_".join(words)] if len(words) == 2 else []
        names.append(words[0] if words else "")
        for name in names:
            if self.args.replies and name.replace("_", "").replace("-", "").isalnum():
                path = os.path.join(self.args.replies, name)
                if os.path.isfile(path):
                    with open(path, "rb") as f:
                        return f.read()
        return None

    def reply(self, argv):
        found = self.canned(argv)
        if found is not None:
            return found
        cmd = argv[0].decode("latin-1").upper() if argv else ""
        sub = argv[1].decode("latin-1").upper() if len(argv) > 1 else ""
        if cmd == "PING":
            return b"+PONG\r\n"
        if cmd == "INFO":
            if self.args.role == "master":
                return bulk("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n")
            return bulk(
                "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:%d\r\n"
                "master_link_status:up\r\nconnected_slaves:0\r\n" % (self.args.replicate_to or 1)
            )
        if cmd == "ACL" and sub == "GETUSER":
            return b"*2\r\n$5\r\nflags\r\n*0\r\n"
        if cmd in ("CONFIG", "ROLE") and sub in ("GET", ""):
            return b"*0\r\n"
        if cmd == "CLIENT" and sub == "LIST":
            return b"$0\r\n\r\n"
        return b"+OK\r\n"


def read_command(f):
    """One command (multibulk or inline) as a list of bytes; None at the end of the stream."""
    line = f.readline()
    if not line:
        return None
    line = line.rstrip(b"\r\n")
    if not line.startswith(b"*"):
        return line.split()
    argv = []
    for _ in range(int(line[1:])):
        size = f.readline()
        if not size.startswith(b"$"):
            return None
        n = int(size[1:])
        data = f.read(n + 2)
        if len(data) < n + 2:
            return None
        argv.append(data[:n])
    return argv


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        node = self.server.node
        while True:
            try:
                argv = read_command(self.rfile)
            except (ValueError, OSError):
                return
            if argv is None:
                return
            node.record(argv)
            try:
                self.wfile.write(node.reply(argv))
            except OSError:
                return


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def replicate(primary, port, announce):
    """Registers as a replica of 127.0.0.1:primary announcing announce:port, and stays linked."""
    s = socket.create_connection(("127.0.0.1", primary))
    replies = s.makefile("rb")
    for argv in (["REPLCONF", "listening-port", str(port)], ["REPLCONF", "ip-address", announce],
                 ["REPLCONF", "capa", "eof", "capa", "psync2"], ["PSYNC", "?", "-1"]):
        data = b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode())
                                                 for a in argv)
        s.sendall(data)
        # One at a time, as a replica does: the primary refuses PSYNC while an earlier
        # reply is still waiting to be sent ("invalid with pending output").
        if argv[0] == "REPLCONF":
            replies.readline()

    def ack():
        while True:
            time.sleep(1)
            try:
                s.sendall(b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$1\r\n0\r\n")
            except OSError:
                return

    threading.Thread(target=ack, daemon=True).start()
    while s.recv(65536):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--replies")
    ap.add_argument("--role", choices=["master", "slave"], default="slave")
    ap.add_argument("--replicate-to", type=int)
    ap.add_argument("--announce-ip")
    args = ap.parse_args()
    server = Server((args.host, 0), Handler)
    server.node = Node(args)
    port = server.server_address[1]
    if args.replicate_to:
        threading.Thread(target=replicate, daemon=True,
                         args=(args.replicate_to, port, args.announce_ip or args.host)).start()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
