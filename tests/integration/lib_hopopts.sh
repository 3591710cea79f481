#!/usr/bin/env bash
# lib_hopopts.sh - libclt's hopopts backend against the real kernel: in a
# namespace with IOAM on lo, traffic to ::1 tagged through libclt must
# produce IOAM events carrying exactly the given IDs, none once disabled;
# auto selection must find no CLT-patched kernel and pick hopopts; an
# unprivileged process must get "off" (auto) or EPERM (forced), both
# explaining CAP_NET_RAW.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root

BUILD=${BUILD:-build}
TOOLS=$BUILD/tests/tools
for t in ioam_events clt_send; do
	if [ ! -x "$TOOLS/$t" ]; then
		echo "FAIL: $TOOLS/$t missing (make BUILD=$BUILD tests)"
		exit 1
	fi
done

TMP=$(mktemp -d)
LISTENER=
cleanup() {
	[ -n "$LISTENER" ] && kill "$LISTENER" 2>/dev/null && wait "$LISTENER" 2>/dev/null
	topo_cleanup
	rm -rf "$TMP"
}
topo_single "lib$$" || { echo "FAIL: cannot build the namespace"; exit 1; }
trap cleanup EXIT # after topo_single, which installs its own trap
NS=$TOPO_S
nsx() { ip netns exec "$NS" "$@"; }

. tests/lib/harness.sh
# "cmd && cmd" as a single condition for check
all_of() { local c; for c in "$@"; do eval "$c" || return 1; done; }

# Listeners on ::1: TCP (read each connection to EOF) and UDP (drain).
ip netns exec "$NS" python3 - <<'PY' &
import socket, threading
def tcp():
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::1", 7001)); s.listen(16)
    while True:
        c, _ = s.accept()
        while c.recv(65536):
            pass
        c.close()
def udp():
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.bind(("::1", 7002))
    while True:
        u.recv(65536)
threading.Thread(target=udp, daemon=True).start()
tcp()
PY
LISTENER=$!
topo_wait_port "$NS" 7001 || { echo "FAIL: TCP listener did not start"; exit 1; }

# events_during FILE CMD...: run CMD while an ioam_events reader records.
events_during() {
	local out=$1; shift
	rm -f "$TMP/ready"
	ip netns exec "$NS" "$TOOLS/ioam_events" -t 60 -r "$TMP/ready" >"$out" 2>"$out.err" &
	local ev=$!
	local i
	for i in $(seq 1 50); do [ -e "$TMP/ready" ] && break; sleep 0.1; done
	[ -e "$TMP/ready" ] || { echo "FAIL: ioam_events did not subscribe: $(cat "$out.err")"; exit 1; }
	"$@"
	local rc=$?
	# Let the last events arrive.
	topo_wait_settled "$out"
	kill "$ev" 2>/dev/null
	wait "$ev" 2>/dev/null
	return $rc
}
count() { grep -c -- "$2" "$1"; }

T1=0af7651916cd43dd8448eb211c80319c S1=b7ad6b7169203331
T2=4bf92f3577b34da6a3ce929d0e0e4736 S2=00f067aa0ba902b7

# 1. TCP, auto backend, 4 tagged messages then 4 after clt_disable.
events_during "$TMP/tcp" nsx env -u CLT_BACKEND "$TOOLS/clt_send" -n 4 -d ::1 7001 $T1 $S1 2>"$TMP/tcp.send"
rc=$?
echo "# clt_send: $(cat "$TMP/tcp.send")"
sed 's/^/# event: /' "$TMP/tcp"
check "TCP clt_send succeeds" [ $rc -eq 0 ]
check "auto selection picks hopopts" grep -q '^backend=hopopts ' "$TMP/tcp.send"
check "genl detection says the kernel lacks PKT_ID_ENABLE" grep -q 'no PKT_ID_ENABLE' "$TMP/tcp.send"
n=$(wc -l <"$TMP/tcp")
check "4 events for 4 tagged segments, none after disable (got $n)" [ "$n" -eq 4 ]
check "every event carries exactly trace=$T1 span=$S1" \
	[ "$(count "$TMP/tcp" "trace=$T1 span=$S1")" -eq "$n" ]
