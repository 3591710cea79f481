#!/usr/bin/env bash
# shim_upload.sh - tagged uploads never send a packet the receiver drops.
# A POST of 1 MiB and 16 MiB through the shim over ::1 at loopback's MTU
# (65536), over ::1 with BIG TCP raised (gso_max_size 185000), and over a
# veth path at MTU 1500 (client -- router -- server): the server's sha256
# equals the body's; no namespace drops a packet for an invalid IPv6 header
# (Ip6InHdrErrors, Ip6InUnknownProtos, ICMPv6 parameter problems sent) or
# for its size; over loopback the tagged upload retransmits no more than
# the same upload untagged; every IOAM event of the upload carries the
# request's IDs. With BIG TCP the shim does not tag the socket at all
# (packets over 64 KiB cannot carry the option) and says so. A listener
# under the shim is clamped for a response's option on a 1500-octet path
# (the kernel does not fit an accepted socket's segments to an option set
# later), and so is the socket it accepts; with CLT_TAG_RESPONSES=0 it is
# left alone. About 6 s.
# SHIM_PRELOAD (e.g. libasan first) overrides the preload.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/shim_common.sh
for f in "$SHIM" "$EVENTS_TOOL"; do
	[ -e "$f" ] || { echo "FAIL: $f missing (make BUILD=$BUILD all tests)"; exit 1; }
done
TMP=$(mktemp -d)
trap 'topo_cleanup; rm -rf "$TMP"' EXIT
PORT=8080
TRACE=4bf92f3577b34da6a3ce929d0e0e4736
SPAN=00f067aa0ba902b7

cat >"$TMP/sink.py" <<'EOF'
import sys
sys.path.insert(0, "tests/lib")
import shim_fixture as f
f.Server6(("::", int(sys.argv[1])), f.Handler).serve_forever()
EOF
# post.py HOST PORT FILE TRACEPARENT|- : one POST of the whole file in one send; prints the reply.
cat >"$TMP/post.py" <<'EOF'
import http.client, sys
host, port, path, tp = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
body = open(path, "rb").read()
c = http.client.HTTPConnection(host, port, timeout=60)
c.putrequest("POST", "/up")
if tp != "-":
    c.putheader("traceparent", tp)
c.putheader("Content-Length", str(len(body)))
c.endheaders(body)
print(c.getresponse().read().decode().strip())
EOF
# listen.py [ADDR]: a listener under the shim (bound to ADDR, default ::1); prints its
# TCP_MAXSEG (536: unset), the MSS of the socket it accepts from itself over ::1, and the
# length of the destination options each carries.
cat >"$TMP/listen.py" <<'EOF'
import socket, sys
l = socket.socket(socket.AF_INET6)
l.bind((sys.argv[1] if len(sys.argv) > 1 else "::1", 0)); l.listen()
c = socket.create_connection(("::1", l.getsockname()[1]))
a, _ = l.accept()
dst = lambda s: len(s.getsockopt(socket.IPPROTO_IPV6, 59, 512))
print(l.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG), a.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG),
      dst(l), dst(a))
EOF

# Counters of namespace $1: packets dropped for an invalid header or for their size
# (summed), TCP retransmits, and of those the tail-loss probes (sent when an ACK is late).
counters() {
	ip netns exec "$1" awk '/^Ip6InHdrErrors|^Ip6InUnknownProtos|^Icmp6OutParmProblems|^Ip6InTooBigErrors|^Ip6FragFails|^Icmp6OutPktTooBigs/ {d += $2}
		END {printf "%d ", d}' /proc/net/snmp6
	ip netns exec "$1" awk '/^Tcp:/ { if (!n) { for (i = 1; i <= NF; i++) k[i] = $i; n = 1 }
		else for (i = 1; i <= NF; i++) if (k[i] == "RetransSegs") printf "%d ", $i }' /proc/net/snmp
	ip netns exec "$1" awk '/^TcpExt:/ { if (!n) { for (i = 1; i <= NF; i++) k[i] = $i; n = 1 }
		else for (i = 1; i <= NF; i++) if (k[i] == "TCPLossProbes") print $i }' /proc/net/netstat
}

