#!/usr/bin/env bash
# agent_path.sh - cltagent against the real kernel: client -> router ->
# server, IOAM on the router's and the server's ingress. Traffic tagged
# through libclt from the client; the agent in the server's namespace
# (kernel IOAM events) posts to an OTLP/HTTP receiver there. Checks the
# span tree (parent = the request's span-id, same trace-id), both nodes in
# path order with sane timestamps, and that 200 ms of queueing on the
# router's egress shows on the router -> server hop. A second agent
# capturing packets on the server's interface sees the router's data.
set -u
. "$(dirname "$0")/../lib/topo.sh"
. "$(dirname "$0")/../lib/agent_helpers.sh"
topo_require_root
ag_need_binaries
topo_three "ag$$" || fail "topology"
trap ag_cleanup EXIT # after topo_*, which install their own trap
S=$TOPO_S
OUT=$AG_TMP/spans.jsonl
CAP=$AG_TMP/capture.jsonl
ag_receiver "$S" 4318 "$OUT"
ag_sink "$S" "$TOPO_S_ADDR" 8080 tcp
ag_sink "$S" "$TOPO_S_ADDR" 8081 udp
ag_agent "$S" "$AG_TMP/agent.log" -e "http://[::1]:4318/v1/traces" --idle-timeout 300ms \
	--batch-timeout 200ms --node-name 2=router --node-name 3=server
AGENT1=$AG_PID
ip netns exec "$S" "$AG_AGENT" --tag-socket none --source capture:s0 --output "$CAP" --idle-timeout 300ms \
	--batch-timeout 200ms --ready-file "$AG_TMP/capture.ready" 2>"$AG_TMP/capture.log" &
CAP_PID=$!
AG_PIDS+=("$CAP_PID")
# Ready once the capture is active on s0: packets sent after that are seen.
ag_wait_file "$AG_TMP/capture.ready" "$CAP_PID" "capturing cltagent" "$AG_TMP/capture.log"
echo "checked: both agents ready (event group joined, capture active)"

TRACE=4bf92f3577b34da6a3ce929d0e0e4736
SPAN=00f067aa0ba902b7
CLT_BACKEND=hopopts ip netns exec "$TOPO_C" "$AG_SEND" -n 5 "$TOPO_S_ADDR" 8080 "$TRACE" "$SPAN" \
	|| fail "clt_send"
ag_wait_spans "$OUT" 3 10 || { cat "$AG_TMP/agent.log"; fail "no spans within 10 s"; }
echo "checked: spans arrived at the receiver"

PYTHONPATH=$AG_TOP/tests/lib python3 - "$OUT" "$TRACE" "$SPAN" <<'PY' || fail "span tree"
import sys, time
from otlp_receiver import load_spans
spans = [s for s in load_spans(sys.argv[1]) if s["traceId"] == sys.argv[2]]
net = [s for s in spans if s["parentSpanId"] == sys.argv[3]]
assert len(net) == 1, f"want one network span under {sys.argv[3]}, got {len(net)}: {spans}"
net = net[0]
hops = sorted([s for s in spans if s["parentSpanId"] == net["spanId"]], key=lambda s: s["attrs"]["ioam.hop.index"])
assert [h["attrs"]["ioam.node.id"] for h in hops] == [2, 3], [h["attrs"] for h in hops]
assert [h["name"] for h in hops] == ["hop 1: router", "hop 2: server"], [h["name"] for h in hops]
assert net["name"] == "network: router → server", net["name"]
assert net["kind"] == 1 and net["service"] == "cltagent"
assert net["attrs"]["ioam.packets"] >= 5, net["attrs"]
assert hops[0]["attrs"]["ioam.if.ingress"] == 21 and hops[1]["attrs"]["ioam.if.ingress"] == 31
now = time.time_ns()
for s in [net] + hops:
    assert abs(s["start"] - now) < 120e9, ("start not near now", s)
    assert s["end"] >= s["start"], s
    assert net["start"] <= s["start"] and s["end"] <= net["end"], ("hop outside network span", s)
