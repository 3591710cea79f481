#!/usr/bin/env python3
"""server.py - athos as a legacy service: the login API with no tracing code.

The standard library only (http.server, urllib): serves the login page and
POST /api/login, which asks the login server aramis (POST /login) across the
router porthos and returns its answer. Nothing in it knows about traces: run
under LD_PRELOAD=libcltshim.so with CLT_TRACING=inject, the shim makes the
SERVER span of each request, the CLIENT span of its call to aramis (with a
traceparent line for aramis) and tags that call's packets for IOAM.

  server.py [--port 15123] [--aramis db02::2]
"""
import argparse
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 4096
PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "athos", "app_login.html")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    aramis = "db02::2"

    def reply(self, code, ctype, body):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.split("?")[0] in ("/", "/app_login.html"):
            with open(PAGE, "rb") as f:
                return self.reply(200, "text/html; charset=utf-8", f.read())
        self.reply(404, "text/plain", b"not found\n")

    def do_POST(self):
        if self.path.split("?")[0] != "/api/login":
            return self.reply(404, "text/plain", b"not found\n")
        n = int(self.headers.get("Content-Length") or 0)
        try:
            creds = json.loads(self.rfile.read(n)) if 0 < n <= MAX_BODY else None
        except ValueError:
            creds = None
        if not isinstance(creds, dict):
            return self.reply(400, "application/json", b'{"msg":"BAD REQUEST"}')
        body = json.dumps({"username": str(creds.get("username", "")),
                           "password": str(creds.get("password", ""))}).encode()
        req = urllib.request.Request("http://[%s]:80/login" % self.aramis, data=body,
                                     method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                msg = json.loads(r.read(MAX_BODY)).get("msg", "FAILED")
        except urllib.error.HTTPError as e:
            try:
                msg = json.loads(e.read(MAX_BODY)).get("msg", "FAILED")
            except ValueError:
                msg = "FAILED"
        except (OSError, ValueError) as e:
            return self.reply(502, "application/json",
                              json.dumps({"msg": "ERROR", "error": str(e)}).encode())
        self.reply(200, "application/json", json.dumps({"msg": msg}).encode())

    def log_message(self, fmt, *args):
        sys.stderr.write("athos: %s\n" % (fmt % args))


class Server(ThreadingHTTPServer):
    address_family = __import__("socket").AF_INET6
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=15123)
    ap.add_argument("--aramis", default="db02::2")
    a = ap.parse_args()
    Handler.aramis = a.aramis
    # demo.sh stops it with SIGTERM: a normal exit lets the shim send its last spans.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    srv = Server(("::", a.port), Handler)
    print("athos: legacy login API on [::]:%d, aramis at [%s]:80" % (a.port, a.aramis), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