check "events show ns=123, default type 0xf20000, nodelen 5, node 1" \
	[ "$(count "$TMP/tcp" '^ns=123 nodelen=5 type=0xf20000 flags=0 nodes=1 node_ids=1 ')" -eq "$n" ]

# 2. TCP without disable: the connection's last packets are tagged too.
events_during "$TMP/tcp2" nsx "$TOOLS/clt_send" -n 4 ::1 7001 $T2 $S2 2>/dev/null
n=$(wc -l <"$TMP/tcp2")
check "without disable, at least the 4 segments are tagged (got $n)" [ "$n" -ge 4 ]
check "second connection carries only its own IDs" \
	[ "$(count "$TMP/tcp2" "trace=$T2 span=$S2")" -eq "$n" ]

# 3. UDP with a smaller configuration from the environment.
events_during "$TMP/udp" nsx env CLT_TRACE_TYPE=0x800000 CLT_HOPS=3 \
	"$TOOLS/clt_send" -u -n 3 -d ::1 7002 $T2 $S1 2>"$TMP/udp.send"
rc=$?
sed 's/^/# event: /' "$TMP/udp"
check "UDP clt_send succeeds" [ $rc -eq 0 ]
check "UDP: exactly 3 events, trace=$T2 span=$S1, type 0x800000 nodelen 1" \
	[ "$(count "$TMP/udp" "^ns=123 nodelen=1 type=0x800000 flags=0 nodes=1 node_ids=1 trace=$T2 span=$S1\$")" -eq 3 -a "$(wc -l <"$TMP/udp")" -eq 3 ]

# 4. IPv4 is refused cleanly.
nsx "$TOOLS/clt_send" -u 127.0.0.1 7002 $T1 $S1 2>"$TMP/v4.send"
rc=$?
check "IPv4 socket: clt_enable fails with the IPv6 explanation" \
	all_of '[ $rc -ne 0 ]' 'grep -q "not an IPv6 socket" "$TMP/v4.send"'

# 5. Unprivileged: auto falls back to off; forcing hopopts gets EPERM.
if command -v setpriv >/dev/null 2>&1; then
	cp "$TOOLS/clt_send" "$TMP/clt_send"
	chmod 755 "$TMP" "$TMP/clt_send"
	unpriv() { nsx setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"; }
	events_during "$TMP/off" unpriv "$TMP/clt_send" -u -n 3 ::1 7002 $T1 $S1 2>"$TMP/off.send"
	rc=$?
	echo "# unprivileged auto: $(cat "$TMP/off.send")"
	check "unprivileged auto: runs, backend off" \
		all_of '[ $rc -eq 0 ]' 'grep -q "^backend=off " "$TMP/off.send"'
	check "unprivileged auto: reason says to run with CAP_NET_RAW" grep -q 'run with CAP_NET_RAW' "$TMP/off.send"
	check "unprivileged auto: no events" [ "$(wc -l <"$TMP/off")" -eq 0 ]
	unpriv env CLT_BACKEND=hopopts "$TMP/clt_send" -u -n 1 ::1 7002 $T1 $S1 2>"$TMP/eperm.send"
	rc=$?
	echo "# unprivileged hopopts: $(cat "$TMP/eperm.send")"
	check "unprivileged forced hopopts: clt_enable fails, message names CAP_NET_RAW" \
		all_of '[ $rc -ne 0 ]' 'grep -q "clt_enable: operation not permitted.*CAP_NET_RAW" "$TMP/eperm.send"'
else
	echo "FAIL - setpriv (util-linux) missing: unprivileged cases not run"
	fails=$((fails + 1))
fi

# 6. Forcing genl on a stock kernel is refused at open, with the reason.
nsx env CLT_BACKEND=genl "$TOOLS/clt_send" ::1 7001 $T1 $S1 2>"$TMP/genl.send"
rc=$?
echo "# forced genl: $(cat "$TMP/genl.send")"
check "forced genl on a stock kernel: clt_open fails naming PKT_ID_ENABLE" \
	all_of '[ $rc -ne 0 ]' 'grep -q "PKT_ID_ENABLE" "$TMP/genl.send"'

summary
