#!/usr/bin/env bash
# agent_check.sh - cltagent --check and clt-check against the real kernel:
# client -> router -> server, the agent in the server's namespace. Set up
# right, every line is ok or a note and both exit 0. Then one fault at a
# time, each undone before the next: IOAM off on the server's ingress
# interface, the IOAM namespace missing, the agent without CAP_NET_ADMIN
# (the checking process itself, and a running agent read through
# /proc/PID/status), the export endpoint down, the peer outside
# CLT_DOMAIN. Each time exactly one line is a problem, the one about that
# fault, and it says what to run to fix it; the exit status is 1.
set -u
. "$(dirname "$0")/../lib/topo.sh"
. "$(dirname "$0")/../lib/agent_helpers.sh"
. "$(dirname "$0")/../lib/stage.sh"
topo_require_root
ag_need_binaries
command -v setpriv >/dev/null || { echo "SKIP: setpriv (util-linux) not installed"; exit 77; }
CHECK=$AG_BUILD/clt-check
[ -x "$CHECK" ] || ag_fail "$CHECK is not built"
stage_shim || ag_fail "cannot stage the shim"
topo_three "ck$$" || ag_fail "topology"
trap ag_cleanup EXIT
C=$TOPO_C S=$TOPO_S
EP="http://[::1]:4318/v1/traces"
ag_receiver "$S" 4318 "$AG_TMP/spans.jsonl"
ag_agent "$S" "$AG_TMP/agent.log" -e "$EP"
READY=$AG_TMP/agent.$AG_N.ready
OUT=$AG_TMP/check.out

# agent_check [CMD-PREFIX...] -- [cltagent flags...]: cltagent --check in the server's namespace.
agent_check() {
	local pre=()
	while [ "$1" != -- ]; do pre+=("$1"); shift; done
	shift
	ip netns exec "$S" "${pre[@]}" "$AG_AGENT" --check --tag-socket none -e "$EP" "$@" >"$OUT" 2>&1
	RC=$?
}

# client_check [ENV=VALUE...]: clt-check in the client's namespace, under the shim.
client_check() {
	ip netns exec "$C" env LD_PRELOAD="$SHIM" "$@" "$CHECK" --peer "$TOPO_S_ADDR" >"$OUT" 2>&1
	RC=$?
}

# all_ok WHAT: exit 0, no problem line.
all_ok() {
	if [ "$RC" -ne 0 ] || grep -q '^problem' "$OUT"; then
		cat "$OUT"
		ag_fail "$1: expected no problem and exit 0 (exit $RC)"
	fi
	echo "checked: $1: exit 0, $(grep -c '^ok' "$OUT") ok lines, no problem"
}

# one_problem WHAT REGEX: exit 1, exactly one problem line, matching REGEX and saying the fix.
one_problem() {
	local n
	n=$(grep -c '^problem' "$OUT")
	if [ "$RC" -ne 1 ] || [ "$n" -ne 1 ] || ! grep '^problem' "$OUT" | grep -Eq -- "$2" ||
		! grep '^problem' "$OUT" | grep -q 'fix: '; then
		cat "$OUT"
		ag_fail "$1: expected exit 1 and one problem line matching /$2/ with a fix (exit $RC, $n problems)"
	fi
	echo "checked: $1: $(grep '^problem' "$OUT" | cut -c1-150)..."
}

