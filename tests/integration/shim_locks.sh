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
PROG=$PWD/$BUILD/tests/tools/shim_sends
need_built "$PWD/$BUILD/cltagent" "$PROG"
shim_setup "sl$$"
SOCK=$TMP/tag.sock
trap 'agent_private_stop; topo_cleanup; rm -rf "$TMP"; stage_cleanup' EXIT
agent_private "$NS" "$SOCK" "$TMP/agent.log" -o "$TMP/spans.jsonl"

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
