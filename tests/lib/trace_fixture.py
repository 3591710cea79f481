#!/usr/bin/env python3
"""trace_fixture.py - programs and checks for the zero-code tracing tests.

  server PORT [DOWNSTREAM_URL[,URL...]]   a legacy threaded http.server with no
                                 tracing code: /call fetches each URL in turn
                                 (no header forwarded), /err answers 500, /nolen answers
                                 without a length, /cgi has a forked child
                                 answer; POST echoes the body
  raw HOST PORT HEXDATA          send bytes, print what came back (hex), close
  half HOST PORT TEXT            send TEXT, close before the request ends
  forge SOCKET                   send forged and oversized span batches
  spans FILE                     the agent's exported spans, one JSON per line
"""
import http.client
import http.server
import json
import os
import signal
import socket
import struct
import sys


def serve(port, downstream):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def reply(self, code, body, length=True):
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            if length:
                self.send_header("Content-Length", str(len(body)))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.startswith("/call") and downstream:
                said = []
                for url in downstream.split(","):  # one call after the other, no header
                    u = url.split("/", 3)
                    host, _, p = u[2].rpartition(":")
                    c = http.client.HTTPConnection(host.strip("[]"), int(p), timeout=10)
                    c.request("GET", "/" + (u[3] if len(u) > 3 else ""))
                    r = c.getresponse()
                    data = r.read()
                    c.close()
                    said.append(b"downstream said %d %s" % (r.status, data[:40].strip()))
                self.reply(200, b", ".join(said))
            elif self.path.startswith("/err"):
                self.reply(500, b"broken\n")
            elif self.path.startswith("/cgi"):
                # A child writes the response (as a CGI program would); the server closes.
                self.wfile.flush()
                pid = os.fork()
                if pid == 0:
                    self.reply(200, b"from the child\n")
                    self.wfile.flush()
                    os._exit(0)
                os.waitpid(pid, 0)
                self.close_connection = True
            elif self.path.startswith("/nolen"):
                self.reply(200, b"until close\n", length=False)
            else:
                self.reply(200, b"hello\n")

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            self.reply(200, self.rfile.read(n))

    class Server(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6

    srv = Server(("::", port), Handler)
    srv.daemon_threads = True
    # A test stops it with SIGTERM: exit normally, so that exit handlers run.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    try:
        srv.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass


def raw(host, port, data, half=False):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(data)
    if half:
        s.close()
        return
    s.shutdown(socket.SHUT_WR)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        pass
    s.close()
    sys.stdout.write(out.hex() + "\n")


def forge(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)

    def hdr(typ, body):
        return struct.pack("=IBBHI", 0x43544147, 2, typ, 12 + len(body), 1) + body

    claim = b"\x05forge\x05forge"
    good = bytes(range(1, 17)) + bytes(range(1, 9)) + bytes(8) + struct.pack("=QQBBH", 1, 2, 2, 0, 0)
    msgs = [
        hdr(16, claim + struct.pack("=H", 3) + good),      # says 3, holds 1
        hdr(16, b"\xff" + b"x" * 20),                        # claim longer than the body
        hdr(16, b"\x02\xc3\x28\x00" + struct.pack("=H", 1) + good),  # bad UTF-8 in the claim
        hdr(16, claim + struct.pack("=H", 1) + bytes(52)),   # all-zero IDs
        struct.pack("=IBBHI", 0x43544147, 2, 16, 9999, 1) + claim,  # length field lies
        hdr(99, b"x"),                                       # unknown type
        hdr(16, claim + struct.pack("=H", 1) + good[:-2] + struct.pack("=H", 60000)),  # attrs past the end
    ]
    # On a connection of their own (the agent drops the first one at its lying length field):
    bounds = [
        # 40 attributes: more than a record may carry
        hdr(16, claim + struct.pack("=H", 1) + good[:-2] + struct.pack("=H", 40 * 6) +
            b"".join(struct.pack("=BBH", ord("s"), 1, 1) + b"k" + b"v" for _ in range(40))),
        # the largest message there is, claiming 65,000 records it does not hold
        hdr(16, claim + struct.pack("=H", 65000) + b"\xa5" * (65535 - 12 - len(claim) - 2)),
    ]
    s2 = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s2.connect(path)
    for m in bounds:
        s2.send(m)
    s2.close()
    for m in msgs:
        s.send(m)
    try:
        s.send(b"\x00" * 65536 * 2)                          # oversized
    except OSError:
        pass
    s.close()


def spans(path):
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        d = json.loads(line)
        for rs in d.get("resourceSpans", []):
            res = {a["key"]: list(a["value"].values())[0] for a in rs["resource"]["attributes"]}
            for ss in rs["scopeSpans"]:
                for s in ss["spans"]:
                    s["attrs"] = {a["key"]: list(a["value"].values())[0] for a in s.get("attributes", [])}
                    s.pop("attributes", None)
                    s["resource"] = res
                    print(json.dumps(s, sort_keys=True))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "server":
        serve(int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
    elif cmd == "raw":
        raw(sys.argv[2], int(sys.argv[3]), bytes.fromhex(sys.argv[4]))
    elif cmd == "half":
        raw(sys.argv[2], int(sys.argv[3]), sys.argv[4].encode(), half=True)
    elif cmd == "forge":
        forge(sys.argv[2])
    elif cmd == "spans":
        spans(sys.argv[2])
