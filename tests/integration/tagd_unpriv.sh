#!/usr/bin/env bash
# tagd_unpriv.sh - an unprivileged program (uid nobody, no capabilities)
# under libcltshim.so gets its requests tagged through cltagent's tag
# socket: the kernel's IOAM events and the agent's spans carry the
# request's IDs. Control: the same program with the hopopts backend gets
# nothing (EPERM). With the agent stopped, the program works the same,
# untagged, with exactly one warning. A program started before the agent
# is tagged once the agent is up.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
command -v setpriv >/dev/null || { echo "SKIP: setpriv (util-linux) not installed"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
. tests/lib/shim_common.sh
AGENT=$PWD/$BUILD/cltagent
[ -x "$AGENT" ] || { echo "FAIL: $AGENT missing (make BUILD=$BUILD all tests)"; exit 1; }
shim_setup "td$$"

T1=5e1f0a2b3c4d5e6f708192a3b4c5d6e7 S1=1a2b3c4d5e6f7081
T2=6f2e1d0c9b8a79685746352413021f0e S2=2b3c4d5e6f708192
URL="http://[::1]:$SHIM_PORT/"
W=$TMP/tag
mkdir -m 0755 "$W"
chmod 0711 "$TMP" # nobody may reach the socket, not list the directory
SOCK=$W/tag.sock
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)
# as_nobody ENV... -- CMD...: run in the namespace as nobody under the shim.
as_nobody() {
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	nsx "${NOBODY[@]}" env LD_PRELOAD="$SHIM" CLT_AGENT_SOCKET="$SOCK" "${envs[@]}" "$@"
}

agent_start() {
	ip netns exec "$NS" "$AGENT" -o "$TMP/spans.jsonl" --idle-timeout 200ms --batch-timeout 200ms \
		--tag-socket "$SOCK" --tag-group nogroup 2>"$TMP/agent.log" &
	AGENT_PID=$!
	local i
	for i in $(seq 1 50); do [ -S "$SOCK" ] && return 0; sleep 0.1; done
	echo "FAIL: the agent did not create $SOCK: $(cat "$TMP/agent.log")"
	exit 1
}

agent_start
check "tag socket is mode 660, group nogroup ($(stat -c '%a %G' "$SOCK"))" \
	[ "$(stat -c '%a %G' "$SOCK")" = "660 nogroup" ]
capeff=$(nsx "${NOBODY[@]}" grep CapEff /proc/self/status | awk '{print $2}')
check "the program runs as nobody with no effective capability (CapEff=$capeff)" \
	[ "$capeff" = 0000000000000000 ]

# Control: the sticky option needs CAP_NET_RAW, so hopopts as nobody tags nothing.
events_start "$TMP/ev0"
as_nobody CLT_BACKEND=hopopts -- curl -sf -o /dev/null -H "traceparent: 00-$T1-$S1-01" "$URL"
rc=$?
events_stop
check "control: hopopts as nobody: request succeeds (rc=$rc), no IOAM events at all ($(events_all))" \
	[ $rc -eq 0 -a "$(events_all)" -eq 0 ]

# Auto as nobody: no CAP_NET_RAW, the agent answers: the agent backend.
events_start "$TMP/ev1"
as_nobody CLT_LOG=info -- curl -sf -H "traceparent: 00-$T1-$S1-01" "$URL" >"$TMP/body1" 2>"$TMP/log1"
rc=$?
events_stop
sed 's/^/# shim: /' "$TMP/log1" | head -3
check "auto as nobody picks the agent backend" grep -q "backend agent: " "$TMP/log1"
check "request succeeds (rc=$rc)" [ $rc -eq 0 ]
check "kernel IOAM events carry trace=$T1 span=$S1 ($(events_with $T1 $S1)/$(events_all))" \
	[ "$(events_with $T1 $S1)" -ge 1 -a "$(events_with $T1 $S1)" -eq "$(events_all)" ]

# A second request, new connection, new IDs.
events_start "$TMP/ev2"
as_nobody -- curl -sf -o /dev/null -H "traceparent: 00-$T2-$S2-01" "$URL"
events_stop
check "second request: events carry trace=$T2 ($(events_with $T2 $S2)/$(events_all))" \
	[ "$(events_with $T2 $S2)" -ge 1 -a "$(events_with $T2 $S2)" -eq "$(events_all)" ]

for i in $(seq 1 30); do grep -q "$T2" "$TMP/spans.jsonl" 2>/dev/null && break; sleep 0.2; done
check "the agent exported spans for both traces ($(grep -c "$T1" "$TMP/spans.jsonl"), $(grep -c "$T2" "$TMP/spans.jsonl") lines)" \
	[ "$(grep -c "$T1" "$TMP/spans.jsonl")" -ge 1 -a "$(grep -c "$T2" "$TMP/spans.jsonl")" -ge 1 ]

kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
grep "tag requests" "$TMP/agent.log" | sed 's/^/# /'
tagged=$(grep -o "tag requests.*" "$TMP/agent.log" | tail -1 | tr ' ' '\n' | sed -n 's/^tagged=//p')
check "agent counted the tagged sockets (tagged=$tagged)" [ "${tagged:-0}" -ge 2 ]
check "agent removed its socket at exit" [ ! -e "$SOCK" ]

# Agent stopped: same answers, untagged, exactly one warning (three connections).
events_start "$TMP/ev3"
as_nobody CLT_BACKEND=agent CLT_LOG=warn -- curl -sf -H "Connection: close" \
	-H "traceparent: 00-$T1-$S1-01" "$URL" "$URL" "$URL" >"$TMP/body3" 2>"$TMP/log3"
rc=$?
events_stop
sed 's/^/# shim: /' "$TMP/log3"
check "agent stopped: requests succeed (rc=$rc), same body ($(tr -d '\n' <"$TMP/body3"))" \
	[ $rc -eq 0 -a "$(cat "$TMP/body1" "$TMP/body1" "$TMP/body1" | md5sum)" = "$(md5sum <"$TMP/body3")" ]
check "agent stopped: three connections, one warning ($(grep -c . "$TMP/log3") line)" \
	[ "$(grep -c . "$TMP/log3")" -eq 1 -a "$(grep -c "cannot set IDs" "$TMP/log3")" -eq 1 ]
check "agent stopped: no IOAM events ($(events_all))" [ "$(events_all)" -eq 0 ]
as_nobody -- curl -sf -o /dev/null -H "traceparent: 00-$T1-$S1-01" "$URL"
check "agent stopped, auto: request still succeeds" [ $? -eq 0 ]

# A service started before its cltagent: auto picks off (no socket yet),
# then the agent comes up; the same process's later requests, on the same
# keep-alive connection, get tagged (libclt probes the agent again).
T3=7a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d S3=3c4d5e6f70819203
T4=8b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e S4=4d5e6f7081920314
T5=9c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f S5=5e6f708192031425
cat >"$W/client.py" <<PY
import http.client, os, sys, time
c = http.client.HTTPConnection("::1", $SHIM_PORT, timeout=10)
def get(t, s):
    c.request("GET", "/", headers={"traceparent": "00-%s-%s-01" % (t, s)})
    r = c.getresponse()
    r.read()
    return r.status
st = [get("$T3", "$S3")]
for i in range(100):  # until the agent is up
    if os.path.exists("$W/go"):
        break
    time.sleep(0.1)
time.sleep(1.2)  # libclt probes again at most once a second
st += [get("$T4", "$S4"), get("$T5", "$S5")]
print(" ".join(map(str, st)))
PY
chmod 0644 "$W/client.py"
events_start "$TMP/ev4"
as_nobody CLT_LOG=info -- python3 "$W/client.py" >"$TMP/body4" 2>"$TMP/log4" &
CLIENT_PID=$!
for i in $(seq 1 50); do grep -q "backend off" "$TMP/log4" && break; sleep 0.1; done
agent_start
touch "$W/go"
wait "$CLIENT_PID"
rc=$?
events_stop
sed 's/^/# shim: /' "$TMP/log4"
check "late agent: the program started first picked off, probing again" \
	grep -q "backend off: .*probed again every second" "$TMP/log4"
check "late agent: one info line when tagging starts ($(grep -c "tagging starts: backend agent: .*found later" "$TMP/log4"))" \
	[ "$(grep -c "tagging starts: backend agent: .*found later" "$TMP/log4")" -eq 1 ]
check "late agent: three requests on one connection succeed (rc=$rc, $(cat "$TMP/body4"))" \
	[ $rc -eq 0 -a "$(cat "$TMP/body4")" = "200 200 200" ]
check "late agent: the request before the agent is untagged ($(events_with $T3 $S3) events)" \
	[ "$(events_with $T3 $S3)" -eq 0 ]
check "late agent: later requests' IDs in kernel IOAM events ($(events_with $T4 $S4), $(events_with $T5 $S5)/$(events_all))" \
	[ "$(events_with $T4 $S4)" -ge 1 -a "$(events_with $T5 $S5)" -ge 1 -a \
		$(($(events_with $T4 $S4) + $(events_with $T5 $S5))) -eq "$(events_all)" ]
kill -TERM "$AGENT_PID"
wait "$AGENT_PID"

summary
