#!/usr/bin/env bash
# retpath_download.sh - a tagged 16 MiB response, over ::1 and over a veth
# path at MTU 1500 (client -- router -- server): the data arrives intact,
# the client's host counts no Ip6InHdrErrors, the server retransmits (tail
# loss probes aside) no more than for the same download untagged
# (CLT_TAG_RESPONSES=0) beyond a shared machine's noise (a few dozen, a
# few hundred under load: an option that did not fit would lose every
# full-size segment, over 13,000 here, or stall), and the
# response's packets did carry the option (kernel IOAM events at the client).
# The kernel does not fit an accepted socket's segments to an option set
# after the handshake: without the listener's room the veth download stalls.
# The room (a destination options header of the option's size on the
# listener) sizes each accepted socket for its own route: loopback keeps
# its large segments, a veth at MTU 1500 or 1280 gets segments that fit
# with the option (TCP_MAXSEG as the server saw it; no Ip6FragFails at the
# server), the SYN-ACK carries the room and no data segment does (an ACK the
# kernel sends before accept() returns may). The bpf backend at MTU 1500
# (the listener's fixed clamp), and at MTU 1280 the hopopts backend.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/shim_common.sh
F=$PWD/tests/lib/retpath_fixture.py
N=$((16 << 20))
TMP=$(mktemp -d)
trap 'topo_cleanup; rm -rf "$TMP"; stage_cleanup' EXIT
topo_three "rd$$" || fail "topology"
topo_ioam_if "$TOPO_R" r1 22 1 # the return path's ingress interfaces
topo_ioam_if "$TOPO_C" c0 11 1
topo_ioam_if "$TOPO_C" lo 1 1  # ::1 inside the client's namespace
SHA=$(python3 "$F" sha "$N")
TP=00-cccc0000000000000000000000000001-c100000000000001-01
stat_of() { ip netns exec "$1" nstat -az "$2" | awk -v k="$2" '$1 == k { print $2 }'; }
run() { # label ns addr env...
	local label=$1 ns=$2 addr=$3 port=$((8320 + RANDOM % 100)) pid rc
	shift 3
	ip netns exec "$ns" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" "$@" python3 "$F" server :: "$port" \
		>"$TMP/srv.$label.log" 2>&1 &
	pid=$!
	topo_wait_port "$ns" "$port" || fail "server ($label)"
	local r0 h0 p0 f0
	# Tail loss probes are retransmits too, sent when an ACK is late (a
	# loaded machine): not a packet lost. Counted apart.
	r0=$(stat_of "$ns" TcpRetransSegs)
	p0=$(stat_of "$ns" TcpExtTCPLossProbes)
	h0=$(stat_of "$TOPO_C" Ip6InHdrErrors)
	f0=$(stat_of "$ns" Ip6FragFails)
	EVENTS_FILE=$TMP/ev.$label
	ip netns exec "$TOPO_C" "$EVENTS_TOOL" >"$EVENTS_FILE" 2>/dev/null &
	local ev=$!
	sleep 0.3
	timeout 60 ip netns exec "$TOPO_C" python3 "$F" get "http://[$addr]:$port/bytes/$N" "$TP" "$SHA" \
		>"$TMP/get.$label"
	rc=$?
	sleep 0.3
	kill "$ev"; wait "$ev" 2>/dev/null
	kill "$pid"; wait "$pid" 2>/dev/null
	RETR=$(( $(stat_of "$ns" TcpRetransSegs) - r0 - ($(stat_of "$ns" TcpExtTCPLossProbes) - p0) ))
	HDRERR=$(( $(stat_of "$TOPO_C" Ip6InHdrErrors) - h0 ))
	FRAGF=$(( $(stat_of "$ns" Ip6FragFails) - f0 ))
	EVENTS=$(grep -c " dir=resp trace=${TP:3:32} " "$EVENTS_FILE")
	MSS=$(awk '$1 == "maxseg" { print $2; exit }' "$TMP/srv.$label.log")
	DSTOPTS=$(awk '$1 == "maxseg" { print $4; exit }' "$TMP/srv.$label.log")
	echo "# $label: rc=$rc retransmits=$RETR Ip6InHdrErrors=$HDRERR Ip6FragFails=$FRAGF maxseg=$MSS dstopts=$DSTOPTS IOAM events=$EVENTS $(cat "$TMP/get.$label")"
	return $rc
}
# ::1: the server in the client's namespace (one host).
run lo-plain "$TOPO_C" ::1 CLT_TAG_RESPONSES=0 || fail "untagged download over ::1"
base=$RETR
run lo-tagged "$TOPO_C" ::1
check "::1: tagged 16 MiB intact (sha256)" [ $? -eq 0 ]
check "::1: no Ip6InHdrErrors" [ "$HDRERR" = 0 ]
check "::1: retransmits $RETR, untagged $base: no more than the machine's noise" [ "$RETR" -le $((2 * base + 1000)) ]
check "::1: the response was tagged ($EVENTS IOAM events)" [ "${EVENTS:-0}" -ge 1 ]
# The fixed clamp for a 1500-octet path would make it 1212.
check "::1: the accepted socket's segments are loopback's (maxseg $MSS), its room gone" \
	test "${MSS:-0}" -ge 16384 -a "$DSTOPTS" = 0
