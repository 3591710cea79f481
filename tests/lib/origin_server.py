#!/usr/bin/env python3
"""The origin server of the end-to-end tests: a plain HTTP/1.1 server with
keep-alive that records, for every request it answers, one JSON line:

  {"n": 7, "peer": "fd00:1::1", "port": 40312, "method": "GET", "path": "/a",
   "traceparent": "00-...-01" or null}

The tests compare what reached the origin (which traceparents, over which
client connections) with the spans the agent exported.

  origin_server.py --port 8080 --log origin.jsonl [--host ::] [--ready FILE]
                   [--cert PEM --key PEM]   (HTTPS, ALPN http/1.1)

Paths: /bytes/N answers N deterministic octets (for checksums), POST /login
answers the CLT demo's login reply, anything else answers "ok N".
"""
import argparse
import http.server
import json
import signal
import socket
import sys
import threading


def pattern(n):
    """N deterministic octets: the test computes the same checksum."""
    block = bytes(range(256))
    return (block * (n // 256 + 1))[:n]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are two writes: without this, Nagle and delayed
    # ACKs cost 40 ms per kept-alive request.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def _record(self):
        srv = self.server
        with srv.lock:
            srv.count += 1
            n = srv.count
            rec = {"n": n, "peer": self.client_address[0], "port": self.client_address[1],
                   "method": self.command, "path": self.path,
                   "traceparent": self.headers.get("traceparent")}
            srv.log.write(json.dumps(rec) + "\n")
            srv.log.flush()
        return n

    def _answer(self, body, ctype="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        n = self._record()
        if self.path.startswith("/bytes/"):
            try:
                size = min(int(self.path[7:]), 64 << 20)
            except ValueError:
                size = 0
            return self._answer(pattern(size), "application/octet-stream")
        if self.path.startswith("/login"):
            ok = False
            try:
                doc = json.loads(body or b"{}")
                ok = doc.get("username") == "clt" and doc.get("password") == "clt"
            except ValueError:
                pass
            msg = b'{"msg":"OK"}' if ok else b'{"msg":"FAILED"}'
            return self._answer(msg, "application/json")
        self._answer(("ok %d\n" % n).encode())

    do_GET = do_POST = do_HEAD = do_PUT = _handle


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    address_family = socket.AF_INET6
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # clients such as wrk drop connections mid-request by design

    def server_bind(self):
        # Dual stack: the IPv4 case of the tests reaches the same server.
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="::")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    a = ap.parse_args()
    srv = Server((a.host, a.port), Handler)
    if a.cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        ctx.set_alpn_protocols(["http/1.1"])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.lock = threading.Lock()
    srv.count = 0
    srv.log = open(a.log, "a")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    if a.ready:
        open(a.ready, "w").close()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.stderr.write("origin_server: %d requests\n" % srv.count)


if __name__ == "__main__":
    main()
