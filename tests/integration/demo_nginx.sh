#!/usr/bin/env bash
# demo_nginx.sh - the demo with athos as a plain nginx reverse proxy (no
# OpenTelemetry in it, make demo-nginx): checks that the client's traceparent
# crossing the unmodified proxy is enough — every login's network span is a
# child of the client's own span, with hops porthos and aramis, and the
# congested logins show the 1 s porthos -> aramis hop.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/topo.sh
topo_require_root
. tests/lib/harness.sh
demo_entry_run nginx "cn$$-" demo-nginx

python3 - "$OUT/spans.jsonl" "$OUT/phases.txt" <<'EOF'
import sys
sys.path.insert(0, "demo")
import waterfall
traces = waterfall.build_traces(waterfall.load_spans(sys.argv[1]),
                                waterfall.load_phases(sys.argv[2]))
logins = [t for t in traces if t["user"] is not None]
bad = 0
def check(ok, what):
    global bad
    print(("ok: " if ok else "FAIL: ") + what)
    bad += not ok
check(len(logins) == 7, "7 login traces (got %d)" % len(logins))
check(sorted(t["result"] for t in logins) == ["FAILED", "FAILED", "FAILED", "OK", "OK", "OK", "OK"],
      "4 OK and 3 FAILED answers came back through nginx")
for t in logins:
    tag = "login %s (%s, %s)" % (t["trace_id"][:8], t["user"], t["phase"].split(":")[0])
    svc = {r["service"] for r in t["rows"] if r["span"] is not None}
    check(svc == {"client", "cltagent"}, tag + ": spans only from the client and cltagent %s"
          % sorted(svc))
    client = [r["span"] for r in t["rows"] if r["span"] and r["span"]["service"] == "client"]
    # The request's network span; the response's (aramis tags its answers) is checked below.
    nets = [r["span"] for r in t["rows"] if r["kind"] == "network"
            and r["span"]["attrs"].get("ioam.direction") != "response"]
    rsp = [r["span"] for r in t["rows"] if r["kind"] == "network"
           and r["span"]["attrs"].get("ioam.direction") == "response"]
    check(len(rsp) == 1 and nets and rsp[0]["parentSpanId"] == nets[0]["parentSpanId"]
          and rsp[0]["name"] == "network (response): porthos → athos",
          tag + ": the response's network span beside the request's %s" % [s["name"] for s in rsp])
    check(len(nets) == 1 and client and nets[0]["parentSpanId"] == client[0]["spanId"],
          tag + ": the network span is a child of the client's span (through nginx)")
    ar = [r for r in t["hops"] if r["span"]["attrs"].get("ioam.node.name") == "aramis"]
    names = [r["span"]["attrs"].get("ioam.node.name") for r in t["hops"]
             if r["span"]["attrs"].get("ioam.direction") != "response"]
    check(names == ["porthos", "aramis"], tag + ": hops %s" % names)
    if ar and ar[0]["delay"] is not None:
        ms = ar[0]["delay"][1] / 1e6
        if t["phase"].startswith("congested"):
            check(ms >= 900, tag + ": porthos -> aramis %.1f ms >= 900 ms" % ms)
        else:
            check(ms < 100, tag + ": porthos -> aramis %.3f ms < 100 ms" % ms)
    else:
        check(False, tag + ": aramis hop has a measured delay")
print("demo_nginx: %s" % ("all checks passed" if not bad else "%d check(s) failed" % bad))
sys.exit(1 if bad else 0)
EOF
