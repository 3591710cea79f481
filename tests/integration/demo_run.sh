#!/usr/bin/env bash
# demo_run.sh - run the non-interactive login demo (what "make demo" runs)
# and check what it shows: both logins of the quiet phase (OK and FAILED),
# a network span with hops named porthos and aramis under every login, the
# aramis hop >= 900 ms for the congested logins and < 100 ms for the others;
# the return path: a response network span (porthos -> athos, from the agent
# on athos) under every login, whose athos hop takes >= 900 ms only in the
# return-congested phase, while that phase's request path stays quiet;
# then render the HTML page in headless Chromium and check it shows the
# traces (screenshot kept as tests/artifacts/demo.png).
set -u
cd "$(dirname "$0")/../.." || exit 1
TOP=$PWD
. tests/lib/topo.sh
topo_require_root
BUILD=${BUILD:-build}
ART=$TOP/tests/artifacts
OUT=$ART/demo-out
mkdir -p "$ART"
. tests/lib/harness.sh

# Its own namespace names and output dir: a person's "make demo-up" may be
# running. No forwarding: a receiver on localhost:4318 may be another test's.
log=$ART/demo-run.log
DEMO_PREFIX="cd$$-" DEMO_OUT=$OUT DEMO_NO_UPSTREAM=1 BUILD=$BUILD demo/demo.sh run >"$log" 2>&1
rc=$?
sed 's/\x1b\[[0-9;]*m//g' "$log" >"$log.txt"
cat "$log.txt"
if [ $rc -ne 0 ]; then
	echo "FAIL: demo/demo.sh run exited $rc"
	exit 1
fi

check "the clt/clt login succeeded" grep -Eq 'login user=clt +-> OK ' "$log.txt"
check "the alice login failed" grep -Eq 'login user=alice +-> FAILED ' "$log.txt"
check "the waterfall flags exactly 5 congested hops (3 requests, 2 responses)" \
	test "$(grep -c '◀ congestion' "$log.txt")" -eq 5

# The spans themselves, through the demo's own trace model.
python3 - "$OUT/spans.jsonl" "$OUT/phases.txt" <<'EOF' || fails=$((fails + 1))
import os, sys
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
check(len(logins) == 7, "7 login traces collected (got %d)" % len(logins))
quiet = [t for t in logins if t["phase"] == "uncongested"]
cong = [t for t in logins if t["phase"].startswith("congested")]
ret = [t for t in logins if t["phase"].startswith("return congested")]
check(len(quiet) == 2 and len(cong) == 3 and len(ret) == 2,
      "2 quiet, 3 congested and 2 return-congested logins")
