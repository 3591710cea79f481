#!/usr/bin/env bash
# bpf_attrib.sh - exact attribution on the bpf backend: 20 pipelined
# requests sent in one write, each with its own IDs at its stream offset,
# then a response, then a 21st request - through libclt (clt_enable_at)
# and through the shim (HTTP requests with their own traceparent). In a capture, every data segment
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
trap 'kill $SRV $AGENT_PID 2>/dev/null; topo_cleanup; rm -rf "$TMP"' EXIT
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
python3 tests/lib/bpf_pipeline.py check "$TMP/cap.pcap" "$TMP/expected" $PORT ||
	{ echo "FAIL: attribution (libclt)"; exit 1; }

# Through the shim, no libclt call: 20 pipelined HTTP requests, each with
# its own traceparent, in one write. The shim finds where each begins and
# sets its IDs at that stream offset.
SHIM=$PWD/$BUILD/libcltshim.so
. tests/lib/stage.sh
SHIM=$(stage_file "$SHIM")
SHIMPRE=$SHIM
readelf -d "$SHIM" | grep -q 'NEEDED.*libasan' && SHIMPRE="$(gcc -print-file-name=libasan.so) $SHIM"
ip netns exec "$NS" tcpdump -Z root --immediate-mode -i lo -U -s 512 -w "$TMP/cap1.pcap" ip6 2>"$TMP/tcpdump1.log" &
TCPD=$!
for i in $(seq 1 50); do grep -q listening "$TMP/tcpdump1.log" && break; sleep 0.1; done
nsx env LD_PRELOAD="$SHIMPRE" ASAN_OPTIONS=detect_leaks=0 CLT_BACKEND=bpf CLT_AGENT_SOCKET="$TMP/tag.sock" \
	CLT_LOG=warn python3 tests/lib/bpf_pipeline.py shimclient $PORT "$TMP/expected1"
rc=$?
sleep 0.3
kill -INT $TCPD
wait $TCPD 2>/dev/null
[ $rc -eq 0 ] || { echo "FAIL: shim pipelined client failed (rc=$rc)"; exit 1; }
python3 tests/lib/bpf_pipeline.py check "$TMP/cap1.pcap" "$TMP/expected1" $PORT ||
	{ echo "FAIL: attribution (shim, pipelined)"; exit 1; }

# Through the shim: a request with a 300 kB body, then at once a second
# request in its own write, with other IDs. The shim passes each one's
# stream offset, so the first request's segments still queued when the
# second's IDs are set keep the first's IDs.
PORT2=8091
cat >"$TMP/sink.py" <<'PY'
import socket, sys
l = socket.socket(socket.AF_INET6); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("::1", int(sys.argv[1]))); l.listen(4)
while True:
    c, _ = l.accept()
    while c.recv(1 << 16):
        pass
    c.close()
PY
cat >"$TMP/two.py" <<'PY'
import os, socket, sys
port, out = int(sys.argv[1]), sys.argv[2]
ta, sa, tb, sb = (os.urandom(n).hex() for n in (16, 8, 16, 8))
body = b"b" * 300000
r1 = (b"POST /one HTTP/1.1\r\nHost: x\r\ntraceparent: 00-%s-%s-01\r\nContent-Length: %d\r\n\r\n"
      % (ta.encode(), sa.encode(), len(body))) + body
r2 = b"GET /two HTTP/1.1\r\nHost: x\r\ntraceparent: 00-%s-%s-01\r\n\r\n" % (tb.encode(), sb.encode())
s = socket.create_connection(("::1", port))
s.sendall(r1)
s.sendall(r2)
s.shutdown(socket.SHUT_WR)
s.recv(1)
s.close()
open(out, "w").write("0 %d %s %s\n%d %d %s %s\n" % (len(r1), ta, sa, len(r1), len(r2), tb, sb))
PY
ip netns exec "$NS" python3 "$TMP/sink.py" $PORT2 >/dev/null 2>&1 &
SINK=$!
topo_wait_port "$NS" $PORT2 || { echo "FAIL: sink did not start"; exit 1; }
ip netns exec "$NS" tcpdump -Z root --immediate-mode -i lo -U -s 512 -w "$TMP/cap2.pcap" ip6 2>"$TMP/tcpdump2.log" &
TCPD=$!
for i in $(seq 1 50); do grep -q listening "$TMP/tcpdump2.log" && break; sleep 0.1; done
ip netns exec "$NS" env LD_PRELOAD="$SHIMPRE" ASAN_OPTIONS=detect_leaks=0 CLT_BACKEND=bpf \
	CLT_AGENT_SOCKET="$TMP/tag.sock" CLT_LOG=warn python3 "$TMP/two.py" $PORT2 "$TMP/expected2"
rc=$?
sleep 0.3
kill -INT $TCPD
wait $TCPD 2>/dev/null
kill $SINK 2>/dev/null
[ $rc -eq 0 ] || { echo "FAIL: shim client failed (rc=$rc)"; exit 1; }
# The second request may ride in a packet that starts in the first one's
# body (then it carries the first one's IDs, as the packet's first octet):
# it need not be seen on its own; a mismatch fails.
if BPF_CHECK_MIN_REQS=1 python3 tests/lib/bpf_pipeline.py check "$TMP/cap2.pcap" "$TMP/expected2" $PORT2; then
	echo "PASS"
else
	echo "FAIL: attribution (shim)"
	exit 1
fi
