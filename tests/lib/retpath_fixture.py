#!/usr/bin/env python3
"""retpath_fixture.py - server and client for tests/integration/retpath_*.sh
(the return path: a server's responses carry their request's IDs).
Standard library only.

  server ADDR PORT        HTTP/1.1 keep-alive server: GET /bytes/N answers N
                          pseudo-random octets (seeded by N, Content-Length),
                          any other path "ok"; writes each response in 64 KiB
                          writes; threaded; logs each /bytes/ connection's
                          TCP_MAXSEG and IPV6_DSTOPTS length to stderr
  get URL [TP] [SHA]      one GET (optional traceparent); prints status, length,
                          sha256; with SHA, exits 1 if the body's differs
  sha N                   the sha256 of what /bytes/N answers
  seq ADDR PORT EVENTS SETTLE_S TP...   keep-alive client: one GET /bytes/20000
                          per TP ("-" = no trace header) on ONE connection; after
                          each, waits until EVENTS holds still for SETTLE_S and
                          prints "TP start end" (EVENTS line numbers of its window)
  windows EVENTS WINFILE  each window with a traceparent holds response events with
                          exactly its (trace-id, parent-id) and no other response
                          event; a "-" window holds no response event
  transcript ADDR PORT    one connection: answers one request with write, send,
                          sendmsg and sendall (a 300000-octet body), then, once the
                          client closed, sends until an error; prints every call's
                          result or errno name (the server's side of a session)
  fetch ADDR PORT TP      the client of transcript: one GET, prints the response's
                          sha256, closes
"""
import hashlib
import http.client
import os
import random
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 65536
IPV6_DSTOPTS = 59


def body_of(n):
    rng = random.Random(n)
    out = bytearray()
    while len(out) < n:
        out += rng.getrandbits(8 * 4096).to_bytes(4096, "little")
    return bytes(out[:n])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/bytes/"):
            data = body_of(int(self.path[7:]))
        else:
            data = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        for i in range(0, len(data), CHUNK):
            self.wfile.write(data[i:i + CHUNK])
        if self.path.startswith("/bytes/"):
            # The connection's segment size and destination options, for the log.
            c = self.connection
            mss = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
            dst = len(c.getsockopt(socket.IPPROTO_IPV6, IPV6_DSTOPTS, 512))
            sys.stderr.write("maxseg %d dstopts %d\n" % (mss, dst))
            sys.stderr.flush()


class Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True


def lines(path):
    with open(path) as f:
        return sum(1 for _ in f)


def settle(path, hold):
    last, since = -1, time.time()
    deadline = time.time() + 10
    while time.time() < deadline:
        n = lines(path)
        if n != last:
            last, since = n, time.time()
        elif time.time() - since >= hold:
            return n
        time.sleep(0.05)
    return lines(path)


def main():
    cmd = sys.argv[1]
    if cmd == "server":
        Server((sys.argv[2], int(sys.argv[3])), Handler).serve_forever()
    elif cmd == "sha":
        print(hashlib.sha256(body_of(int(sys.argv[2]))).hexdigest())
    elif cmd == "get":
        url = sys.argv[2]
        hdrs = {}
        if len(sys.argv) > 3 and sys.argv[3] != "-":
            hdrs["traceparent"] = sys.argv[3]
        host = url.split("//")[1].split("/")[0]
        path = "/" + url.split("//")[1].split("/", 1)[1]
        h, _, port = host.rpartition(":")
        c = http.client.HTTPConnection(h.strip("[]"), int(port), timeout=60)
        c.request("GET", path, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        sha = hashlib.sha256(data).hexdigest()
        print(r.status, len(data), sha)
        if len(sys.argv) > 4 and sys.argv[4] != sha:
            sys.exit(1)
    elif cmd == "seq":
        addr, port, events, hold = sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
        c = http.client.HTTPConnection(addr, port, timeout=30)
        for tp in sys.argv[6:]:
            start = settle(events, hold)
            hdrs = {} if tp == "-" else {"traceparent": tp}
            c.request("GET", "/bytes/20000", headers=hdrs)
            r = c.getresponse()
            r.read()
            end = settle(events, hold)
            print(tp, start, end, flush=True)
        c.close()
    elif cmd == "transcript":
        import errno as E
        ls = socket.socket(socket.AF_INET6)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((sys.argv[2], int(sys.argv[3])))
        ls.listen(1)
        c, _ = ls.accept()
        out = []
        req = b""
        while b"\r\n\r\n" not in req:
            req += c.recv(4096)
        body = body_of(300000)
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
        out.append("write %d" % os.write(c.fileno(), head))
        out.append("send %d" % c.send(body[:1000]))
        out.append("sendmsg %d" % c.sendmsg([body[1000:3000], body[3000:5000]]))
        c.sendall(body[5000:])
        out.append("sendall ok")
        out.append("recv %r" % c.recv(10))  # the client closed: b''
        for i in range(4):
            time.sleep(0.1)
            try:
                out.append("send %d" % c.send(b"x" * 100))
            except OSError as e:
                out.append("send %s" % E.errorcode.get(e.errno, e.errno))
        try:
            c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            out.append("so_error ok")
        except OSError as e:
            out.append("so_error %s" % E.errorcode.get(e.errno, e.errno))
        print("\n".join(out))
    elif cmd == "fetch":
        s = socket.create_connection((sys.argv[2], int(sys.argv[3])))
        s.sendall(b"GET /t HTTP/1.1\r\nHost: t\r\ntraceparent: %s\r\n\r\n" % sys.argv[4].encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
        while len(body) < n:
            body += s.recv(65536)
        print(hashlib.sha256(head + b"\r\n\r\n" + body).hexdigest())
        s.close()
    elif cmd == "windows":
        ev = open(sys.argv[2]).read().splitlines()
        ok = True
        for w in open(sys.argv[3]).read().splitlines():
            tp, start, end = w.split()
            resp = [l for l in ev[int(start):int(end)] if " dir=resp " in l]
            if tp == "-":
                good = not resp
                want = "none"
            else:
                _, trace, parent, _ = tp.split("-")
                want = "trace=%s span=%s" % (trace, parent)
                good = bool(resp) and all(l.endswith(want) for l in resp)
            print("%s window %s..%s: %d response events, want %s" %
                  ("ok  " if good else "BAD ", start, end, len(resp), want))
            ok = ok and good
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