agent_check -- --ready-file "$READY"
all_ok "cltagent --check, set up right"
grep -q "^ok      agent: running, pid $AG_PID" "$OUT" || { cat "$OUT"; ag_fail "running agent not found"; }
grep -q "^ok      capabilities: agent pid $AG_PID has CAP_NET_ADMIN" "$OUT" || { cat "$OUT"; ag_fail "agent capabilities"; }
grep -q '^ok      namespace: IOAM namespace 123 configured' "$OUT" || { cat "$OUT"; ag_fail "namespace line"; }
grep -q '^ok      interface s0: IOAM on (ioam6_enabled=1), interface id 31' "$OUT" || { cat "$OUT"; ag_fail "s0 line"; }
grep -q '^ok      node: IOAM node id 3 ' "$OUT" || { cat "$OUT"; ag_fail "node id line"; }
grep -q '^ok      export: http://\[::1\]:4318/v1/traces accepts' "$OUT" || { cat "$OUT"; ag_fail "export line"; }
client_check
all_ok "clt-check --peer $TOPO_S_ADDR under the shim, set up right"
grep -q '^ok      shim: libcltshim.so loaded' "$OUT" || { cat "$OUT"; ag_fail "shim line"; }
grep -q '^ok      route: fd00:2::2 leaves through c0 via fd00:1::2' "$OUT" || { cat "$OUT"; ag_fail "route line"; }
grep -q '^ok      tagging: a socket connected to fd00:2::2 takes the IOAM option' "$OUT" ||
	{ cat "$OUT"; ag_fail "tagging line"; }

# 1. IOAM off on the server's ingress interface.
topo_ioam_if "$S" s0 31 0
agent_check -- --ready-file "$READY"
one_problem "IOAM off on s0" '^problem interfaces: IOAM is on no interface.*\(s0\)'
topo_ioam_if "$S" s0 31 1

# 2. The IOAM namespace missing.
ip netns exec "$S" ip ioam namespace del 123
agent_check -- --ready-file "$READY"
one_problem "IOAM namespace missing" '^problem namespace: IOAM namespace 123 not configured.*fix: ip ioam namespace add 123'
ip netns exec "$S" ip ioam namespace add 123

# 3a. The agent without CAP_NET_ADMIN: with no agent running (its --ready-file
# not there), the check runs with the rights the agent would have.
agent_check setpriv --inh-caps=-net_admin --bounding-set=-net_admin -- --ready-file "$AG_TMP/none.ready"
one_problem "no CAP_NET_ADMIN (this process)" '^problem capabilities: this process .*lacks CAP_NET_ADMIN'
grep -q '^unknown namespace: cannot list IOAM namespaces without CAP_NET_ADMIN' "$OUT" ||
	{ cat "$OUT"; ag_fail "without CAP_NET_ADMIN the namespace line should be unknown"; }

# 3b. A running agent without CAP_NET_ADMIN (capturing, which needs only
# CAP_NET_RAW), checked against a netlink configuration: read from /proc/PID/status.
ip netns exec "$S" setpriv --inh-caps=-net_admin --bounding-set=-net_admin "$AG_AGENT" --tag-socket none \
	-s capture:s0 -o /dev/null --ready-file "$AG_TMP/weak.ready" 2>"$AG_TMP/weak.log" &
WEAK=$!
AG_PIDS+=("$WEAK")
ag_wait_file "$AG_TMP/weak.ready" "$WEAK" "agent without CAP_NET_ADMIN" "$AG_TMP/weak.log"
agent_check -- --ready-file "$AG_TMP/weak.ready"
one_problem "running agent without CAP_NET_ADMIN" "^problem capabilities: agent pid $WEAK lacks CAP_NET_ADMIN"
kill "$WEAK"

# 4. The peer outside CLT_DOMAIN (the program's view).
client_check CLT_DOMAIN=fd00:9::/64
one_problem "peer outside CLT_DOMAIN" '^problem domain: fd00:2::2 is outside CLT_DOMAIN=fd00:9::/64.*fix: CLT_DOMAIN=fd00:9::/64,fd00:2::2/128'

# 5. The export endpoint down.
kill "$AG_RCV_PID"
wait "$AG_RCV_PID" 2>/dev/null
agent_check -- --ready-file "$READY"
one_problem "endpoint down" '^problem export: http://\[::1\]:4318/v1/traces unreachable'

# Without the shim, clt-check says so (and that is the only problem).
ip netns exec "$C" "$CHECK" --peer "$TOPO_S_ADDR" >"$OUT" 2>&1
RC=$?
one_problem "clt-check without the shim" '^problem shim: not loaded.*fix: .*LD_PRELOAD='
echo "PASS"
