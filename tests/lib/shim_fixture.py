#!/usr/bin/env python3
"""shim_fixture.py - servers and clients for the libcltshim.so integration
tests (tests/integration/shim_*.sh). Standard library only.

  server PORT                HTTP/1.1 keep-alive server on [::1]:PORT (GET -> "ok",
                             POST/PUT -> sha256 of the body, Content-Length or chunked)
                             and a raw TCP server on PORT+1 (reads to EOF, answers sha256)
  sequence PORT EVENTS REQ... keep-alive client: one request per REQ on ONE connection;
                             after each, waits and records the number of lines in
                             EVENTS; prints the windows as JSON. REQ is "-" (no trace
                             header), a traceparent (its IDs expected if its sampled
                             flag is set, else none), or EXPECT|Name: value|... with
                             EXPECT "TRACE/SPAN" (these IDs), "-" (no IDs) or
                             "!TRACE/SPAN" (no IDs, and these in no event at all)
  check-windows EVENTS WINDOWS_JSON   every request's window of events carries exactly
                             its expected IDs (at least one event), or none at all
  upload PORT MB             Content-Length and chunked uploads; checksums must match
  raw PORT                   non-HTTP bytes (some look like HTTP) through a raw socket
  threads PORT N M           N threads x M requests, each on its own connection with its
                             own traceparent; prints the trace ids used, one per line
  forkexec PORT CURL         requests before/after fork, in the child, and from an exec'd curl
                             (CURL "python": exec this script's "get PORT TRACE SPAN" instead)
"""
import hashlib
import http.client
import json
import os
import random
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def tp(trace, span):
    return "00-%s-%s-01" % (trace, span)


def new_ids(rng):
    return "%032x" % rng.getrandbits(128), "%016x" % (rng.getrandbits(64) | 1)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            h = hashlib.sha256()
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return h.hexdigest()
                left = size
                while left:
                    chunk = self.rfile.read(min(left, 1 << 16))
                    h.update(chunk)
                    left -= len(chunk)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0"))
        h = hashlib.sha256()
        while n:
            chunk = self.rfile.read(min(n, 1 << 16))
            if not chunk:
                break
            h.update(chunk)
            n -= len(chunk)
        return h.hexdigest()

    def _reply(self, text):
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._reply("ok\n")

    def do_POST(self):
        self._reply(self._body())

    do_PUT = do_POST


class Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the default 5 makes the kernel reset bursts of connects


class RawHandler(socketserver.BaseRequestHandler):
    def handle(self):
        h = hashlib.sha256()
        while True:
            d = self.request.recv(1 << 16)
            if not d:
                break
            h.update(d)
        self.request.sendall(h.hexdigest().encode())


