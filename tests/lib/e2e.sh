# e2e.sh - the harness of the end-to-end tests (tests/integration/e2e_*.sh):
# real programs under the shim in the client namespace of topo_three, the
# origin server, the agent and an OTLP receiver in the server namespace, and
# assertions on the spans the agent exported. Source it from bash.
#
#   check, fail, summary    tests/lib/harness.sh
#   e2e_setup NAME          root check, three namespaces, work dir $E2E_W, cleanup trap
#   e2e_require_cmd CMD PKG fail (not skip) when a program of the matrix is missing
#   e2e_require_clt         fail unless the shim and the agent are built
#   e2e_origin PORT [NS]    origin server on [::]:PORT (log $E2E_W/origin.PORT.jsonl)
#   e2e_add_ipv4 / e2e_add_outside   IPv4, and an IPv6 prefix outside CLT_DOMAIN, to the topology
#   e2e_receiver NS PORT OUT  OTLP/HTTP receiver on [::1]:PORT inside NS
#   e2e_agent_start / e2e_agent_stop   cltagent in the server namespace
#   e2e_shim NS CMD...      run CMD in NS with the shim preloaded
#   e2e_tp                  a fresh random traceparent
#   e2e_check ARGS...       tests/lib/check_spans.py on the agent's spans
#   e2e_capture_start NS IF FILE / e2e_capture_stop   tcpdump
#   e2e_count_pcap FILE FILTER   packets of FILE matching FILTER ($E2E_HBH_FILTER)
#
# Everything the harness starts runs inside the test's namespaces, so the
# topology cleanup (an EXIT trap, also on failure) ends it.