run veth-plain "$TOPO_S" "$TOPO_S_ADDR" CLT_TAG_RESPONSES=0 || fail "untagged download over veth"
base=$RETR
# The handshake's packets with destination options, seen at the client.
ip netns exec "$TOPO_C" tcpdump -Z root --immediate-mode -i c0 -U -s 512 -w "$TMP/dst.pcap" \
	'ip6[6] = 60' 2>"$TMP/tcpdump.log" &
cap=$!
for i in $(seq 1 50); do grep -q listening "$TMP/tcpdump.log" && break; sleep 0.1; done
run veth-tagged "$TOPO_S" "$TOPO_S_ADDR"
rc=$?
sleep 0.2
kill "$cap"; wait "$cap" 2>/dev/null
DST_ALL=$(tcpdump -nr "$TMP/dst.pcap" 2>/dev/null | wc -l)
DST_SYNACK=$(tcpdump -nr "$TMP/dst.pcap" 2>/dev/null | grep -c 'Flags \[S\.\]')
# Before accept() returns the kernel may ACK the request with the room too: never data.
DST_DATA=$(tcpdump -nr "$TMP/dst.pcap" 2>/dev/null | grep -vc 'length 0$')
tcpdump -vnr "$TMP/dst.pcap" 2>/dev/null | head -4 | sed 's/^/# /'
check "veth: the SYN-ACK carries the room ($DST_SYNACK of $DST_ALL packets), no data segment ($DST_DATA)" \
	test "$DST_SYNACK" -ge 1 -a "$DST_DATA" = 0
check "veth MTU 1500: maxseg $MSS leaves room for the option (216) and no destination options" \
	test "$((MSS + 40 + 20 + 12 + 216))" -le 1500 -a "$DSTOPTS" = 0
check "veth MTU 1500: no Ip6FragFails at the server" [ "$FRAGF" = 0 ]
(exit $rc)
check "veth MTU 1500: tagged 16 MiB intact (sha256)" [ $? -eq 0 ]
check "veth MTU 1500: no Ip6InHdrErrors at the client" [ "$HDRERR" = 0 ]
check "veth MTU 1500: retransmits $RETR, untagged $base: no more than the machine's noise" [ "$RETR" -le $((2 * base + 1000)) ]
check "veth MTU 1500: the response was tagged ($EVENTS IOAM events)" [ "${EVENTS:-0}" -ge 1 ]
# The bpf backend at MTU 1500: the agent's room on the registered accepted
# socket does not lower its MSS either; the listener's clamp leaves room.
ip netns exec "$TOPO_S" "$PWD/$BUILD/cltagent" --bpf --tag-socket "$TMP/bpf.sock" --output /dev/null \
	--ready-file "$TMP/bpf.ready" --stats-interval 0 2>"$TMP/bpf-agent.log" &
AGENT=$!
for i in $(seq 1 100); do [ -e "$TMP/bpf.ready" ] && break; sleep 0.1; done
if [ -e "$TMP/bpf.ready" ]; then
	run veth-bpf "$TOPO_S" "$TOPO_S_ADDR" CLT_BACKEND=bpf CLT_AGENT_SOCKET="$TMP/bpf.sock"
	check "bpf, veth MTU 1500: tagged 16 MiB intact (sha256)" [ $? -eq 0 ]
	check "bpf, veth MTU 1500: maxseg $MSS leaves room for the program's header" \
		[ "$((MSS + 40 + 20 + 12 + 216))" -le 1500 ]
	check "bpf, veth MTU 1500: no Ip6InHdrErrors, no Ip6FragFails" test "$HDRERR" = 0 -a "$FRAGF" = 0
	check "bpf, veth MTU 1500: retransmits $RETR, untagged $base: no more than the machine's noise" \
		[ "$RETR" -le $((2 * base + 1000)) ]
	check "bpf, veth MTU 1500: the response was tagged ($EVENTS IOAM events)" [ "${EVENTS:-0}" -ge 1 ]
else
	check "cltagent --bpf started: $(tail -2 "$TMP/bpf-agent.log")" false
fi
kill "$AGENT"; wait "$AGENT" 2>/dev/null
# A path below 1500: the fixed clamp's full-size segments would not fit.
ip -n "$TOPO_S" link set s0 mtu 1280
ip -n "$TOPO_R" link set r1 mtu 1280
run veth1280-plain "$TOPO_S" "$TOPO_S_ADDR" CLT_TAG_RESPONSES=0 || fail "untagged download at MTU 1280"
base=$RETR
run veth1280-tagged "$TOPO_S" "$TOPO_S_ADDR"
check "veth MTU 1280: tagged 16 MiB intact (sha256)" [ $? -eq 0 ]
check "veth MTU 1280: maxseg $MSS leaves room for the option on the 1280-octet route" \
	test "$((MSS + 40 + 20 + 12 + 216))" -le 1280 -a "$DSTOPTS" = 0
check "veth MTU 1280: no Ip6InHdrErrors at the client, no Ip6FragFails at the server" \
	test "$HDRERR" = 0 -a "$FRAGF" = 0
check "veth MTU 1280: retransmits $RETR, untagged $base: no more than the machine's noise" \
	[ "$RETR" -le $((2 * base + 1000)) ]
check "veth MTU 1280: the response was tagged ($EVENTS IOAM events)" [ "${EVENTS:-0}" -ge 1 ]
summary
