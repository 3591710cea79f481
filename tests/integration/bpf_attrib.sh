#!/usr/bin/env bash
# bpf_attrib.sh - exact attribution on the bpf backend: 20 pipelined
# requests sent in one write, each with its own IDs at its stream offset,
# then a response, then a 21st request. In a capture, every data segment
# carries the IDs of the request its first octet belongs to, pure ACKs and
# the server's segments none. The program tags per skb: a GSO packet the
# kernel splits after tc egress gives all its segments its first octet's
# IDs (the checker allows that), so lo's gso_max_size is lowered for TCP to
# build packets of one or two segments of 1000 here.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
command -v tcpdump >/dev/null || { echo "SKIP: tcpdump not installed"; exit 77; }
BUILD=${BUILD:-build}
AGENT=$PWD/$BUILD/cltagent
[ -x "$AGENT" ] || { echo "FAIL: $AGENT missing (make BUILD=$BUILD all tests)"; exit 1; }
TMP=$(mktemp -d)
trap 'cp -r "$TMP" /tmp/bpfdbg; kill $SRV $AGENT_PID 2>/dev/null; topo_cleanup; rm -rf "$TMP"' EXIT
topo_single "ba$$" || { echo "FAIL: cannot build the namespace"; exit 1; }
NS=$TOPO_S
nsx() { ip netns exec "$NS" "$@"; }
PORT=8090
LIBCLT=$PWD/$BUILD/libclt.so
PRE=()
readelf -d "$LIBCLT" | grep -q 'NEEDED.*libasan' && PRE=(env LD_PRELOAD="$(gcc -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0)

nsx ip link set dev lo gso_max_size 1500
ip netns exec "$NS" "$AGENT" -o /dev/null --bpf --tag-socket "$TMP/tag.sock" --ready-file "$TMP/ready" \
	2>"$TMP/agent.log" &
AGENT_PID=$!
for i in $(seq 1 100); do [ -e "$TMP/ready" ] && break; sleep 0.1; done
[ -e "$TMP/ready" ] || { echo "FAIL: agent did not start: $(cat "$TMP/agent.log")"; exit 1; }
ip netns exec "$NS" python3 tests/lib/bpf_pipeline.py server $PORT >"$TMP/server.log" 2>&1 &
SRV=$!
topo_wait_port "$NS" $PORT || { echo "FAIL: server did not start"; exit 1; }
ip netns exec "$NS" tcpdump -Z root --immediate-mode -i lo -U -s 512 -w "$TMP/cap.pcap" ip6 2>"$TMP/tcpdump.log" &
TCPD=$!
for i in $(seq 1 50); do grep -q listening "$TMP/tcpdump.log" && break; sleep 0.1; done
nsx "${PRE[@]}" python3 tests/lib/bpf_pipeline.py client $PORT "$LIBCLT" "$TMP/tag.sock" "$TMP/expected"
rc=$?
sleep 0.3
kill -INT $TCPD
wait $TCPD 2>/dev/null
[ $rc -eq 0 ] || { echo "FAIL: client failed (rc=$rc)"; exit 1; }
if python3 tests/lib/bpf_pipeline.py check "$TMP/cap.pcap" "$TMP/expected" $PORT; then
	echo "PASS"
else
	echo "FAIL: attribution"
	exit 1
fi
