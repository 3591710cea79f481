#!/usr/bin/env bash
# shim_locks.sh - a send waiting for cltagent blocks nobody else: thread A
# changes its socket's IDs through the agent backend while cltagent is
# stopped (SIGSTOP; CLT_AGENT_TIMEOUT_MS=10000, so A waits); meanwhile
# another thread's sends on an already tagged socket, a close() of a
# third tracked socket and a fork() must all return before A's send does.
# The order is asserted, not a time. Once the agent continues, A's request
# leaves tagged with its new IDs.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/shim_common.sh
AGENT=$PWD/$BUILD/cltagent
PROG=$PWD/$BUILD/tests/tools/shim_sends
for f in "$AGENT" "$PROG"; do
	[ -x "$f" ] || { echo "FAIL: $f missing (make BUILD=$BUILD all tests)"; exit 1; }
done
shim_setup "sl$$"
SOCK=$TMP/tag.sock

ip netns exec "$NS" "$AGENT" -o "$TMP/spans.jsonl" --tag-socket "$SOCK" 2>"$TMP/agent.log" &
AGENT_PID=$!
trap 'kill -CONT $AGENT_PID 2>/dev/null; kill $AGENT_PID 2>/dev/null; wait $AGENT_PID 2>/dev/null; topo_cleanup; rm -rf "$TMP"; stage_cleanup' EXIT
for i in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { echo "FAIL: the agent did not create $SOCK: $(cat "$TMP/agent.log")"; exit 1; }

events_start "$TMP/ev"
under_shim CLT_BACKEND=agent CLT_AGENT_SOCKET="$SOCK" CLT_AGENT_TIMEOUT_MS=10000 \
	"$PROG" lock "$AGENT_PID" >"$TMP/out" 2>&1
rc=$?
kill -CONT "$AGENT_PID" 2>/dev/null
SHOW_EVENTS=0 events_stop
grep -v '^ids ' "$TMP/out"
check "shim_sends lock passed (rc=$rc)" [ $rc -eq 0 ]
read -r _ _ TA SA < <(grep '^ids A2 ' "$TMP/out")
read -r _ _ TB SB < <(grep '^ids B ' "$TMP/out")
check "B's requests left tagged with B's IDs ($(events_with "$TB" "$SB") events)" \
	[ "$(events_with "$TB" "$SB")" -ge 2 ]
check "A's request left tagged with its new IDs once the agent answered ($(events_with "$TA" "$SA") events)" \
	[ "$(events_with "$TA" "$SA")" -ge 1 ]
summary
