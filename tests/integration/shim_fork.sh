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
PROG=$PWD/$BUILD/tests/tools/shim_sends
need_built "$PWD/$BUILD/cltagent" "$PROG"
shim_setup "sf$$"
SOCK=$TMP/tag.sock
trap 'agent_private_stop; topo_cleanup; rm -rf "$TMP"; stage_cleanup' EXIT
agent_private "$NS" "$SOCK" "$TMP/agent.log" -o "$TMP/spans.jsonl"

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
