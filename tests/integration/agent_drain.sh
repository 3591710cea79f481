#!/usr/bin/env bash
# agent_drain.sh - SIGTERM loses no event the kernel already queued for the
# agent: with the agent stopped (SIGSTOP), tagged packets pile up on its
# netlink socket; then SIGTERM + SIGCONT. Every one of them must be counted
# and end up in the exported request span before the agent exits.
set -u
. "$(dirname "$0")/../lib/topo.sh"
. "$(dirname "$0")/../lib/agent_helpers.sh"
topo_require_root
ag_need_binaries
topo_single "agd$$" || fail "topology"
trap ag_cleanup EXIT
NS=$TOPO_S
OUT=$AG_TMP/spans.jsonl
N=200
ag_sink "$NS" ::1 9000 udp
ag_agent "$NS" "$AG_TMP/agent.log" --output "$OUT" --idle-timeout 10s
kill -STOP "$AG_PID"
CLT_BACKEND=hopopts ip netns exec "$NS" "$AG_SEND" -u -n "$N" ::1 9000 \
	4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7 || fail "clt_send"
echo "# $N tagged packets sent while the agent was stopped"
kill -TERM "$AG_PID"
kill -CONT "$AG_PID"
wait "$AG_PID"
rc=$?
cat "$AG_TMP/agent.log" | sed 's/^/# agent: /'
[ $rc -eq 0 ] || fail "agent exit status $rc"
events=$(ag_stat "$AG_TMP/agent.log" events)
[ "${events:-0}" -eq "$N" ] || fail "agent counted ${events:-0} events, want $N"
echo "checked: all $N queued events read after SIGTERM"
pkts=$(PYTHONPATH=$AG_TOP/tests/lib python3 -c '
import sys
from otlp_receiver import load_spans
net = [s for s in load_spans(sys.argv[1]) if s["attrs"].get("ioam.packets") is not None and s["parentSpanId"] == "00f067aa0ba902b7"]
print(sum(int(s["attrs"]["ioam.packets"]) for s in net))' "$OUT")
[ "$pkts" -eq "$N" ] || fail "exported network span holds $pkts packets, want $N"
echo "checked: the exported network span holds all $N packets"
echo "all checks passed"
