#!/usr/bin/env bash
# retpath_hops.sh - the return path, hop by hop: client -- router -- server
# with IOAM on the ingress interfaces of both directions and cltagent on the
# client and on the server. A legacy Python server under libcltshim.so
# (CLT_TRACING=spans) answers requests that carry a traceparent (sent by a
# client under the shim too, so the request is tagged as well); its
# responses carry its SERVER span's IDs with the response flag. With a
# delay only on the router's egress towards the client, the response's
# network span (exported by the client's agent, under the SERVER span) shows
# it on its last hop and the request's (server's agent) does not; then the
# reverse. The delay comes from demo/delayline.py (no netem here).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/shim_common.sh
. tests/lib/agent_helpers.sh
ag_need_binaries
F=$PWD/tests/lib/retpath_fixture.py
topo_three "rh$$" || fail "topology"
trap 'ag_cleanup; stage_cleanup' EXIT
C=$TOPO_C R=$TOPO_R S=$TOPO_S
# The return path's ingress interfaces too: the router's from the server, the client's.
topo_ioam_if "$R" r1 22 1
topo_ioam_if "$C" c0 11 1
NAMES=(--node-name 1=client --node-name 2=router --node-name 3=server)
ag_agent "$S" "$AG_TMP/agent.s.log" --tag-socket "$AG_TMP/tag.sock" --output "$AG_TMP/s.jsonl" \
	--idle-timeout 1s --batch-timeout 100ms --stats-interval 0 "${NAMES[@]}"
AG_S=$AG_PID
ag_agent "$C" "$AG_TMP/agent.c.log" --output "$AG_TMP/c.jsonl" --idle-timeout 1s \
	--batch-timeout 100ms --stats-interval 0 "${NAMES[@]}"
AG_C=$AG_PID
ip netns exec "$S" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" CLT_TRACING=spans OTEL_SERVICE_NAME=api \
	CLT_AGENT_SOCKET="$AG_TMP/tag.sock" CLT_DOMAIN=fd00::/8 python3 "$F" server :: 8300 \
	>"$AG_TMP/server.log" 2>&1 &
AG_PIDS+=("$!")
topo_wait_port "$S" 8300 || fail "server did not start"

DL_PID=
delay_on() { # interface on the router, ms
	rm -f "$AG_TMP/dl.ready"
	ip netns exec "$R" python3 -u demo/delayline.py "$1" "$2" --tap "dl$$" --ready "$AG_TMP/dl.ready" \
		>"$AG_TMP/dl.log" 2>&1 &
	DL_PID=$!
	AG_PIDS+=("$DL_PID")
	ag_wait_file "$AG_TMP/dl.ready" "$DL_PID" "delay line on $1" "$AG_TMP/dl.log"
}
delay_off() { kill -TERM "$DL_PID"; wait "$DL_PID" 2>/dev/null; sleep 0.5; }
get() { # traceparent; the client under the shim too, so that its request is tagged
	ip netns exec "$C" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" python3 "$F" get "http://[$TOPO_S_ADDR]:8300/bytes/3000" "$1" >/dev/null
}
T1=00-aaaa0000000000000000000000000001-a100000000000001-01
T2=00-aaaa0000000000000000000000000002-a200000000000002-01
delay_on r0 300 # towards the client: only the response path is slow
get "$T1" || fail "GET with delay towards the client"
delay_off
delay_on r1 300 # towards the server: only the request path is slow
get "$T2" || fail "GET with delay towards the server"
delay_off
sleep 1.5 # the agents' idle timeout
kill -TERM "$AG_S" "$AG_C"
wait "$AG_S" "$AG_C" 2>/dev/null

PYTHONPATH=$PWD/tests/lib python3 - "$AG_TMP/s.jsonl" "$AG_TMP/c.jsonl" <<'PY' || fail "span checks"
import sys
from otlp_receiver import load_spans
srv, cli = load_spans(sys.argv[1]), load_spans(sys.argv[2])
MS = 1e6
def one(spans, pred, what):
    got = [s for s in spans if pred(s)]
    assert len(got) == 1, f"{what}: want one, got {[(s['name'], s.get('parentSpanId')) for s in got]}"
    return got[0]
def hops(spans, net):
    h = [s for s in spans if s.get("parentSpanId") == net["spanId"]]
    return sorted(h, key=lambda s: s["attrs"]["ioam.hop.index"])
for n, (trace, parent) in enumerate([("aaaa0000000000000000000000000001", "a100000000000001"),
                                     ("aaaa0000000000000000000000000002", "a200000000000002")]):
    server = one(srv, lambda s: s["traceId"] == trace and s.get("kind") == 2, "SERVER span")
    assert server["parentSpanId"] == parent, server
    req = one(srv, lambda s: s["traceId"] == trace and s.get("parentSpanId") == parent
              and s["name"].startswith("network"), "request network span (server's agent)")
    rsp = one(cli, lambda s: s["traceId"] == trace and s["name"].startswith("network"),
              "response network span (client's agent)")
    assert req["name"] == "network: router → server", req["name"]
    assert req["attrs"]["ioam.direction"] == "request", req["attrs"]
    assert rsp["name"] == "network (response): router → client", rsp["name"]
    assert rsp["attrs"]["ioam.direction"] == "response", rsp["attrs"]
    assert rsp["parentSpanId"] == server["spanId"], ("response not under the SERVER span", rsp, server)
    rh, qh = hops(cli, rsp), hops(srv, req)
    assert [h["name"] for h in rh] == ["hop (response) 1: router", "hop (response) 2: client"], rh
    assert [h["attrs"]["ioam.node.id"] for h in qh] == [2, 3], qh
    assert all(h["attrs"]["ioam.direction"] == "response" for h in rh)
    rd, qd = rh[1]["attrs"]["ioam.delay.max_ns"], qh[1]["attrs"]["ioam.delay.max_ns"]
    slow, quiet = (rd, qd) if n == 0 else (qd, rd)
    print(f"checked: {'response' if n == 0 else 'request'} path delayed: last hop of the response "
          f"{rd / MS:.0f} ms, of the request {qd / MS:.0f} ms")
    assert slow >= 250 * MS and quiet < 150 * MS, (rd, qd)
# The client's agent sees no request, the server's no response: each host its own direction.
assert not [s for s in cli if s["attrs"].get("ioam.direction") == "request"], "request on the client"
assert not [s for s in srv if s["attrs"].get("ioam.direction") == "response"], "response on the server"
PY
check "response and request network spans, each hop where it was delayed" true
summary
