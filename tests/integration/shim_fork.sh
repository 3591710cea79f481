#!/usr/bin/env bash
# shim_fork.sh - fork has one owner: libclt keeps its backend working in a
# child, the shim only its own locks. For each backend (hopopts, agent) a
# child's first request after fork, on a new connection, is tagged with its
# own IDs, and the child holds no descriptor of the parent's connection to
# cltagent (/proc/self/fd). Then: children forked while another thread
# keeps sending on a tracked socket (taking and releasing its lock) send on
# that socket with their own IDs set - no lock inherited held.
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
shim_setup "sf$$"
SOCK=$TMP/tag.sock

ip netns exec "$NS" "$AGENT" -o "$TMP/spans.jsonl" --tag-socket "$SOCK" 2>"$TMP/agent.log" &
AGENT_PID=$!
trap 'kill $AGENT_PID 2>/dev/null; wait $AGENT_PID 2>/dev/null; topo_cleanup; rm -rf "$TMP"; stage_cleanup' EXIT
for i in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { echo "FAIL: the agent did not create $SOCK: $(cat "$TMP/agent.log")"; exit 1; }

for backend in hopopts agent; do
	events_start "$TMP/ev.$backend"
	under_shim CLT_BACKEND=$backend CLT_AGENT_SOCKET="$SOCK" "$PROG" fork >"$TMP/out.$backend" 2>&1
	rc=$?
	SHOW_EVENTS=0 events_stop
	grep -v '^ids ' "$TMP/out.$backend" | sed "s/^/[$backend] /"
	check "$backend: shim_sends fork passed (rc=$rc)" [ $rc -eq 0 ]
	while read -r _ who trace span; do
		n=$(events_with "$trace" "$span")
		check "$backend: the $who's request is tagged with its IDs in the kernel's events ($n)" [ "$n" -ge 1 ]
	done < <(grep '^ids ' "$TMP/out.$backend")
done

under_shim CLT_BACKEND=hopopts "$PROG" forklock >"$TMP/out.lock" 2>&1
rc=$?
cat "$TMP/out.lock"
check "forklock passed (rc=$rc)" [ $rc -eq 0 ]
summary
