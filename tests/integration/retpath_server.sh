#!/usr/bin/env bash
# retpath_server.sh - a server's responses under libclt_shim.so, checked in
# the kernel's IOAM events on ::1 (CLT_TRACING=off: the default mode, whose
# responses carry their request's own trace-id and parent-id):
#  - keep-alive: three requests with their own trace contexts and one
#    without on one connection: each response's packets carry its request's
#    IDs with the response flag, the one without none;
#  - CLT_TAG_RESPONSES=0: no response tagged;
#  - clients outside CLT_DOMAIN: no hop-by-hop header leaves (a capture);
#  - the agent backend (cltagent sets the option) and the bpf backend (its
#    tc program) carry the flag too, also on a reused descriptor whose
#    connection's first request had no context;
#  - the server's results are unchanged: the response's sha256 and every
#    call's return value or errno, with and without the shim.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/shim_common.sh
F=$PWD/tests/lib/retpath_fixture.py
TMP=$(mktemp -d)
trap 'topo_cleanup; rm -rf "$TMP"; stage_cleanup' EXIT
topo_single "rs$$" || fail "namespace"
NS=$TOPO_S
SRV_PID=
serve() { # port env...
	local port=$1
	shift
	ip netns exec "$NS" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" "$@" python3 "$F" server :: "$port" \
		>>"$TMP/server.log" 2>&1 &
	SRV_PID=$!
	topo_wait_port "$NS" "$port" || fail "server on $port did not start"
}
stop() { kill "$SRV_PID"; wait "$SRV_PID" 2>/dev/null; }
T1=00-bbbb0000000000000000000000000001-b100000000000001-01
T2=00-bbbb0000000000000000000000000002-b200000000000002-01
T3=00-bbbb0000000000000000000000000003-b300000000000003-01

# 1. Keep-alive, the client not under the shim: every IOAM event is a response's.
serve 8310
events_start "$TMP/ev1"
nsx python3 "$F" seq ::1 8310 "$TMP/ev1" 0.4 "$T1" - "$T2" "$T3" >"$TMP/win1" || fail "keep-alive client"
SHOW_EVENTS=6 events_stop
stop
check "keep-alive: each response carries its own request's IDs, the one without context none" \
	nsx python3 "$F" windows "$TMP/ev1" "$TMP/win1"
check "every event is a response's (dir=resp)" [ "$(grep -vc ' dir=resp ' "$TMP/ev1")" = 0 ]

# 2. CLT_TAG_RESPONSES=0.
serve 8311 CLT_TAG_RESPONSES=0
events_start "$TMP/ev2"
nsx python3 "$F" get "http://[::1]:8311/bytes/50000" "$T1" >/dev/null || fail "GET"
SHOW_EVENTS=0 events_stop
stop
check "CLT_TAG_RESPONSES=0: no response tagged ($(events_all) events)" [ "$(events_all)" = 0 ]

# 3. Clients outside CLT_DOMAIN: nothing tagged, nothing leaves with a hop-by-hop header.
nsx ip addr add fd00:77::1/128 dev lo
nsx ip addr add fd00:78::1/128 dev lo
serve 8312 CLT_DOMAIN=fd00:78::/64
# All of ip6: a 'tcp port' filter would skip the packets with a hop-by-hop header.
nsx tcpdump -i lo -nn -w "$TMP/cap.pcap" -U 'ip6' >/dev/null 2>&1 &
CAP=$!
sleep 0.5
events_start "$TMP/ev3"
# The server answers fd00:77::1 (outside) - then fd00:78::1 (inside) as a control.
nsx python3 -c '
import socket, sys
for src in ("fd00:77::1", "fd00:78::1"):
    s = socket.socket(socket.AF_INET6); s.bind((src, 0)); s.connect(("fd00:77::1", 8312))
    s.sendall(b"GET /bytes/30000 HTTP/1.1\r\nHost: x\r\ntraceparent: " + sys.argv[1].encode() + b"\r\nConnection: close\r\n\r\n")
    while s.recv(65536): pass
    s.close()' "$T2" || fail "client outside the domain"
SHOW_EVENTS=0 events_stop
sleep 0.3
kill "$CAP"; wait "$CAP" 2>/dev/null
stop
outside=$(nsx tcpdump -r "$TMP/cap.pcap" -nn 'ip6 and ip6[6] = 0 and dst host fd00:77::1' 2>/dev/null | wc -l)
inside=$(nsx tcpdump -r "$TMP/cap.pcap" -nn 'ip6 and ip6[6] = 0 and dst host fd00:78::1' 2>/dev/null | wc -l)
check "client outside CLT_DOMAIN: no packet towards it carries a hop-by-hop header (capture: $outside)" [ "$outside" = 0 ]
check "client inside CLT_DOMAIN: its responses do (capture: $inside, control)" [ "$inside" -ge 1 ]

