#!/usr/bin/env bash
# demo_legacy.sh - the demo with athos as a legacy Python service with no
# tracing code (make demo-legacy): the shim under CLT_TRACING=inject makes
# every login's SERVER span (a trace of its own: the client sends no
# traceparent) and the CLIENT span of the call to aramis, which the agent
# beside athos exports; the network span sits under the CLIENT span with
# hops porthos and aramis, and the congested logins show the 1 s
# porthos -> aramis hop.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/topo.sh
topo_require_root
. tests/lib/harness.sh
demo_entry_run legacy "cy$$-" demo-legacy

python3 - "$OUT/spans.jsonl" "$OUT/phases.txt" "$log" <<'EOF'
import re, sys
sys.path.insert(0, "demo")
import waterfall
traces = waterfall.build_traces(waterfall.load_spans(sys.argv[1]),
                                waterfall.load_phases(sys.argv[2]))
answers = re.findall(r"login user=(\S+) +-> (\S+) ", open(sys.argv[3]).read())
bad = 0
def check(ok, what):
    global bad
    print(("ok: " if ok else "FAIL: ") + what)
    bad += not ok
check(sorted(a for _, a in answers) == ["FAILED", "FAILED", "FAILED", "OK", "OK", "OK", "OK"],
      "4 OK and 3 FAILED answers came back through the legacy service")
def athos(t, kind):
    return [r["span"] for r in t["rows"]
            if r["span"] and r["span"]["service"] == "athos" and r["span"]["kind"] == kind]
logins = [t for t in traces if athos(t, 2)]
check(len(logins) == 7, "7 traces with a SERVER span of athos (got %d)" % len(logins))
cong = [t for t in logins if t["phase"].startswith("congested")]
check(len(cong) == 3, "3 of them in the congested phase")
for t in logins:
    tag = "trace %s (%s)" % (t["trace_id"][:8], t["phase"].split(":")[0])
    srv, cli = athos(t, 2), athos(t, 3)
    check(len(srv) == 1 and srv[0]["parentSpanId"] == "",
          tag + ": one SERVER span of athos, the trace's root (no traceparent came in)")
    check(len(srv) == 1 and srv[0]["attrs"].get("url.path") == "/api/login",
          tag + ": the SERVER span is for /api/login")
    check(len(cli) == 1 and srv and cli[0]["parentSpanId"] == srv[0]["spanId"],
          tag + ": one CLIENT span, child of the SERVER span")
    if cli:
        check(cli[0]["attrs"].get("url.full") == "http://[db02::2]:80/login"
              or cli[0]["attrs"].get("server.address") == "db02::2",
              tag + ": the CLIENT span is the call to aramis")
    # The request's network span; the response's (aramis tags its answers) is checked below.
    nets = [r["span"] for r in t["rows"] if r["kind"] == "network"
            and r["span"]["attrs"].get("ioam.direction") != "response"]
    rsp = [r["span"] for r in t["rows"] if r["kind"] == "network"
           and r["span"]["attrs"].get("ioam.direction") == "response"]
    check(len(rsp) == 1 and nets and rsp[0]["parentSpanId"] == nets[0]["parentSpanId"]
          and rsp[0]["name"] == "network (response): porthos → athos",
          tag + ": the response's network span beside the request's %s" % [s["name"] for s in rsp])
    check(len(nets) == 1 and cli and nets[0]["parentSpanId"] == cli[0]["spanId"],
          tag + ": the network span is a child of the CLIENT span")
    names = [r["span"]["attrs"].get("ioam.node.name") for r in t["hops"]
             if r["span"]["attrs"].get("ioam.direction") != "response"]
    check(names == ["porthos", "aramis"], tag + ": hops %s" % names)
    ar = [r for r in t["hops"] if r["span"]["attrs"].get("ioam.node.name") == "aramis"]
    if ar and ar[0]["delay"] is not None:
        ms = ar[0]["delay"][1] / 1e6
        if t in cong:
            check(ms >= 900, tag + ": porthos -> aramis %.1f ms >= 900 ms" % ms)
        else:
            check(ms < 100, tag + ": porthos -> aramis %.3f ms < 100 ms" % ms)
    else:
        check(False, tag + ": aramis hop has a measured delay")
print("demo_legacy: %s" % ("all checks passed" if not bad else "%d check(s) failed" % bad))
sys.exit(1 if bad else 0)
EOF