# Run one POST from namespace CLIENT; sets post_sha, drops and retrans (deltas over NAMESPACES).
post() { # client host file traceparent namespaces...
	local client=$1 host=$2 file=$3 tp=$4 ns d r p
	shift 4
	local -a before=()
	for ns in "$@"; do before+=("$(counters "$ns")"); done
	post_sha=$(ip netns exec "$client" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" CLT_LOG=warn \
		CLT_LOG_FILE="$TMP/shim.log" python3 "$TMP/post.py" "$host" "$PORT" "$file" "$tp")
	drops=0 retrans=0 probes=0
	local i=0
	for ns in "$@"; do
		read -r d r p <<<"$(counters "$ns")"
		set -- ${before[$i]}
		drops=$((drops + d - $1)) retrans=$((retrans + r - $2)) probes=$((probes + p - $3))
		i=$((i + 1))
	done
}

# upload_case LABEL CLIENT SERVER HOST MB tagged|untagged NAMESPACES...
# Over loopback nothing is lost untagged, so a tagged upload must not retransmit more (a
# packet the receiver drops shows there: 24 for 1 MiB unfixed), not counting tail-loss
# probes (a late ACK on a busy machine, or under the sanitizer) and allowing a few more: two,
# plus one per 2 MiB for timer retransmits on a loaded machine (the defect this guards
# against lost 24 segments per MiB, and drops are checked exactly). Over the veth path TCP
# retransmits a few
# hundred segments tagged or not with no drop counted anywhere, no device drop, and the
# receiver reporting them as duplicates (DSACK: reordering, spurious retransmits; more
# packets tagged, so more of them): there the drop counters decide, retransmits are shown.
retrans_exact=1
upload_case() {
	local label=$1 client=$2 server=$3 host=$4 mb=$5 expect=$6
	shift 6
	local file=$TMP/body$mb sum untagged_retrans min=$((mb * 16))
	[ -e "$file" ] || head -c $((mb << 20)) /dev/urandom >"$file"
	sum=$(sha256sum <"$file" | cut -d' ' -f1)
	post "$client" "$host" "$file" - "$@"
	untagged_retrans=$retrans
	check "$label: untagged $mb MiB arrives intact" [ "$post_sha" = "$sum" ]
	NS=$server events_start "$TMP/ev"
	post "$client" "$host" "$file" "00-$TRACE-$SPAN-01" "$@"
	NS=$server SHOW_EVENTS=0 events_stop
	check "$label: tagged $mb MiB arrives intact" [ "$post_sha" = "$sum" ]
	check "$label: no packet dropped for an invalid header or its size ($drops)" [ "$drops" -eq 0 ]
	if [ "$retrans_exact" = 1 ]; then
		check "$label: retransmits tagged $retrans ($probes probes) <= untagged $untagged_retrans (+$((2 + mb / 2)))" \
			[ $((retrans - probes)) -le $((untagged_retrans + 2 + mb / 2)) ]
	else
		echo "# $label: retransmits tagged $retrans, untagged $untagged_retrans (reordering on the path, no drop)"
	fi
	if [ "$expect" = tagged ]; then
		check "$label: all $(events_all) IOAM events carry the request's IDs (>= $min)" \
			[ "$(events_with "$TRACE" "$SPAN")" -eq "$(events_all)" ] && [ "$(events_all)" -ge $min ]
	else
		check "$label: not tagged ($(events_all) IOAM events)" [ "$(events_all)" -eq 0 ]
	fi
}

# 1. Loopback at its default MTU 65536.
topo_single "up$$" || { echo "FAIL: cannot build the namespace"; exit 1; }
L=$TOPO_S
ip netns exec "$L" python3 "$TMP/sink.py" "$PORT" >"$TMP/sink_l.log" 2>&1 &
topo_wait_port "$L" "$PORT" || { echo "FAIL: server did not start"; exit 1; }
upload_case "::1 mtu 65536" "$L" "$L" ::1 1 tagged "$L"
upload_case "::1 mtu 65536" "$L" "$L" ::1 16 tagged "$L"
read -r lmss mss ldst adst <<<"$(ip netns exec "$L" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" python3 "$TMP/listen.py")"
# The room: destination options of the response option's size (216 with the defaults, a
# CLT trailer v2) on the listener, and its accepted sockets' MSS fits their route with it.
check "a listener under the shim has the room (${ldst:-?} octets, 216 expected)" [ "${ldst:-0}" -eq 216 ]
check "... and the loopback clamp (TCP_MAXSEG ${lmss:-?}, 32737 expected)" [ "${lmss:-0}" -eq 32737 ]
check "... the socket it accepts has its MSS less the room (${mss:-?} <= $((32737 - 216)))" \
	[ "${mss:-99999}" -le $((32737 - 216)) ]
