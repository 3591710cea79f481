#!/usr/bin/env python3
"""aramis - the demo's login server: POST /login {"username","password"}.

Only clt/clt succeeds ({"msg":"OK"}); anything else is {"msg":"FAILED"}.
It knows nothing of tracing: cltagent, running beside it, reports what the
network did to each request.

  server.py [--port 80]
"""
import argparse
import http.server
import json
import socket
import sys

MAX_BODY = 4096


class Login(http.server.BaseHTTPRequestHandler):
    server_version = "aramis/1"

    def log_message(self, fmt, *args):
        sys.stderr.write("aramis: %s %s\n" % (self.address_string(), fmt % args))

    def _answer(self, code, doc):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if self.path != "/login":
            return self._answer(404, {"msg": "NOT FOUND"})
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            return self._answer(400, {"msg": "BAD REQUEST"})
        try:
            creds = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self._answer(400, {"msg": "BAD REQUEST"})
        ok = (isinstance(creds, dict) and creds.get("username") == "clt"
              and creds.get("password") == "clt")
        self._answer(200, {"msg": "OK" if ok else "FAILED"})


class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=80)
    a = ap.parse_args()
    srv = Server(("::", a.port), Login)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