# 4. The agent backend: cltagent applies the response's option (tag protocol v2, response flag).
"$PWD/$BUILD/cltagent" --help >/dev/null 2>&1 || fail "cltagent not built"
ip netns exec "$NS" "$PWD/$BUILD/cltagent" --tag-socket "$TMP/tag.sock" --output /dev/null \
	--ready-file "$TMP/agent.ready" --stats-interval 0 2>"$TMP/agent.log" &
AGENT=$!
for i in $(seq 1 100); do [ -e "$TMP/agent.ready" ] && break; sleep 0.1; done
serve 8314 CLT_BACKEND=agent CLT_AGENT_SOCKET="$TMP/tag.sock"
events_start "$TMP/ev5"
nsx python3 "$F" get "http://[::1]:8314/bytes/30000" "$T1" >/dev/null || fail "GET (agent backend)"
SHOW_EVENTS=0 events_stop
stop
kill "$AGENT"; wait "$AGENT" 2>/dev/null
check "agent backend: the response carries its request's IDs with the response flag ($(grep -c " dir=resp trace=bbbb0000000000000000000000000001 span=b100000000000001$" "$TMP/ev5") events)" \
	[ "$(grep -c " dir=resp trace=bbbb0000000000000000000000000001 span=b100000000000001$" "$TMP/ev5")" -ge 1 ]

# 5. The bpf backend: the tc program writes the slot's response flag into the trailer, and
# each response's first segment takes its own IDs (an accepted socket's ISN, by sequence).
ip netns exec "$NS" "$PWD/$BUILD/cltagent" --bpf --tag-socket "$TMP/bpf.sock" --output /dev/null \
	--ready-file "$TMP/bpf.ready" --stats-interval 0 2>"$TMP/bpf-agent.log" &
AGENT=$!
for i in $(seq 1 100); do [ -e "$TMP/bpf.ready" ] && break; sleep 0.1; done
if [ -e "$TMP/bpf.ready" ]; then
	serve 8315 CLT_BACKEND=bpf CLT_AGENT_SOCKET="$TMP/bpf.sock"
	events_start "$TMP/ev6"
	nsx python3 "$F" seq ::1 8315 "$TMP/ev6" 0.4 "$T1" - "$T2" >"$TMP/win6" || fail "keep-alive client (bpf)"
	# A second connection takes the first one's descriptor (closed by now: seq
	# waits before its first request) and its first request has no context:
	# its first tagged response starts past offset 0, on a new socket all the same.
	nsx python3 "$F" seq ::1 8315 "$TMP/ev6" 0.4 - "$T3" >"$TMP/win6b" || fail "second keep-alive client (bpf)"
	SHOW_EVENTS=0 events_stop
	stop
	check "bpf backend: each response its own IDs with the response flag, the one without context none" \
		nsx python3 "$F" windows "$TMP/ev6" "$TMP/win6"
	check "bpf backend: a reused descriptor's socket is registered again, its first tagged response past offset 0" \
		nsx python3 "$F" windows "$TMP/ev6" "$TMP/win6b"
else
	check "cltagent --bpf started: $(tail -2 "$TMP/bpf-agent.log")" false
fi
kill "$AGENT"; wait "$AGENT" 2>/dev/null

# 6. Unchanged results on the server side.
transcript() { # out preload...
	local out=$1
	shift
	ip netns exec "$NS" env "$@" python3 "$F" transcript ::1 8313 >"$out" 2>&1 &
	local pid=$!
	topo_wait_port "$NS" 8313 || fail "transcript server"
	nsx python3 "$F" fetch ::1 8313 "$T3" >"$out.sha" || fail "fetch"
	wait "$pid"
}
transcript "$TMP/plain" CLT_NONE=1
events_start "$TMP/ev4"
transcript "$TMP/shim" LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}"
SHOW_EVENTS=0 events_stop
sed 's/^/# /' "$TMP/shim"
check "the response is tagged under the shim ($(events_with bbbb0000000000000000000000000003 b300000000000003) events)" \
	[ "$(events_with bbbb0000000000000000000000000003 b300000000000003)" -ge 1 ]
check "same response bytes with and without the shim (sha256)" cmp -s "$TMP/plain.sha" "$TMP/shim.sha"
check "same return values and errno, call by call" cmp -s "$TMP/plain" "$TMP/shim"
summary