check "... and no room any more (${adst:-?} octets)" [ "${adst:-1}" -eq 0 ]
# A wildcard listener on a host with an address outside CLT_DOMAIN: its SYN-ACKs could leave
# the domain, so no room; the fixed clamp for a 1500-octet path, 1440 - 216.
ip -n "$L" addr add 2001:db8:99::1/128 dev lo
read -r lmss mss ldst adst <<<"$(ip netns exec "$L" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" python3 "$TMP/listen.py" ::)"
ip -n "$L" addr del 2001:db8:99::1/128 dev lo
check "a wildcard listener on a host outside the domain: no room (${ldst:-?}), TCP_MAXSEG ${lmss:-?} (1224)" \
	test "${ldst:-1}" -eq 0 -a "${lmss:-0}" -eq 1224
check "... and so is the socket it accepts (MSS ${mss:-?} <= 1224)" [ "${mss:-99999}" -le 1224 ]
read -r lmss mss ldst adst <<<"$(ip netns exec "$L" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" CLT_TAG_RESPONSES=0 python3 "$TMP/listen.py")"
check "CLT_TAG_RESPONSES=0: the listener is left alone (TCP_MAXSEG ${lmss:-?}, 536: unset; room ${ldst:-?})" \
	test "${lmss:-0}" -eq 536 -a "${ldst:-1}" -eq 0

# An HTTP request written on an accepted socket at MTU 1500 arrives whole.
cat >"$TMP/accepted.py" <<'EOF'
import os, socket, threading
l = socket.socket(socket.AF_INET6); l.bind(("::1", 0)); l.listen()
c = socket.create_connection(("::1", l.getsockname()[1])); a, _ = l.accept()
body = os.urandom(4 << 20)
got = []
def reader():
    n = 0
    while True:
        d = c.recv(1 << 16)
        if not d:
            break
        n += len(d)
    got.append(n)
t = threading.Thread(target=reader); t.start()
head = b"POST /x HTTP/1.1\r\nHost: x\r\ntraceparent: 00-%s-%s-01\r\nContent-Length: %d\r\n\r\n"
msg = head % (os.environ["T"].encode(), os.environ["S"].encode(), len(body)) + body
a.sendall(msg); a.shutdown(socket.SHUT_WR); t.join(30)
print("ok" if got == [len(msg)] else "short %s of %d" % (got, len(msg)))
EOF
ip -n "$L" link set lo mtu 1500
before=$(counters "$L")
out=$(ip netns exec "$L" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" T=$TRACE S=$SPAN timeout 60 python3 "$TMP/accepted.py")
read -r d _ <<<"$(counters "$L")"
set -- $before
check "a request on an accepted socket at MTU 1500 arrives whole (${out:-no answer})" [ "$out" = ok ]
check "... with no packet dropped ($((d - $1)))" [ $((d - $1)) -eq 0 ]
ip -n "$L" link set lo mtu 65536

# 2. Loopback with BIG TCP: packets over 64 KiB whatever the MSS; the shim leaves the socket untagged.
if ip -n "$L" link set lo gso_max_size 185000 gro_max_size 185000 2>/dev/null &&
	ip -d -n "$L" link show lo | grep -q 'gso_max_size 185000'; then
	: >"$TMP/shim.log"
	upload_case "::1 BIG TCP" "$L" "$L" ::1 16 untagged "$L"
	check "BIG TCP: the shim says why it did not tag" grep -q 'BIG TCP' "$TMP/shim.log"
	ip -n "$L" link set lo gso_max_size 65536 gro_max_size 65536
else
	echo "# skip: this kernel or iproute2 cannot raise lo's gso_max_size (BIG TCP)"
fi

# 3. A veth path at MTU 1500: client -- router -- server.
topo_three "uv$$" || { echo "FAIL: cannot build the veth topology"; exit 1; }
ip netns exec "$TOPO_S" python3 "$TMP/sink.py" "$PORT" >"$TMP/sink_v.log" 2>&1 &
topo_wait_port "$TOPO_S" "$PORT" || { echo "FAIL: server did not start"; exit 1; }
retrans_exact=0
upload_case "veth mtu 1500" "$TOPO_C" "$TOPO_S" "$TOPO_S_ADDR" 16 tagged "$TOPO_C" "$TOPO_R" "$TOPO_S"

[ $fails -eq 0 ] || { echo "$fails check(s) failed"; cat "$TMP/shim.log" 2>/dev/null | head -5; exit 1; }
echo "all checks passed"
