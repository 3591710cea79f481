# agent_helpers.sh - shared by tests/integration/agent_*.sh: start the
# OTLP receiver, cltagent and traffic sinks inside network namespaces,
# wait for spans. Source after tests/lib/topo.sh. check, fail, summary:
# tests/lib/harness.sh.

AG_TOP=${CLT_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
AG_BUILD=${BUILD:-build}
case $AG_BUILD in /*) ;; *) AG_BUILD=$AG_TOP/$AG_BUILD ;; esac
AG_AGENT=$AG_BUILD/cltagent
AG_SEND=$AG_BUILD/tests/tools/clt_send
AG_TMP=$(mktemp -d /tmp/cltagent-test.XXXXXX)
AG_PIDS=()
AG_N=0
# Upper bound, in seconds, for anything a test waits on (readiness, spans):
# generous, because a loaded CI machine is slow, and a wait that ends early
# on its signal costs nothing when the machine is idle.
AG_WAIT_S=${AG_WAIT_S:-20}

# shellcheck source=harness.sh
. "$AG_TOP/tests/lib/harness.sh"

ag_need_binaries() {
	local b
	for b in "$AG_AGENT" "$AG_SEND"; do
		[ -x "$b" ] || fail "$b is not built (make BUILD=... all tests)"
	done
}

ag_cleanup() {
	local p
	for p in "${AG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${AG_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	topo_cleanup
	rm -rf "$AG_TMP"
}

# ag_receiver NS PORT OUTFILE [receiver flags...]: OTLP/HTTP receiver on [::1]:PORT in NS.
ag_receiver() {
	local ns=$1 port=$2 out=$3
	shift 3
	rm -f "$AG_TMP/ready.$port"
	ip netns exec "$ns" python3 "$AG_TOP/tests/lib/otlp_receiver.py" --host ::1 --port "$port" \
		--out "$out" --ready "$AG_TMP/ready.$port" "$@" 2>>"$AG_TMP/receiver.$port.log" &
	AG_RCV_PID=$!
	AG_PIDS+=("$AG_RCV_PID")
	ag_wait_file "$AG_TMP/ready.$port" "$AG_RCV_PID" "OTLP receiver on port $port" \
		"$AG_TMP/receiver.$port.log"
	topo_wait_port "$ns" "$port" "$AG_WAIT_S" || fail "receiver on port $port does not listen"
}

# ag_wait_file FILE PID WHAT [LOG]: wait until FILE exists; fail (showing
# LOG) if PID exits first or AG_WAIT_S passes.
ag_wait_file() {
	local i
	for i in $(seq 1 $((AG_WAIT_S * 10))); do
		[ -e "$1" ] && return 0
		if ! kill -0 "$2" 2>/dev/null; then
			[ -n "${4:-}" ] && cat "$4"
			fail "$3 exited at start"
		fi
		sleep 0.1
	done
	[ -n "${4:-}" ] && cat "$4"
	fail "$3 not ready within $AG_WAIT_S s"
}

# ag_agent NS LOG [cltagent flags...]: start the agent in NS, logging to LOG,
# and return once it is ready (--ready-file: event group joined, exporter
# running), so that no event sent afterwards is missed.
# No tag socket unless the flags name one: the default path belongs to the
# host's own agent, not to a test's.
ag_agent() {
	local ns=$1 log=$2 ready
	shift 2
	AG_N=$((AG_N + 1))
	ready=$AG_TMP/agent.$AG_N.ready
	ip netns exec "$ns" "$AG_AGENT" --tag-socket none --ready-file "$ready" "$@" 2>"$log" &
	AG_PID=$!
	AG_PIDS+=("$AG_PID")
	ag_wait_file "$ready" "$AG_PID" cltagent "$log"
}

# ag_stop_agent: SIGTERM, wait; sets AG_RC and AG_STOP_S (seconds taken).
ag_stop_agent() {
	local t0=$SECONDS
	kill -TERM "$AG_PID"
	wait "$AG_PID"
	AG_RC=$?
	AG_STOP_S=$((SECONDS - t0))
}

# ag_sink NS ADDR PORT tcp|udp: swallow whatever arrives. Returns once the
# socket is bound (UDP) or listening (TCP): the sink creates a file then.
ag_sink() {
	local ready=$AG_TMP/sink.$4.$3.ready
	rm -f "$ready"
	ip netns exec "$1" python3 -c '
import socket, sys, threading
addr, port, proto, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if proto == "udp":
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind((addr, port))
    open(ready, "w").close()
    while True: s.recv(65535)
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port)); s.listen(16)
open(ready, "w").close()
def drain(c):
    while c.recv(65535): pass
while True:
    c, _ = s.accept(); threading.Thread(target=drain, args=(c,), daemon=True).start()
' "$2" "$3" "$4" "$ready" &
	AG_PIDS+=("$!")
	ag_wait_file "$ready" "$!" "$4 sink on port $3"
}

# ag_wait_spans FILE MIN SECONDS: wait until FILE holds at least MIN spans.
ag_wait_spans() {
	local i
	for i in $(seq 1 $(($3 * 10))); do
		[ "$(ag_count_spans "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

ag_count_spans() {
	PYTHONPATH=$AG_TOP/tests/lib python3 -c '
import sys; from otlp_receiver import load_spans; print(len(load_spans(sys.argv[1])))' "$1"
}

# ag_stat LOG NAME: a counter from the agent's last stats line.
ag_stat() {
	grep -o "stats .*" "$1" | tail -1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}
