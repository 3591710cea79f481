#!/usr/bin/env bash
# demo_run.sh - run the non-interactive login demo (what "make demo" runs)
# and check what it shows: both logins of the quiet phase (OK and FAILED),
# a network span with hops named porthos and aramis under every login, the
# aramis hop >= 900 ms for the congested logins and < 100 ms for the others;
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
check "the waterfall flags exactly 3 congested hops" \
	test "$(grep -c '◀ congestion' "$log.txt")" -eq 3

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
check(len(logins) == 5, "5 login traces collected (got %d)" % len(logins))
quiet = [t for t in logins if t["phase"] == "uncongested"]
cong = [t for t in logins if t["phase"].startswith("congested")]
check(len(quiet) == 2 and len(cong) == 3, "2 quiet and 3 congested logins")
check(sorted(t["result"] for t in quiet) == ["FAILED", "OK"], "quiet logins: one OK, one FAILED")
for t in logins:
    tag = "login %s (%s, %s)" % (t["trace_id"][:8], t["user"], t["phase"].split(":")[0])
    svc = {r["service"] for r in t["rows"] if r["span"] is not None}
    check("athos" in svc, tag + ": has athos's OpenTelemetry spans")
    nets = [r for r in t["rows"] if r["kind"] == "network"]
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
check "the rendered page has 5 traces" test "$(grep -o "class='trace[ a-z]*' id=" "$ART/demo-dom.html" | wc -l)" -eq 5 -o \
	"$(grep -o 'class="trace[ a-z]*" id=' "$ART/demo-dom.html" | wc -l)" -eq 5

echo "# screenshot: tests/artifacts/demo.png"
summary
