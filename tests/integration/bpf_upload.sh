#!/usr/bin/env bash
# bpf_upload.sh - tagged 20 MiB uploads on the bpf backend lose no packet:
# over ::1 at loopback's MTU (65536) and over a veth path at MTU 1500
# (client -- router -- server), the server's sha256 equals the body's, no
# namespace drops a packet for an invalid header or its size, every IOAM
# event carries the request's IDs, and the program skipped no data
# segment: with the room the agent reserves on the socket, and without it
# (an agent without CAP_NET_RAW: libclt's clamp leaves room for the header
# the program adds). About 7 s.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/shim_common.sh
AGENT=$PWD/$BUILD/cltagent
for f in "$SHIM" "$EVENTS_TOOL" "$AGENT"; do
	[ -e "$f" ] || { echo "FAIL: $f missing (make BUILD=$BUILD all tests)"; exit 1; }
done
TMP=$(mktemp -d)
trap 'kill $AGENT_PID 2>/dev/null; topo_cleanup; rm -rf "$TMP"' EXIT
AGENT_PID=
AGENT_PRE=()
PORT=8080
TRACE=4bf92f3577b34da6a3ce929d0e0e4736
SPAN=00f067aa0ba902b7
MB=20

cat >"$TMP/sink.py" <<'EOF'
import sys
sys.path.insert(0, "tests/lib")
import shim_fixture as f
f.Server6(("::", int(sys.argv[1])), f.Handler).serve_forever()
EOF
cat >"$TMP/post.py" <<'EOF'
import http.client, sys
host, port, path, tp = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
body = open(path, "rb").read()
c = http.client.HTTPConnection(host, port, timeout=60)
c.putrequest("POST", "/up")
c.putheader("traceparent", tp)
c.putheader("Content-Length", str(len(body)))
c.endheaders(body)
print(c.getresponse().read().decode().strip())
EOF
head -c $((MB << 20)) /dev/urandom >"$TMP/body"
SUM=$(sha256sum <"$TMP/body" | cut -d' ' -f1)

drops() {
	ip netns exec "$1" awk '/^Ip6InHdrErrors|^Ip6InUnknownProtos|^Icmp6OutParmProblems|^Ip6InTooBigErrors|^Ip6FragFails|^Icmp6OutPktTooBigs|^Ip6InDiscards/ {d += $2}
		END {print d + 0}' /proc/net/snmp6
}

agent_start() { # namespace
	rm -f "$TMP/ready"
	ip netns exec "$1" "${AGENT_PRE[@]}" "$AGENT" -o /dev/null --bpf --tag-socket "$TMP/tag.sock" \
		--ready-file "$TMP/ready" 2>"$TMP/agent.log" &
	AGENT_PID=$!
	local i
	for i in $(seq 1 100); do [ -e "$TMP/ready" ] && return 0; sleep 0.1; done
	echo "FAIL: agent did not start: $(cat "$TMP/agent.log")"
	exit 1
}
agent_stop() {
	kill -TERM "$AGENT_PID"
	wait "$AGENT_PID"
	AGENT_PID=
	grep "bpf tagged" "$TMP/agent.log" | sed 's/^/# /'
}
counter() { grep -o "bpf tagged=.*" "$TMP/agent.log" | tail -1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# upload LABEL CLIENT SERVER HOST NAMESPACES...
upload() {
	local label=$1 client=$2 server=$3 host=$4 ns before=0 after=0 sha
	shift 4
	for ns in "$@"; do before=$((before + $(drops "$ns"))); done
	agent_start "$client"
	NS=$server events_start "$TMP/ev"
	sha=$(ip netns exec "$client" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" CLT_BACKEND=bpf \
		CLT_AGENT_SOCKET="$TMP/tag.sock" python3 "$TMP/post.py" "$host" "$PORT" "$TMP/body" \
		"00-$TRACE-$SPAN-01")
	NS=$server SHOW_EVENTS=0 events_stop
	agent_stop
	for ns in "$@"; do after=$((after + $(drops "$ns"))); done
	check "$label: tagged $MB MiB arrives intact" [ "$sha" = "$SUM" ]
	check "$label: no packet dropped ($((after - before)))" [ $((after - before)) -eq 0 ]
	check "$label: all $(events_all) IOAM events carry the request's IDs (>= $((MB * 16)))" \
		[ "$(events_with "$TRACE" "$SPAN")" -eq "$(events_all)" -a "$(events_all)" -ge $((MB * 16)) ]
	check "$label: every data packet tagged (tagged=$(counter tagged) skipped=$(counter skipped) failed=$(counter failed))" \
		[ "$(counter tagged)" -ge $((MB * 16)) -a "$(counter skipped)" -eq 0 -a "$(counter failed)" -eq 0 ]
}

topo_single "bu$$" || { echo "FAIL: cannot build the namespace"; exit 1; }
L=$TOPO_S
ip netns exec "$L" python3 "$TMP/sink.py" "$PORT" >"$TMP/sink_l.log" 2>&1 &
topo_wait_port "$L" "$PORT" || { echo "FAIL: server did not start"; exit 1; }
upload "::1 mtu 65536" "$L" "$L" ::1 "$L"

topo_three "bv$$" || { echo "FAIL: cannot build the veth topology"; exit 1; }
ip netns exec "$TOPO_S" python3 "$TMP/sink.py" "$PORT" >"$TMP/sink_v.log" 2>&1 &
topo_wait_port "$TOPO_S" "$PORT" || { echo "FAIL: server did not start"; exit 1; }
upload "veth mtu 1500" "$TOPO_C" "$TOPO_S" "$TOPO_S_ADDR" "$TOPO_C" "$TOPO_R" "$TOPO_S"
# An agent without CAP_NET_RAW reserves no room: the program makes it per
# packet, and libclt's TCP_MAXSEG clamp leaves the header's octets free.
AGENT_PRE=(setpriv --bounding-set -net_raw --inh-caps -net_raw)
upload "veth mtu 1500, no room (agent without CAP_NET_RAW)" "$TOPO_C" "$TOPO_S" "$TOPO_S_ADDR" \
	"$TOPO_C" "$TOPO_R" "$TOPO_S"

[ $fails -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "PASS"
