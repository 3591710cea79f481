#!/usr/bin/env python3
"""tls_server.py - an HTTPS/1.1 server on [::1] for the shim's TLS tests.

    tls_server.py PORT CERT KEY [--rcvbuf N] [--headers FILE]

Keep-alive (HTTP/1.1, ALPN http/1.1 only). Every answer is a fixed function
of the request: "<method> <path> <traceparent or -> <body bytes> <body
sha256>" so that a client's output is the same with and without the shim.
A path starting with /slow waits a second before reading the body (a client
sending a large body meets a full socket). --headers FILE: each request adds
a line "<path> <first header's name> <traceparent lines> <body bytes>" to
FILE (where an injected line went, and how many there were). The plaintext is never logged.
"""
import hashlib
import http.server
import socket
import ssl
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self):
        if self.path.startswith("/slow"):
            time.sleep(1)
        n = int(self.headers.get("Content-Length") or 0)
        body = b""
        while len(body) < n:
            chunk = self.rfile.read(min(65536, n - len(body)))
            if not chunk:
                return
            body += chunk
        tp = self.headers.get("traceparent") or "-"
        if self.server.headers_file:
            names = [k.lower() for k in self.headers.keys()]
            with open(self.server.headers_file, "a") as f:
                f.write("%s %s %d %d\n" % (self.path, names[0] if names else "-",
                                           names.count("traceparent"), len(body)))
        out = ("%s %s %s %d %s\n" % (self.command, self.path, tp, len(body),
                                      hashlib.sha256(body).hexdigest())).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = answer
    do_POST = answer


class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    rcvbuf = 0
    headers_file = None

    def server_bind(self):
        if self.rcvbuf:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        super().server_bind()


def main():
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    if "--rcvbuf" in sys.argv:
        Server.rcvbuf = int(sys.argv[sys.argv.index("--rcvbuf") + 1])
    if "--headers" in sys.argv:
        Server.headers_file = sys.argv[sys.argv.index("--headers") + 1]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    srv = Server(("::1", port), Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
