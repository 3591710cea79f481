#!/usr/bin/env bash
# tagd_hostile.sh - cltagent's tag socket under attack by an unprivileged
# client (tests/lib/tagd_hostile.py, as nobody): bogus descriptors,
# garbage, wrong sizes, disconnects mid-request, floods, too many
# connections. The agent refuses and counts them, keeps running, keeps
# exporting IOAM spans, and keeps tagging for well-behaved programs.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
command -v setpriv >/dev/null || { echo "SKIP: setpriv (util-linux) not installed"; exit 77; }
. tests/lib/shim_common.sh
AGENT=$PWD/$BUILD/cltagent
SEND=$PWD/$BUILD/tests/tools/clt_send
[ -x "$AGENT" ] && [ -x "$SEND" ] || { echo "FAIL: cltagent or clt_send missing (make BUILD=$BUILD all tests)"; exit 1; }
shim_setup "td$$"

W=$TMP/w
mkdir -m 0755 "$W"
chmod 0711 "$TMP"
SOCK=$W/tag.sock
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)
ip netns exec "$NS" "$AGENT" -o "$TMP/spans.jsonl" --idle-timeout 200ms --batch-timeout 200ms \
	--tag-socket "$SOCK" --tag-group nogroup --tag-max-conns 64 -v 2>"$TMP/agent.log" &
AGENT_PID=$!
for i in $(seq 1 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { echo "FAIL: agent did not start: $(cat "$TMP/agent.log")"; exit 1; }

T1=7a1b2c3d4e5f60718293a4b5c6d7e8f9 S1=3c4d5e6f70819203
T2=8b2c3d4e5f60718293a4b5c6d7e8f90a S2=4d5e6f7081920314
URL="http://[::1]:$SHIM_PORT/"
tagged_curl() { # trace span
	nsx "${NOBODY[@]}" env LD_PRELOAD="$SHIM" CLT_AGENT_SOCKET="$SOCK" \
		curl -sf -o /dev/null -H "traceparent: 00-$1-$2-01" "$URL"
}

check "before: a request as nobody is tagged through the agent" tagged_curl $T1 $S1
# Run from a copy: nobody may not read the checkout (tests/lib/stage.sh).
HOSTILE=$(stage_file tests/lib/tagd_hostile.py) || { echo "FAIL: cannot stage tagd_hostile.py"; exit 1; }
nsx "${NOBODY[@]}" /usr/bin/python3 "$HOSTILE" "$SOCK" >"$TMP/hostile.out" 2>&1
rc=$?
sed 's/^/# hostile: /' "$TMP/hostile.out"
check "every hostile probe was refused with the expected error (rc=$rc)" [ $rc -eq 0 ]
check "the agent is still running" kill -0 "$AGENT_PID"
events_start "$TMP/ev"
check "after: a request as nobody is still tagged" tagged_curl $T2 $S2
events_stop
check "after: its IOAM events carry its IDs ($(events_with $T2 $S2)/$(events_all))" \
	[ "$(events_with $T2 $S2)" -ge 1 -a "$(events_with $T2 $S2)" -eq "$(events_all)" ]
for i in $(seq 1 30); do grep -q "$T2" "$TMP/spans.jsonl" 2>/dev/null && break; sleep 0.2; done
check "IOAM export kept working: spans for both requests" \
	[ "$(grep -c "$T1" "$TMP/spans.jsonl")" -ge 1 -a "$(grep -c "$T2" "$TMP/spans.jsonl")" -ge 1 ]
nfd=$(ls /proc/"$AGENT_PID"/fd | wc -l)
check "agent holds few descriptors after the attack ($nfd)" [ "$nfd" -lt 40 ]

kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
arc=$?
line=$(grep -o "tag requests.*" "$TMP/agent.log" | tail -1)
echo "# $line"
stat_of() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
check "agent exited cleanly (rc=$arc)" [ $arc -eq 0 ]
check "rejected requests counted ($(stat_of rejected) >= 12)" [ "$(stat_of rejected)" -ge 12 ]
check "flood and connection cap handled: dropped=$(stat_of dropped) limited=$(stat_of limited)" \
	[ "$(stat_of dropped)" -ge 1 ]
check "well-formed requests served (tagged=$(stat_of tagged))" [ "$(stat_of tagged)" -ge 2 ]

summary