assert hops[0]["end"] <= hops[1]["end"]
d = hops[1]["attrs"]
assert 0 <= d["ioam.delay.min_ns"] <= d["ioam.delay.avg_ns"] <= d["ioam.delay.max_ns"] < 1e9, d
print(f"checked: network span under {sys.argv[3]}, hops {[h['name'] for h in hops]}, "
      f"hop 2 delay avg {d['ioam.delay.avg_ns']} ns over {d['ioam.packets']} packets")
PY

# 200 ms on the router's egress towards the server: netem when the kernel has
# it, else a token bucket that queues the tagged packets behind filler packets.
if ip netns exec "$TOPO_R" tc qdisc add dev r1 root netem delay 200ms 2>/dev/null; then
	echo "checked: using netem delay 200ms on r1"
	FILL=0
else
	ip netns exec "$TOPO_R" tc qdisc add dev r1 root tbf rate 40kbit burst 1600 latency 10s \
		|| fail "neither netem nor tbf available"
	echo "netem not in this kernel: tbf 40kbit on r1, three 1400-octet fillers queue >= 500 ms"
	FILL=1
fi
SPAN2=b7ad6b7169203331
if [ $FILL = 1 ]; then
	ip netns exec "$TOPO_R" python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for _ in range(3): s.sendto(b"x" * 1400, ("fd00:2::2", 9))'
fi
CLT_BACKEND=hopopts ip netns exec "$TOPO_C" "$AG_SEND" -u -n 3 "$TOPO_S_ADDR" 8081 "$TRACE" "$SPAN2" \
	|| fail "clt_send udp"
ag_wait_spans "$OUT" 6 15 || { cat "$AG_TMP/agent.log"; fail "no spans for the delayed request"; }
PYTHONPATH=$AG_TOP/tests/lib python3 - "$OUT" "$TRACE" "$SPAN2" <<'PY' || fail "delay"
import sys
from otlp_receiver import load_spans
spans = load_spans(sys.argv[1])
net = [s for s in spans if s["parentSpanId"] == sys.argv[3]]
assert len(net) == 1, net
hops = {s["attrs"]["ioam.hop.index"]: s for s in spans if s["parentSpanId"] == net[0]["spanId"]}
h2 = hops[2]
assert h2["attrs"]["ioam.node.id"] == 3
dmax = h2["attrs"]["ioam.delay.max_ns"]
assert dmax >= 200e6, f"router -> server delay max {dmax} ns < 200 ms"
assert h2["end"] - h2["start"] >= 200e6, ("hop 2 span shorter than the delay", h2)
assert hops[1]["attrs"].get("ioam.delay.max_ns") is None
print(f"checked: router -> server hop shows {dmax/1e6:.1f} ms (>= 200 ms), span {(h2['end']-h2['start'])/1e6:.1f} ms")
PY

AG_PID=$AGENT1
ag_stop_agent
[ "$AG_RC" -eq 0 ] || fail "agent exit status $AG_RC"
grep -q "stats events=" "$AG_TMP/agent.log" || fail "no stats line at exit"
echo "checked: agent exit 0 on SIGTERM; $(grep -o 'stats .*' "$AG_TMP/agent.log" | tail -1)"
[ "$(ag_stat "$AG_TMP/agent.log" malformed)" = 0 ] || fail "malformed events counted"

AG_PID=$CAP_PID
ag_stop_agent
PYTHONPATH=$AG_TOP/tests/lib python3 - "$CAP" "$TRACE" "$SPAN" <<'PY' || { cat "$AG_TMP/capture.log"; fail "capture source"; }
import sys
from otlp_receiver import load_spans
spans = load_spans(sys.argv[1])
net = [s for s in spans if s["parentSpanId"] == sys.argv[3] and s["traceId"] == sys.argv[2]]
assert len(net) == 1, spans
hops = [s for s in spans if s["parentSpanId"] == net[0]["spanId"]]
# Captured on the server's ingress: the router's data, before the server adds its own.
assert [h["attrs"]["ioam.node.id"] for h in hops] == [2], [h["attrs"] for h in hops]
print("checked: capture:s0 source sees the router (node 2) in the same request")
PY
echo "PASS"