E2E_TOP=${CLT_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$E2E_TOP/$BUILD ;; esac
E2E_SHIM=$BUILD/libcltshim.so
E2E_AGENT=$BUILD/cltagent
E2E_PY=${PYTHON:-python3}
E2E_OTLP_PORT=4318
E2E_PIDS=()
E2E_AGENT_PID=
E2E_CAPTURE_PID=
# Upper bound, in seconds, of every readiness wait: generous for a loaded CI
# machine; a wait ends as soon as its signal comes.
E2E_WAIT_S=${E2E_WAIT_S:-20}
# shellcheck source=topo.sh
. "$E2E_TOP/tests/lib/topo.sh"
# shellcheck source=stage.sh
. "$E2E_TOP/tests/lib/stage.sh"

# shellcheck source=harness.sh
. "$E2E_TOP/tests/lib/harness.sh"

e2e_say() { echo "== $*"; }

e2e_require_cmd() { # command debian-package
	command -v "$1" >/dev/null 2>&1 ||
		fail "$1 is not installed (Debian package $2; 'scripts/deps.sh test' installs it)"
}

e2e_require_clt() {
	[ -f "$E2E_SHIM" ] || fail "the shim is not built ($E2E_SHIM): run 'make BUILD=$(basename "$BUILD") all'"
	# Preloaded from a copy LD_PRELOAD can take (tests/lib/stage.sh).
	stage_shim || fail "cannot stage the shim under /tmp"
	E2E_SHIM=$SHIM
	[ -x "$E2E_AGENT" ] || fail "the agent is not built ($E2E_AGENT): run 'make BUILD=$(basename "$BUILD") all'"
}

e2e_cleanup() {
	local rc=$?
	[ -n "$E2E_CAPTURE_PID" ] && kill "$E2E_CAPTURE_PID" 2>/dev/null
	[ -n "$E2E_AGENT_PID" ] && kill "$E2E_AGENT_PID" 2>/dev/null
	local p
	for p in "${E2E_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	# Our servers end on SIGTERM; reap them before the namespaces go.
	for p in "${E2E_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	# The bpf backend's program counters, as the agent printed them at exit.
	[ "${E2E_BACKEND:-}" = bpf ] && grep -h 'bpf tagged=' "$E2E_W/bpf-agent.log" 2>/dev/null | tail -1
	topo_cleanup
	if [ $rc -ne 0 ] && [ -d "${E2E_W:-}" ]; then
		# Leave the evidence in the log of a failed run.
		for p in "$E2E_W"/agent.log "$E2E_W"/*.stderr; do
			[ -s "$p" ] || continue
			echo "--- $(basename "$p") (last lines)"
			tail -15 "$p"
		done
	fi
	[ -n "${E2E_KEEP:-}" ] && echo "work dir kept: $E2E_W" || rm -rf "${E2E_W:-/nonexistent}"
	stage_cleanup
}

e2e_setup() { # name
	topo_require_root
	E2E_W=$(mktemp -d "${TMPDIR:-/tmp}/clt-$1.XXXXXX")
	export E2E_W
	topo_three "e2$$" || fail "cannot build the client-router-server topology"
	# topo_three installs its own trap; ours also stops our processes first.
	trap e2e_cleanup EXIT
	e2e_say "topology: $TOPO_C ($TOPO_C_ADDR) -> $TOPO_R (IOAM node 2) -> $TOPO_S ($TOPO_S_ADDR, IOAM node 3)"
	[ "${E2E_BACKEND:-}" = bpf ] && e2e_bpf_start
	return 0
}

# E2E_BACKEND=bpf: the programs under the shim are tagged through the bpf
# backend: a cltagent --bpf in the client namespace (its own tag socket,
# no export) attaches the tc program there and hands out slot arrays.
e2e_bpf_start() {
	local ready=$E2E_W/bpf-agent.ready i
	E2E_BPF_SOCK=$E2E_W/bpf-tag.sock
	ip netns exec "$TOPO_C" "$E2E_AGENT" --bpf --tag-socket "$E2E_BPF_SOCK" --output /dev/null \
		--ready-file "$ready" >"$E2E_W/bpf-agent.log" 2>&1 &
	E2E_PIDS+=($!)
	for i in $(seq 1 $((E2E_WAIT_S * 10))); do
		[ -e "$ready" ] && { e2e_say "bpf backend: cltagent --bpf in $TOPO_C"; return 0; }
		sleep 0.1
	done
	e2e_fail "cltagent --bpf did not start: $(tail -3 "$E2E_W/bpf-agent.log")"
}

# Give the topology IPv4 too (the routers forward both): client 10.251.1.1,
# server 10.251.2.2. Only the "untouched" case needs it.
e2e_add_ipv4() {
	ip -n "$TOPO_C" addr add 10.251.1.1/24 dev c0 &&
		ip -n "$TOPO_R" addr add 10.251.1.2/24 dev r0 &&
		ip -n "$TOPO_R" addr add 10.251.2.1/24 dev r1 &&
		ip -n "$TOPO_S" addr add 10.251.2.2/24 dev s0 &&
		ip netns exec "$TOPO_R" sysctl -qw net.ipv4.ip_forward=1 &&
		ip -n "$TOPO_C" route add 10.251.2.0/24 via 10.251.1.2 &&
		ip -n "$TOPO_S" route add 10.251.1.0/24 via 10.251.2.1 || fail "cannot add IPv4 to the topology"
	local i
	for i in $(seq 1 30); do
		ip netns exec "$TOPO_C" ping -4 -c1 -W1 -q 10.251.2.2 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "IPv4: client cannot reach server"
}

# An IPv6 prefix outside CLT_DOMAIN (the documentation prefix, 2001:db8::/32):
# the server also answers on 2001:db8:2::2, routed through the router. The
# shim must never tag what goes there.
E2E_OUTSIDE_ADDR=2001:db8:2::2
e2e_add_outside() {
	ip -n "$TOPO_R" addr add 2001:db8:2::1/64 dev r1 nodad &&
		ip -n "$TOPO_S" addr add "$E2E_OUTSIDE_ADDR"/64 dev s0 nodad &&
		ip -n "$TOPO_C" -6 route add 2001:db8:2::/64 via fd00:1::2 ||
		fail "cannot add the outside prefix to the topology"
	local i
	for i in $(seq 1 30); do
		ip netns exec "$TOPO_C" ping -6 -c1 -W1 -q "$E2E_OUTSIDE_ADDR" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "the client cannot reach $E2E_OUTSIDE_ADDR"
}

e2e_wait_file() { # file seconds
	local i
	for i in $(seq 1 $(($2 * 10))); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# E2E_ORIGIN_ENV: VAR=value words to run it with (e.g. under the shim); its PID: $E2E_ORIGIN_PID.
e2e_origin() { # port [ns]   (E2E_ORIGIN_ARGS: more arguments, e.g. --cert/--key for HTTPS)
	local port=$1 ns=${2:-$TOPO_S}
	# shellcheck disable=SC2086
	ip netns exec "$ns" env ${E2E_ORIGIN_ENV:-} "$E2E_PY" "$E2E_TOP/tests/lib/origin_server.py" \
		--port "$port" ${E2E_ORIGIN_ARGS:-} \
		--log "$E2E_W/origin.$port.jsonl" --ready "$E2E_W/origin.$port.ready" \
		2>"$E2E_W/origin.$port.stderr" &
	E2E_ORIGIN_PID=$!
	E2E_PIDS+=($!)
	e2e_wait_file "$E2E_W/origin.$port.ready" "$E2E_WAIT_S" && topo_wait_port "$ns" "$port" "$E2E_WAIT_S" ||
		fail "origin server on port $port did not start"
	: >>"$E2E_W/origin.$port.jsonl"
}

e2e_receiver() { # ns port out
	ip netns exec "$1" "$E2E_PY" "$E2E_TOP/tests/lib/otlp_receiver.py" --host ::1 --port "$2" \
		--out "$3" --ready "$E2E_W/receiver.$1.$2.ready" 2>"$E2E_W/receiver.$2.stderr" &
	E2E_PIDS+=($!)
	e2e_wait_file "$E2E_W/receiver.$1.$2.ready" "$E2E_WAIT_S" || fail "OTLP receiver on port $2 did not start"
	: >>"$3"
}

# The agent in the server namespace exports to a receiver there, whose
# output is $E2E_W/agent.jsonl. Extra agent arguments: $E2E_AGENT_ARGS.
e2e_agent_start() {
	e2e_receiver "$TOPO_S" "$E2E_OTLP_PORT" "$E2E_W/agent.jsonl"
	local ready=$E2E_W/agent.ready i
	rm -f "$ready"
	# shellcheck disable=SC2086
	ip netns exec "$TOPO_S" env OTEL_EXPORTER_OTLP_ENDPOINT="http://[::1]:$E2E_OTLP_PORT" \
		OTEL_SERVICE_NAME=cltagent "$E2E_AGENT" --tag-socket none --ready-file "$ready" \
		${E2E_AGENT_ARGS:-} >"$E2E_W/agent.log" 2>&1 &
	E2E_AGENT_PID=$!
	# Ready once it holds the IOAM event group membership (--ready-file):
	# an event the kernel sends before that is lost to it.
	for i in $(seq 1 $((E2E_WAIT_S * 10))); do
		[ -e "$ready" ] && return 0
		kill -0 "$E2E_AGENT_PID" 2>/dev/null || fail "the agent exited at start: $(tail -3 "$E2E_W/agent.log")"
		sleep 0.1
	done
	fail "the agent was not ready within $E2E_WAIT_S s: $(tail -3 "$E2E_W/agent.log")"
}

# " INODE INODE ... ": the agent's sockets.
e2e_agent_sockets() {
	local f inodes=" "
	for f in /proc/"$E2E_AGENT_PID"/fd/*; do
		f=$(readlink "$f" 2>/dev/null) || continue
		case $f in socket:\[*\]) f=${f#socket:[}; inodes="$inodes${f%]} " ;; esac
	done
	echo "$inodes"
}

# e2e_agent_queued SOCKETS: octets of IOAM events queued, not yet read, on
# the agent's netlink sockets (the Rmem column of its namespace's
# /proc/net/netlink).
e2e_agent_queued() {
	awk -v want="$1" 'NR > 1 && index(want, " " $10 " ") { q += $5 } END { print q + 0 }' \
		/proc/"$E2E_AGENT_PID"/net/netlink 2>/dev/null || echo 0
}

# Wait until the agent has read every event: its netlink queue stays empty
# for E2E_SETTLE seconds (0.5), at most E2E_WAIT_S. A SIGTERM while events
# are still queued would lose them; a fixed sleep is too short when loaded.
e2e_agent_settle() {
	local i same=0 need socks
	need=$(awk -v s="${E2E_SETTLE:-0.5}" 'BEGIN { n = int(s * 10); print n < 1 ? 1 : n }')
	socks=$(e2e_agent_sockets)
	for i in $(seq 1 $((E2E_WAIT_S * 10))); do
		if [ "$(e2e_agent_queued "$socks")" = 0 ]; then
			same=$((same + 1))
			[ "$same" -ge "$need" ] && return 0
		else
			same=0
		fi
		sleep 0.1
	done
	fail "the agent still had unread events after $E2E_WAIT_S s"
}

# SIGTERM flushes: the agent posts what it aggregated, then exits 0.
e2e_agent_stop() {
	[ -n "$E2E_AGENT_PID" ] || return 0
	e2e_agent_settle
	kill -TERM "$E2E_AGENT_PID" 2>/dev/null
	local rc=0
	wait "$E2E_AGENT_PID" || rc=$?
	E2E_AGENT_PID=
	[ $rc -eq 0 ] || fail "the agent exited with status $rc on SIGTERM: $(tail -3 "$E2E_W/agent.log")"
	grep 'stats ' "$E2E_W/agent.log" | tail -1
	# The receiver writes each accepted request at once; nothing to wait for.
}

e2e_shim() { # ns cmd...
	local ns=$1 bpf=()
	shift
	[ "${E2E_BACKEND:-}" = bpf ] && bpf=(CLT_BACKEND=bpf CLT_AGENT_SOCKET="$E2E_BPF_SOCK")
	ip netns exec "$ns" env LD_PRELOAD="$E2E_SHIM" CLT_LOG="${CLT_LOG:-warn}" "${bpf[@]}" "$@"
}

e2e_hex() { # octets
	od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

e2e_tp() {
	echo "00-$(e2e_hex 16)-$(e2e_hex 8)-01"
}

e2e_check() {
	"$E2E_PY" "$E2E_TOP/tests/lib/check_spans.py" --agent "$E2E_W/agent.jsonl" "$@"
}

e2e_capture_start() { # ns ifname file
	ip netns exec "$1" tcpdump -n -U --immediate-mode -i "$2" -w "$3" 2>"$E2E_W/tcpdump.stderr" &
	E2E_CAPTURE_PID=$!
	E2E_CAPTURE_FILE=$3
	local i
	for i in $(seq 1 50); do
		grep -q "listening on" "$E2E_W/tcpdump.stderr" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "tcpdump did not start: $(cat "$E2E_W/tcpdump.stderr")"
}

# Stop once the capture file has not grown for 0.3 s (at most E2E_WAIT_S):
# tcpdump writes each packet at once (-U), so a still file means it is done.
e2e_capture_stop() {
	[ -n "$E2E_CAPTURE_PID" ] || return 0
	local i same=0 last=-1 now
	for i in $(seq 1 $((E2E_WAIT_S * 10))); do
		now=$(stat -c %s "$E2E_CAPTURE_FILE" 2>/dev/null || echo 0)
		if [ "$now" = "$last" ]; then
			same=$((same + 1))
			[ $same -ge 3 ] && break
		else
			same=0
			last=$now
		fi
		sleep 0.1
	done
	kill -INT "$E2E_CAPTURE_PID" 2>/dev/null
	wait "$E2E_CAPTURE_PID" 2>/dev/null
	E2E_CAPTURE_PID=
}

e2e_count_pcap() { # file filter
	tcpdump -n -r "$1" "$2" 2>/dev/null | wc -l
}

# The BPF filter for "IPv6 with a hop-by-hop header in front of the
# transport": next header 0, and the header after it is not ICMPv6 (MLD
# reports carry a router-alert hop-by-hop header of their own).
E2E_HBH_FILTER='ip6[6] == 0 and ip6[40] != 58'


# "REQUESTS CONNECTIONS" that reached origin PORT under path PREFIX: tells
# whether a client really kept its connection alive (or nginx reused its
# upstream connection).
e2e_origin_conns() { # port prefix
	"$E2E_PY" - "$E2E_W/origin.$1.jsonl" "$2" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
recs = [r for r in recs if r["path"].startswith(sys.argv[2])]
print(len(recs), len({(r["peer"], r["port"]) for r in recs}))
PY
}

# Fail when the shim logged an error or a warning into any of FILES (its
# lines read "clt-shim[PID]: LEVEL: ...").
e2e_no_shim_errors() { # files...
	local bad
	bad=$(cat "$@" 2>/dev/null | grep -E 'clt-shim\[[0-9]+\]: (error|warn):')
	[ -z "$bad" ] || fail "the shim reported: $(echo "$bad" | head -3)"
	echo "ok: no error or warning from the shim"
}
