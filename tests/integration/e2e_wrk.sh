#!/usr/bin/env bash
# e2e_wrk.sh - wrk under the shim, end to end: a Lua script gives every
# request its own traceparent, over 4 kept-alive connections, for a bounded
# number of requests. The number of distinct parents among the exported
# network spans must equal the number of traced requests that reached the
# origin, unless the agent counted drops that explain the difference.
set -u
. "$(dirname "$0")/../lib/e2e.sh"
topo_require_root
e2e_require_cmd wrk wrk
e2e_require_clt
e2e_setup wrk
echo "wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
per_thread=${E2E_WRK_PER_THREAD:-150}

e2e_origin 8080
e2e_agent_start
e2e_say "wrk -t2 -c4, $per_thread responses per thread, a distinct traceparent per request"
e2e_shim "$TOPO_C" wrk -t2 -c4 -d3s -s "$E2E_TOP/tests/lib/traceparent.lua" \
	"http://[$TOPO_S_ADDR]:8080/" -- "$per_thread" "$(e2e_hex 4)" >"$E2E_W/wrk.out" 2>"$E2E_W/wrk.stderr" ||
	fail "wrk failed: $(cat "$E2E_W/wrk.stderr")"
sed 's/^/  wrk| /' "$E2E_W/wrk.out"
grep -q 'Socket errors' "$E2E_W/wrk.out" && fail "wrk saw socket errors"
grep -q 'Non-2xx' "$E2E_W/wrk.out" && fail "wrk saw non-2xx answers"
done_wrk=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$E2E_W/wrk.out")
read -r nreq nconn <<<"$(e2e_origin_conns 8080 /wrk/)"
echo "wrk completed $done_wrk requests; the origin received $nreq over $nconn connection(s)"
[ "$nreq" -ge $((2 * per_thread)) ] || fail "fewer requests than expected reached the origin"
[ "$nconn" -le 4 ] || fail "wrk opened $nconn connections (expected 4 kept alive)"

e2e_agent_stop
# Drops the agent counted (spans dropped or refused, events lost to a full
# socket buffer) may explain missing spans, and nothing else may.
# A connection closed after the agent's idle timeout (wrk closes them at
# the end of its run) still carries its last request's IDs: the agent counts
# those packets as late, and no request may have a second network span.
# Its exit stats line: "stats events= ... dropped= failed= loss=".
drops=$(grep 'stats ' "$E2E_W/agent.log" | tail -1 | grep -oE '(dropped|failed|loss)=[0-9]+' |
	cut -d= -f2 | awk '{ s += $1 } END { print s + 0 }')
echo "drops counted by the agent: $drops"
e2e_check --origin "$E2E_W/origin.8080.jsonl" --path-prefix /wrk/ --min-requests "$((2 * per_thread))" \
	--allow-missing "$drops" || fail "the exported spans do not match the requests"
e2e_no_shim_errors "$E2E_W/wrk.stderr"
late=$(grep 'stats ' "$E2E_W/agent.log" | tail -1 | grep -oE 'late=[0-9]+' | cut -d= -f2)
echo "late traces counted by the agent (not exported again): ${late:-none}"
[ -n "$late" ] || fail "the agent's stats line has no late= counter"
echo "PASS: wrk: $nreq traced requests over $nconn connections -> as many distinct parents in the network spans"