check(sorted(t["result"] for t in quiet) == ["FAILED", "OK"], "quiet logins: one OK, one FAILED")
for t in logins:
    tag = "login %s (%s, %s)" % (t["trace_id"][:8], t["user"], t["phase"].split(":")[0])
    svc = {r["service"] for r in t["rows"] if r["span"] is not None}
    check("athos" in svc, tag + ": has athos's OpenTelemetry spans")
    nets = [r for r in t["rows"] if r["kind"] == "network"
            and r["span"]["attrs"].get("ioam.direction") != "response"]
    check(len(nets) >= 1, tag + ": has a network span")
    if nets:
        parent = nets[0]["span"]["parentSpanId"]
        pspan = [r["span"] for r in t["rows"] if r["span"] and r["span"]["spanId"] == parent]
        check(bool(pspan) and pspan[0]["service"] == "athos" and pspan[0]["kind"] == 3,
              tag + ": network span is a child of athos's client span")
        # The bpf backend (the default; DEMO_BACKEND=bpf) tags the request's own
        # packets only, from athos's egress time on: the network span lies
        # inside its parent (1 ms allowed for the IOAM timestamps' µs
        # resolution and the nodes' clocks). The sticky option's span also
        # carries the response's ACKs and the close: it may outlive it.
        if pspan and os.environ.get("DEMO_BACKEND", "bpf") == "bpf":
            n, p = nets[0]["span"], pspan[0]
            check(n["start"] >= p["start"] - 1000000 and n["end"] <= p["end"] + 1000000,
                  tag + ": network span [%+.1f, %+.1f] ms lies inside its client span "
                  "(%.1f ms)" % ((n["start"] - p["start"]) / 1e6, (n["end"] - p["start"]) / 1e6,
                                  (p["end"] - p["start"]) / 1e6))
    names = [r["span"]["attrs"].get("ioam.node.name") for r in t["hops"]]
    check("porthos" in names and "aramis" in names, tag + ": hops %s" % names)
    # The hop's one-way delay from porthos, as cltagent measured it (ioam.delay.avg_ns).
    ar = [r for r in t["hops"] if r["span"]["attrs"].get("ioam.node.name") == "aramis"]
    check(bool(ar) and ar[0]["delay"] is not None, tag + ": aramis hop has a measured delay")
    if ar and ar[0]["delay"] is not None:
        ms = ar[0]["delay"][1] / 1e6
        if t in cong:
            check(ms >= 900, tag + ": porthos -> aramis hop %.1f ms >= 900 ms" % ms)
        else:
            check(ms < 100, tag + ": porthos -> aramis hop %.3f ms < 100 ms" % ms)
    # The way back: aramis's response, seen by the agent on athos, under the
    # same parent as the request's network span (aramis has no tracer: the
    # IDs are the request's own).
    rsp = [r for r in t["rows"] if r["kind"] == "network"
           and r["span"]["attrs"].get("ioam.direction") == "response"]
    check(len(rsp) == 1 and rsp[0]["span"]["name"] == "network (response): porthos → athos",
          tag + ": one response network span %s" % [r["span"]["name"] for r in rsp])
    if rsp and nets:
        check(rsp[0]["span"]["parentSpanId"] == nets[0]["span"]["parentSpanId"],
              tag + ": the response's network span sits beside the request's")
    back = [r for r in t["rows"] if r["kind"] == "hop"
            and r["span"]["attrs"].get("ioam.direction") == "response"
            and r["span"]["attrs"].get("ioam.node.name") == "athos"]
    check(bool(back) and back[0]["delay"] is not None, tag + ": response hop into athos measured")
    if back and back[0]["delay"] is not None:
        ms = back[0]["delay"][1] / 1e6
        if t in ret:
            check(ms >= 900, tag + ": response hop porthos -> athos %.1f ms >= 900 ms" % ms)
        else:
            check(ms < 100, tag + ": response hop porthos -> athos %.3f ms < 100 ms" % ms)
sys.exit(1 if bad else 0)
EOF

html=$OUT/traces.html
check "the HTML page was written" test -s "$html"
if ! command -v chromium >/dev/null 2>&1; then
	echo "FAIL: chromium is missing (scripts/deps.sh test installs it)"
	exit 1
fi
profile=$(mktemp -d)
# The window size is one argument: 1280,1600.
# shellcheck disable=SC2054
flags=(--headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking
	--disable-component-update --disable-sync --user-data-dir="$profile" --window-size=1280,1600)
rm -f "$ART/demo.png"
timeout 60 chromium "${flags[@]}" --screenshot="$ART/demo.png" "file://$html" >/dev/null 2>&1
timeout 60 chromium "${flags[@]}" --dump-dom "file://$html" >"$ART/demo-dom.html" 2>/dev/null
rm -rf "$profile"
size=$(stat -c %s "$ART/demo.png" 2>/dev/null || echo 0)
check "Chromium wrote a screenshot ($size bytes)" test "$size" -gt 20000
check "the screenshot is a PNG" sh -c "head -c 8 '$ART/demo.png' | od -An -c | grep -q 'P   N   G'"
for word in porthos aramis athos congestion FAILED; do
	check "the rendered page shows '$word'" grep -q "$word" "$ART/demo-dom.html"
done
check "the rendered page has 7 traces" test "$(grep -o "class='trace[ a-z]*' id=" "$ART/demo-dom.html" | wc -l)" -eq 7 -o \
	"$(grep -o 'class="trace[ a-z]*" id=' "$ART/demo-dom.html" | wc -l)" -eq 7
check "the rendered page shows the response direction" grep -q "network (response)" "$ART/demo-dom.html"

echo "# screenshot: tests/artifacts/demo.png"
summary
