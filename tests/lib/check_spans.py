#!/usr/bin/env python3
"""Assertions of the end-to-end tests on what the agent exported.

Inputs: the agent's spans (OTLP JSON lines written by tests/lib/otlp_receiver.py),
the origin server's request log (tests/lib/origin_server.py) and optionally the
application's own spans. The agent's spans split into network spans (whose
parent is not another agent span: the request's span) and node spans (children
of a network span, one per IOAM node).

Checks, each printed as "ok: ..." or "FAIL: ...":
  * every request that reached the origin with a valid, sampled traceparent has
    exactly one network span, in its trace, whose parent is the traceparent's parent-id
    (--allow-missing N tolerates N missing ones: drops the agent counted);
  * no other network span exists (a request without traceparent, or with an
    unsampled one, gets none);
  * each network span has node spans for the expected IOAM node ids (--nodes);
  * --expect TP...: each of these traceparents reached the origin;
  * --app FILE: each network span's parent is the application's own CLIENT span,
    in the same trace.
Exit status 0 when every check passed, 1 otherwise.
"""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from otlp_receiver import load_spans  # noqa: E402

TP_RE = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
SPAN_KIND_CLIENT = 3
NODE_ID_KEYS = ("ioam.node_id", "ioam.node.id", "ioam.node")


def parse_tp(value):
    """(trace-id, parent-id) of a valid traceparent, else None (W3C rules)."""
    if not value:
        return None
    m = TP_RE.match(value.strip().lower())
    if not m or m.group(1) == "ff":
        return None
    if m.group(2) == "0" * 32 or m.group(3) == "0" * 16:
        return None
    if m.group(1) == "00" and len(value.strip()) != 55:
        return None
    return (m.group(2), m.group(3))


def sampled_tp(value):
    """True when a traceparent's sampled flag (bit 0) is set: only those requests are tagged."""
    m = TP_RE.match((value or "").strip().lower())
    return bool(m) and (int(m.group(4), 16) & 1) == 1


def load_origin(path):
    recs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                recs.append(json.loads(line))
    return recs


def node_id_of(span):
    for k in NODE_ID_KEYS:
        if k in span["attrs"]:
            return int(span["attrs"][k])
    for k, v in span["attrs"].items():
        if k.startswith("ioam.") and k.endswith("node_id"):
            return int(v)
    return None


class Checker:
    def __init__(self):
        self.failed = 0

    def check(self, cond, what):
        print(("ok: " if cond else "FAIL: ") + what)
        if not cond:
            self.failed += 1
        return cond


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agent", required=True, help="agent spans, OTLP JSON lines")
    ap.add_argument("--origin", required=True, help="origin server request log")
    ap.add_argument("--app", help="application spans, OTLP JSON lines")
    ap.add_argument("--expect", nargs="*", default=[], help="traceparents the client sent")
    ap.add_argument("--chain", nargs="*", default=[],
                    help="with --app: traceparents the client sent to the application; each one's "
                    "trace must read client -> app SERVER -> app CLIENT -> network span")
    ap.add_argument("--nodes", default="2,3", help="IOAM node ids each network span must show")
    ap.add_argument("--allow-missing", type=int, default=0)
    ap.add_argument("--min-requests", type=int, default=1)
    ap.add_argument("--path-prefix", default="", help="only origin requests under this path")
    a = ap.parse_args()
    c = Checker()

    spans = load_spans(a.agent)
    ids = {s["spanId"] for s in spans}
    network = [s for s in spans if s["parentSpanId"] not in ids]
    children = {}
    for s in spans:
        if s["parentSpanId"] in ids:
            children.setdefault(s["parentSpanId"], []).append(s)

    origin = [r for r in load_origin(a.origin) if r["path"].startswith(a.path_prefix)]
    with_tp = [parse_tp(r.get("traceparent")) for r in origin]
    expected = {tp for tp, r in zip(with_tp, origin) if tp and sampled_tp(r.get("traceparent"))}
    n_plain = sum(1 for tp in with_tp if tp is None)
    print("origin: %d requests, %d with a valid traceparent (%d distinct sampled), %d without; "
          "agent: %d spans, %d network spans" % (len(origin), len(with_tp) - n_plain,
                                                 len(expected), n_plain, len(spans), len(network)))
    c.check(len(expected) >= a.min_requests,
            "at least %d traced request(s) reached the origin" % a.min_requests)

    for tp in a.expect:
        p = parse_tp(tp)
        c.check(p in expected, "traceparent %s reached the origin" % tp)

    by_parent = {}
    for s in network:
        by_parent.setdefault((s["traceId"], s["parentSpanId"]), []).append(s)
    missing = [tp for tp in expected if tp not in by_parent]
    dup = [k for k, v in by_parent.items() if len(v) > 1 and k in expected]
    extra = [k for k in by_parent if k not in expected]
    if a.allow_missing:
        c.check(len(missing) <= a.allow_missing,
                "%d of %d traced requests have a network span (missing %d, allowed %d)"
                % (len(expected) - len(missing), len(expected), len(missing), a.allow_missing))
    else:
        c.check(not missing, "every traced request (%d) has a network span under its own parent, "
                "in its own trace (missing %d%s)" % (len(expected), len(missing),
                                                     ": %s-%s" % missing[0] if missing else ""))
    # Packets sent after a request's answer with its IDs still on the socket
    # (the close, or the next request's first bytes) must not make a second
    # network span: the agent counts them as late.
    c.check(not dup, "no request has more than one network span (%d duplicated%s)"
            % (len(dup), ": parent %s-%s" % dup[0] if dup else ""))
    c.check(not extra, "no network span without a matching traced request (%d unexpected%s)"
            % (len(extra), ": parent %s-%s" % extra[0] if extra else ""))
    distinct = len(set(by_parent) & expected)
    print("distinct parents of network spans: %d, traced requests: %d" % (distinct, len(expected)))

    want_nodes = {int(x) for x in a.nodes.split(",") if x}
    bad = 0
    for s in network:
        got = {node_id_of(k) for k in children.get(s["spanId"], [])}
        if not want_nodes <= got:
            bad += 1
            if bad == 1:
                print("  network span %s has node spans for %s" % (s["spanId"], sorted(x for x in got if x is not None)))
    if network:
        c.check(bad == 0, "every network span has node spans for IOAM nodes %s (%d lack some)"
                % (sorted(want_nodes), bad))

    if a.app:
        app = {s["spanId"]: s for s in load_spans(a.app)}
        print("application: %d spans" % len(app))
        orphan = 0
        for s in network:
            p = app.get(s["parentSpanId"])
            if not p or p["traceId"] != s["traceId"] or p["kind"] != SPAN_KIND_CLIENT:
                orphan += 1
        c.check(network and orphan == 0,
                "every network span (%d) is the child of the application's own CLIENT span, "
                "same trace (%d are not)" % (len(network), orphan))

        for tp in a.chain:
            trace_id, parent = parse_tp(tp)
            nets = [s for s in network if s["traceId"] == trace_id]
            ok = len(nets) == 1
            for net in nets:
                cli = app.get(net["parentSpanId"])
                srv = app.get(cli["parentSpanId"]) if cli else None
                ok = ok and bool(srv) and srv["parentSpanId"] == parent and srv["traceId"] == trace_id
            c.check(ok, "trace %s: client span %s -> app SERVER -> app CLIENT -> network span"
                    % (trace_id, parent))

    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