class Raw6(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def server(port):
    raw = Raw6(("::1", port + 1), RawHandler)
    threading.Thread(target=raw.serve_forever, daemon=True).start()
    Server6(("::1", port), Handler).serve_forever()


def count_lines(path):
    with open(path, "rb") as f:
        return f.read().count(b"\n")


def settle(events):
    """Wait until the event file stops growing (the request's packets are all in)."""
    last = count_lines(events)
    stable = 0
    for _ in range(100):  # at most 10 s; settled after 0.5 s without growth
        time.sleep(0.1)
        n = count_lines(events)
        stable = stable + 1 if n == last else 0
        if stable >= 5:
            return n
        last = n
    return last


def parse_req(t):
    """REQ argument of sequence -> (headers, expected IDs or None, IDs that must appear nowhere)."""
    if t == "-":
        return {}, None, None
    if "|" not in t:
        _, trace, span, flags = t.split("-")[:4]
        return {"traceparent": t}, (trace, span) if int(flags, 16) & 1 else None, None
    expect, *hdrs = t.split("|")
    headers = dict(h.split(": ", 1) for h in hdrs)
    if expect == "-":
        return headers, None, None
    if expect.startswith("!"):
        return headers, None, tuple(expect[1:].split("/"))
    return headers, tuple(expect.split("/")), None


def sequence(port, events, tps):
    conn = http.client.HTTPConnection("::1", port, timeout=10)
    conn.connect()
    windows = []
    start = settle(events)
    for i, t in enumerate(tps):
        headers, expect, nowhere = parse_req(t)
        body = None
        if i % 2:  # alternate GET and a POST with a body
            body = b"GET /not-a-request HTTP/1.1\r\ntraceparent: x\r\n\r\n" * 3
        conn.request("POST" if body else "GET", "/r%d" % i, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            sys.exit("request %d: status %d" % (i, resp.status))
        end = settle(events)
        windows.append({"tp": t, "expect": expect, "nowhere": nowhere, "from": start, "to": end})
        start = end
    conn.close()
    print(json.dumps(windows))


def check_windows(events, windows):
    lines = open(events).read().splitlines()
    bad = 0
    for i, w in enumerate(json.loads(windows)):
        evs = lines[w["from"]:w["to"]]
        if not w["expect"]:
            tagged = [e for e in evs if "trace=-" not in e]
            ok = not tagged
            what = "no IDs: %d events, %d with IDs" % (len(evs), len(tagged))
            if w["nowhere"]:
                ids = "trace=%s span=%s" % tuple(w["nowhere"])
                anywhere = sum(1 for e in lines if e.endswith(ids))
                ok = ok and anywhere == 0
                what += "; %s in %d events of the whole run" % (ids, anywhere)
        else:
            trace, span = w["expect"]
            mine = [e for e in evs if e.endswith("trace=%s span=%s" % (trace, span))]
            ok = len(evs) > 0 and len(mine) == len(evs)
            what = "trace=%s span=%s: %d events, %d with these IDs" % (trace, span, len(evs), len(mine))
        print("%s - request %d %s" % ("ok  " if ok else "FAIL", i + 1, what))
        bad += not ok
    sys.exit(1 if bad else 0)


def upload(port, mb):
    rng = random.Random(7)
    data = rng.randbytes(mb << 20)
    # Request-like text inside the body must not confuse the tracker.
    data = data[:1000] + b"\r\n\r\nGET / HTTP/1.1\r\ntraceparent: 00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01\r\n\r\n" + data[1000:]
    want = hashlib.sha256(data).hexdigest()
    t, s = new_ids(rng)
    conn = http.client.HTTPConnection("::1", port, timeout=60)
    conn.request("POST", "/cl", body=data, headers={"traceparent": tp(t, s)})
    got_cl = conn.getresponse().read().decode()

    def gen():
        for i in range(0, len(data), 100003):
            yield data[i:i + 100003]
    conn.request("PUT", "/chunked", body=gen(), headers={"traceparent": tp(t, s)}, encode_chunked=True)
    got_ch = conn.getresponse().read().decode()
    conn.close()
    print("Content-Length upload of %d bytes: %s" % (len(data), "same sha256" if got_cl == want else "DIFFERENT"))
    print("chunked upload of %d bytes: %s" % (len(data), "same sha256" if got_ch == want else "DIFFERENT"))
    sys.exit(0 if got_cl == want and got_ch == want else 1)


def raw(port):
    rng = random.Random(11)
    data = b"\x16\x03\x01" + rng.randbytes(3 << 20) + b"GET / HTTP/1.1\r\ntraceparent: 00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01\r\n\r\n"
    s = socket.create_connection(("::1", port + 1))
    view = memoryview(data)
    sent = 0
    while sent < len(data):  # uneven writes
        n = s.send(view[sent:sent + rng.randint(1, 70000)])
        sent += n
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        got += d
    s.close()
    ok = got.decode() == hashlib.sha256(data).hexdigest()
    print("raw stream of %d bytes: %s" % (len(data), "same sha256" if ok else "DIFFERENT"))
    sys.exit(0 if ok else 1)


def threads(port, n, m):
    rng = random.Random(13)
    ids = [[new_ids(rng) for _ in range(m)] for _ in range(n)]
    errors = []

    def worker(k):
        try:
            for t, s in ids[k]:
                conn = http.client.HTTPConnection("::1", port, timeout=20)
                body = rng.randbytes(5000) if k % 2 else None
                conn.request("POST" if body else "GET", "/t", body=body, headers={"traceparent": tp(t, s)})
                r = conn.getresponse()
                got = r.read().decode()
                want = hashlib.sha256(body).hexdigest() if body else "ok\n"
                if r.status != 200 or got != want:
                    errors.append("thread %d: bad reply" % k)
                conn.close()
        except Exception as e:  # noqa: BLE001 - report any failure
            errors.append("thread %d: %r" % (k, e))
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for row in ids:
        for t, s in row:
            print("%s %s" % (t, s))
    if errors:
        sys.exit("; ".join(errors[:5]))


def one_request(port, trace, span, conn=None):
    c = conn or http.client.HTTPConnection("::1", port, timeout=10)
    c.request("GET", "/f", headers={"traceparent": tp(trace, span)})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("status %d" % r.status)
    return c


def forkexec(port, curl):
    rng = random.Random(int(time.time() * 1000) % 1000003)
    ids = [new_ids(rng) for _ in range(4)]
    conn = one_request(port, *ids[0])
    pid = os.fork()
    if pid == 0:
        try:
            one_request(port, *ids[1]).close()
            if curl == "python":
                os.execv(sys.executable, [sys.executable, __file__, "get", str(port), *ids[2]])
            os.execvp(curl, [curl, "-m", "20", "-sf", "-o", "/dev/null", "-H", "traceparent: " + tp(*ids[2]), "http://[::1]:%d/x" % port])
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    one_request(port, *ids[3], conn=conn).close()
    for t, s in ids:
        print("%s %s" % (t, s))
    if status != 0:
        sys.exit("child exit status %d" % status)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "server":
        server(int(args[0]))
    elif cmd == "sequence":
        sequence(int(args[0]), args[1], args[2:])
    elif cmd == "check-windows":
        check_windows(args[0], args[1])
    elif cmd == "upload":
        upload(int(args[0]), int(args[1]))
    elif cmd == "raw":
        raw(int(args[0]))
    elif cmd == "threads":
        threads(int(args[0]), int(args[1]), int(args[2]))
    elif cmd == "get":
        one_request(int(args[0]), args[1], args[2]).close()
    elif cmd == "forkexec":
        forkexec(int(args[0]), args[1])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
