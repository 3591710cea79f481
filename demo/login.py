#!/usr/bin/env python3
"""login.py - the demo's client: one login, traced.

Starts a trace, POSTs {"username","password"} to athos with a W3C traceparent
header (what any traced client or browser instrumentation sends), prints the
answer, and exports its own client span as OTLP/HTTP JSON so the waterfall
has the whole request from the user's side. Exporting is best effort: with no
collector the login still happens.

  login.py URL USER PASSWORD [--otlp http://[::1]:4318/v1/traces] [--no-traceparent]

--no-traceparent: an untraced client (plain curl): no header, no span; the
trace then starts at athos.
"""
import argparse
import http.client
import json
import os
import sys
import time
import urllib.parse
import urllib.request


def export_span(url, span):
    doc = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "client"}}]},
        "scopeSpans": [{"scope": {"name": "clt-demo-login"}, "spans": [span]}]}]}
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=3).close()
    except OSError as e:
        print("login: could not export the client span: %s" % e, file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url")
    ap.add_argument("user")
    ap.add_argument("password")
    ap.add_argument("--otlp", default="http://[::1]:4318/v1/traces")
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--no-traceparent", action="store_true")
    a = ap.parse_args()

    trace_id = os.urandom(16).hex()
    span_id = os.urandom(8).hex()
    u = urllib.parse.urlsplit(a.url)
    body = json.dumps({"username": a.user, "password": a.password}).encode()
    start = time.time_ns()
    status, msg = 0, "ERROR"
    try:
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=a.timeout)
        headers = {"Content-Type": "application/json"}
        if not a.no_traceparent:
            headers["traceparent"] = "00-%s-%s-01" % (trace_id, span_id)
        conn.request("POST", u.path or "/", body=body, headers=headers)
        r = conn.getresponse()
        status = r.status
        data = r.read(65536)
        conn.close()
        msg = json.loads(data).get("msg", "?")
    except (OSError, ValueError) as e:
        msg = "ERROR (%s)" % e
    end = time.time_ns()
    print("login user=%-6s -> %-7s HTTP %s  %7.1f ms  %s"
          % (a.user, msg, status, (end - start) / 1e6,
             "no traceparent" if a.no_traceparent else "trace-id " + trace_id), flush=True)
    if a.no_traceparent:
        return 0 if status == 200 else 1

    attrs = [("http.request.method", "POST"), ("url.full", a.url), ("login.username", a.user),
             ("login.result", msg)]
    span = {"traceId": trace_id, "spanId": span_id, "name": "POST /api/login", "kind": 3,
            "startTimeUnixNano": str(start), "endTimeUnixNano": str(end),
            "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs]
            + [{"key": "http.response.status_code", "value": {"intValue": str(status)}}],
            "status": {"code": 1 if status == 200 else 2}}
    export_span(a.otlp, span)
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
