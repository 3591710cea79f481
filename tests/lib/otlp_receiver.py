#!/usr/bin/env python3
"""A small OTLP/HTTP JSON trace receiver for tests, the demo and benchmarks.

It accepts POST /v1/traces with Content-Type application/json (gzip or not),
and appends each accepted request body, as one compact JSON line, to --out:
the OpenTelemetry file-exporter format ("OTLP JSON lines"). Faults can be
scripted: --status 503,503,200 answers the first requests with those codes
(the last one repeats), --retry-after adds that header to 429/503 answers,
--delay makes every answer slow, --discard keeps nothing (benchmarks).

  otlp_receiver.py --port 4318 --out spans.jsonl [--host ::1] [--ready FILE]

Library use: load_spans(path) flattens a file into a list of span dicts
with hex ids, integer times, an "attrs" dict and the resource's "service".
"""
import argparse
import gzip
import http.server
import signal
import json
import socket
import sys
import threading
import time


def _attr_value(v):
    for k in ("stringValue", "boolValue", "doubleValue"):
        if k in v:
            return v[k]
    if "intValue" in v:
        return int(v["intValue"])
    if "arrayValue" in v:
        return [_attr_value(x) for x in v["arrayValue"].get("values", [])]
    if "kvlistValue" in v:
        return {kv["key"]: _attr_value(kv["value"]) for kv in v["kvlistValue"].get("values", [])}
    return None


def attrs_to_dict(attrs):
    return {a["key"]: _attr_value(a.get("value", {})) for a in attrs or []}


def spans_from_request(doc):
    out = []
    for rs in doc.get("resourceSpans", []):
        res = attrs_to_dict(rs.get("resource", {}).get("attributes"))
        for ss in rs.get("scopeSpans", []):
            scope = ss.get("scope", {}).get("name", "")
            for s in ss.get("spans", []):
                out.append({
                    "traceId": s.get("traceId", ""),
                    "spanId": s.get("spanId", ""),
                    "parentSpanId": s.get("parentSpanId", ""),
                    "name": s.get("name", ""),
                    "kind": s.get("kind", 0),
                    "start": int(s.get("startTimeUnixNano", 0)),
                    "end": int(s.get("endTimeUnixNano", 0)),
                    "attrs": attrs_to_dict(s.get("attributes")),
                    "events": s.get("events", []),
                    "status": s.get("status", {}),
                    "service": res.get("service.name", ""),
                    "resource": res,
                    "scope": scope,
                })
    return out


def load_spans(path):
    spans = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    spans.extend(spans_from_request(json.loads(line)))
    except FileNotFoundError:
        pass
    return spans


class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real collectors do

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("otlp_receiver: " + (fmt % args) + "\n")

    def _answer(self, code, body=b"{}", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _read_chunked(self, limit=64 << 20):
        # Node's OTLP exporter (and others) stream the body: chunked encoding.
        parts, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > limit:
                raise ValueError("chunked body too large")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)  # CRLF after each chunk

    def do_POST(self):
        srv = self.server
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            try:
                body = self._read_chunked()
            except ValueError:
                self.close_connection = True
                return self._answer(400, b'{"error":"bad chunked body"}')
        else:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
        with srv.lock:
            srv.requests += 1
            n = srv.requests
        if srv.delay:
            time.sleep(srv.delay)
        if self.path != "/v1/traces":
            return self._answer(404, b'{"error":"not found"}')
        status = srv.status[min(n - 1, len(srv.status) - 1)]
        if status != 200:
            extra = {}
            if srv.retry_after is not None and status in (429, 503):
                extra["Retry-After"] = str(srv.retry_after)
            with srv.lock:
                srv.refused += 1
            return self._answer(status, b'{"error":"scripted failure"}', extra)
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("application/json"):
            return self._answer(415, b'{"error":"only application/json"}')
        if self.headers.get("Content-Encoding", "") == "gzip":
            body = gzip.decompress(body)
        try:
            doc = json.loads(body)
        except ValueError:
            return self._answer(400, b'{"error":"bad json"}')
        with srv.lock:
            srv.accepted += 1
            srv.spans += sum(len(ss.get("spans", [])) for rs in doc.get("resourceSpans", [])
                             for ss in rs.get("scopeSpans", []))
            if srv.out:
                srv.out.write(json.dumps(doc, separators=(",", ":")) + "\n")
                srv.out.flush()
        self._answer(200, b"{}")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, family):
        self.address_family = family
        super().__init__(addr, Receiver)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="::1")
    ap.add_argument("--port", type=int, default=4318)
    ap.add_argument("--out", help="append accepted requests here (OTLP JSON lines)")
    ap.add_argument("--discard", action="store_true", help="keep nothing, only count")
    ap.add_argument("--status", default="200", help="comma-separated answer codes; the last repeats")
    ap.add_argument("--retry-after", type=int)
    ap.add_argument("--delay", type=float, default=0.0, help="seconds to wait before answering")
    ap.add_argument("--ready", help="file to create once listening")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()

    family = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    srv = Server((a.host, a.port), family)
    srv.lock = threading.Lock()
    srv.requests = srv.accepted = srv.refused = srv.spans = 0
    srv.status = [int(x) for x in a.status.split(",")]
    srv.retry_after = a.retry_after
    srv.delay = a.delay
    srv.verbose = a.verbose
    srv.out = None if a.discard or not a.out else open(a.out, "a")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    if a.ready:
        open(a.ready, "w").close()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sys.stderr.write("otlp_receiver: %d requests, %d accepted, %d refused, %d spans\n"
                         % (srv.requests, srv.accepted, srv.refused, srv.spans))


if __name__ == "__main__":
    main()
