#!/usr/bin/env bash
# bpf_tag.sh - the bpf backend: cltagent --bpf attaches its tc egress
# program; programs under libcltshim.so, as root and as nobody with no
# capabilities, get their requests tagged per packet from their own slot
# array (kernel IOAM events carry each request's IDs). The array handed to
# a process is its own: another uid cannot open it. A SIGKILLed agent
# leaves traffic flowing; a restarted agent attaches again with one filter.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
command -v setpriv >/dev/null || { echo "SKIP: setpriv (util-linux) not installed"; exit 77; }
. tests/lib/shim_common.sh
AGENT=$PWD/$BUILD/cltagent
[ -x "$AGENT" ] || { echo "FAIL: $AGENT missing (make BUILD=$BUILD all tests)"; exit 1; }
shim_setup "bp$$"

T1=5e1f0a2b3c4d5e6f708192a3b4c5d6e7 S1=1a2b3c4d5e6f7081
T2=6f2e1d0c9b8a79685746352413021f0e S2=2b3c4d5e6f708192
W=$TMP/tag
mkdir -m 0755 "$W"
chmod 0711 "$TMP"
SOCK=$W/tag.sock
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)

# get TRACE SPAN [N]: N requests (default 1) on one kept-alive connection,
# with python3's http.client (curl deadlocks under a preloaded libasan).
cat >"$W/get.py" <<PY
import http.client, sys
t, s, n = sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1
c = http.client.HTTPConnection("::1", $SHIM_PORT, timeout=10)
for i in range(n):
    c.request("GET", "/", headers={"traceparent": "00-%s-%s-01" % (t, s)})
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
PY
chmod 0644 "$W/get.py"
GET=$(stage_file "$W/get.py")

agent_start() {
	rm -f "$TMP/agent.ready"
	ip netns exec "$NS" "$AGENT" -o "$TMP/spans.jsonl" --idle-timeout 200ms --batch-timeout 200ms \
		--bpf --tag-socket "$SOCK" --tag-group nogroup --ready-file "$TMP/agent.ready" \
		2>>"$TMP/agent.log" &
	AGENT_PID=$!
	local i
	for i in $(seq 1 100); do [ -e "$TMP/agent.ready" ] && return 0; sleep 0.1; done
	echo "FAIL: the agent did not start: $(cat "$TMP/agent.log")"
	exit 1
}
filters() { nsx tc filter show dev lo egress | grep -c 'clt_egress'; }
counter() { # name: from the agent's last bpf stats line
	grep -o "bpf tagged=.*" "$TMP/agent.log" | tail -1 | tr ' ' '\n' | sed -n "s/^$1=//p"
}

agent_start
check "one clsact egress filter on lo ($(filters))" [ "$(filters)" -eq 1 ]

# Root, explicit bpf.
events_start "$TMP/ev1"
under_shim CLT_BACKEND=bpf CLT_AGENT_SOCKET="$SOCK" CLT_LOG=info \
	/usr/bin/python3 "$GET" $T1 $S1 2>"$TMP/log1"
rc=$?
events_stop
sed 's/^/# shim: /' "$TMP/log1" | head -3
check "root, CLT_BACKEND=bpf: backend bpf" grep -q "backend bpf: " "$TMP/log1"
check "request succeeds (rc=$rc)" [ $rc -eq 0 ]
check "kernel IOAM events carry trace=$T1 span=$S1 ($(events_with $T1 $S1)/$(events_all))" \
	[ "$(events_with $T1 $S1)" -ge 1 -a "$(events_with $T1 $S1)" -eq "$(events_all)" ]

# Nobody, auto: no CAP_NET_RAW needed, the agent offers bpf.
capeff=$(nsx "${NOBODY[@]}" grep CapEff /proc/self/status | awk '{print $2}')
check "nobody has no effective capability (CapEff=$capeff)" [ "$capeff" = 0000000000000000 ]
events_start "$TMP/ev2"
nsx "${NOBODY[@]}" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" CLT_AGENT_SOCKET="$SOCK" CLT_LOG=info \
	ASAN_OPTIONS=detect_leaks=0 /usr/bin/python3 "$GET" $T2 $S2 2 2>"$TMP/log2"
rc=$?
events_stop
sed 's/^/# shim: /' "$TMP/log2" | head -3
check "nobody, auto: backend bpf" grep -q "backend bpf: " "$TMP/log2"
check "nobody: requests succeed (rc=$rc)" [ $rc -eq 0 ]
check "nobody: kernel IOAM events carry trace=$T2 span=$S2 ($(events_with $T2 $S2)/$(events_all))" \
	[ "$(events_with $T2 $S2)" -ge 2 -a "$(events_with $T2 $S2)" -eq "$(events_all)" ]

# The CLT trailer v2 carries the egress time: the first (here the only) hop
# gets a delay, client -> node, in the agent's spans.
for i in $(seq 1 30); do grep -q "$T2" "$TMP/spans.jsonl" 2>/dev/null && break; sleep 0.2; done
check "the first hop has a delay from the egress time ($(grep -o "ioam.delay.avg_ns[^}]*}" "$TMP/spans.jsonl" | head -1))" \
	grep -q "ioam.delay.avg_ns" "$TMP/spans.jsonl"

# Descriptors from 1024 on have no slot: such a socket is tagged through the
# next backend in auto's order (hopopts as root, the agent as nobody), said
# once.
T5=9c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f S5=5e6f708192031425
cat >"$W/high.py" <<PY
import os, sys
keep = [os.open("/dev/null", os.O_RDONLY) for _ in range(1100)]
exec(open("$GET").read())
PY
HIGH=$(stage_file "$W/high.py")
events_start "$TMP/ev4"
under_shim CLT_BACKEND=bpf CLT_AGENT_SOCKET="$SOCK" CLT_LOG=info \
	sh -c 'ulimit -n 4096 && exec /usr/bin/python3 "$0" "$@"' "$HIGH" $T5 $S5 2 2>"$TMP/log4"
rc=$?
events_stop
sed 's/^/# shim: /' "$TMP/log4" | grep -i slot
check "root, descriptor >= 1024: requests succeed (rc=$rc)" [ $rc -eq 0 ]
check "root, descriptor >= 1024: said once, through hopopts" \
	[ "$(grep -c 'no slot: their sockets are tagged through hopopts' "$TMP/log4")" -eq 1 ]
check "root, descriptor >= 1024: IOAM events carry trace=$T5 ($(events_with $T5 $S5)/$(events_all))" \
	[ "$(events_with $T5 $S5)" -ge 2 ]
events_start "$TMP/ev5"
nsx "${NOBODY[@]}" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" CLT_BACKEND=bpf CLT_AGENT_SOCKET="$SOCK" \
	CLT_LOG=info ASAN_OPTIONS=detect_leaks=0 \
	sh -c 'ulimit -n 4096 && exec /usr/bin/python3 "$0" "$@"' "$HIGH" $T2 $S5 2 2>"$TMP/log5"
rc=$?
events_stop
sed 's/^/# shim: /' "$TMP/log5" | grep -i slot
check "nobody, descriptor >= 1024: requests succeed (rc=$rc)" [ $rc -eq 0 ]
check "nobody, descriptor >= 1024: said once, through the agent backend" \
	[ "$(grep -c 'no slot: their sockets are tagged through the agent backend' "$TMP/log5")" -eq 1 ]
check "nobody, descriptor >= 1024: IOAM events carry trace=$T2 span=$S5 ($(events_with $T2 $S5)/$(events_all))" \
	[ "$(events_with $T2 $S5)" -ge 2 ]

# The array is the process's own: another uid cannot reach its descriptor
# or mapping, and the agent never hands out the socket storage.
LIBCLT=$(stage_file "$PWD/$BUILD/libclt.so")
cat >"$W/holder.py" <<PY
import ctypes, os, sys, time
clt = ctypes.CDLL("$LIBCLT")
ctx = ctypes.c_void_p()
class Opts(ctypes.Structure):
    _fields_ = [("backend", ctypes.c_int), ("ns", ctypes.c_uint32), ("tt", ctypes.c_uint32),
                ("hops", ctypes.c_uint), ("sock", ctypes.c_char_p), ("ignore", ctypes.c_int)]
o = Opts(5, 0, 0, 0, b"$SOCK", 1)
rc = clt.clt_open(ctypes.byref(ctx), ctypes.byref(o))
print(rc, flush=True)
maps = [l for l in open("/proc/self/maps") if "bpf" in l or "anon_inode" in l]
print(len(maps), flush=True)
time.sleep(3)
PY
HOLDER=$(stage_file "$W/holder.py")
ASANPRE=()
readelf -d "$LIBCLT" | grep -q 'NEEDED.*libasan' &&
	ASANPRE=(env LD_PRELOAD="$(gcc -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0)
nsx "${NOBODY[@]}" "${ASANPRE[@]}" /usr/bin/python3 "$HOLDER" >"$TMP/holder.out" 2>&1 &
HPID=$!
for i in $(seq 1 30); do [ "$(grep -c . "$TMP/holder.out")" -ge 2 ] && break; sleep 0.1; done
sed 's/^/# holder: /' "$TMP/holder.out"
check "a nobody process attaches (clt_open 0) and maps its array" \
	[ "$(sed -n 1p "$TMP/holder.out")" = 0 -a "$(sed -n 2p "$TMP/holder.out")" -ge 1 ]
other=$(nsx setpriv --reuid=65533 --regid=65533 --clear-groups --inh-caps=-all \
	sh -c "cat /proc/$HPID/maps >/dev/null 2>&1 && echo readable; ls /proc/$HPID/fd >/dev/null 2>&1 && echo fds" 2>&1)
check "another uid can neither read its mappings nor list its descriptors (${other:-none})" [ -z "$other" ]
wait $HPID

# SIGKILL: the filter stays, traffic flows; a restarted agent replaces it
# (one filter), and a process that ran all along is tagged again, on its
# kept-alive connection and on a new one.
T3=7a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d S3=3c4d5e6f70819203
T4=8b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e S4=4d5e6f7081920314
cat >"$W/running.py" <<PY
import http.client, os, sys, time
def get(c, t, s):
    c.request("GET", "/", headers={"traceparent": "00-%s-%s-01" % (t, s)})
    r = c.getresponse(); r.read(); return r.status
c = http.client.HTTPConnection("::1", $SHIM_PORT, timeout=10)
st = [get(c, "$T1", "$S1")]
open(sys.argv[1] + ".1", "w").close()
while not os.path.exists(sys.argv[1] + ".go"):
    time.sleep(0.05)
time.sleep(1.2)  # libclt looks at its agent connection once a second
st.append(get(c, "$T3", "$S3"))
st.append(get(http.client.HTTPConnection("::1", $SHIM_PORT, timeout=10), "$T4", "$S4"))
print(st)
PY
RUNNING=$(stage_file "$W/running.py")
mkdir -m 1777 "$W/rundir" # nobody's marker files
nsx "${NOBODY[@]}" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" CLT_AGENT_SOCKET="$SOCK" \
	ASAN_OPTIONS=detect_leaks=0 /usr/bin/python3 "$RUNNING" "$W/rundir/run" >"$TMP/running.out" 2>&1 &
RPID=$!
for i in $(seq 1 100); do [ -e "$W/rundir/run.1" ] && break; sleep 0.1; done
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
under_shim CLT_BACKEND=auto CLT_AGENT_SOCKET="$SOCK" /usr/bin/python3 "$GET" $T1 $S1
check "agent killed: requests still succeed (rc=$?)" [ $? -eq 0 ]
rm -f "$SOCK"
agent_start
check "restarted agent: still one filter ($(filters))" [ "$(filters)" -eq 1 ]
events_start "$TMP/ev3"
touch "$W/rundir/run.go"
wait $RPID
events_stop
check "the running process's requests succeed ($(cat "$TMP/running.out"))" \
	[ "$(cat "$TMP/running.out")" = "[200, 200, 200]" ]
check "restarted agent tags the running process again: kept-alive connection ($(events_with $T3 $S3)), new one ($(events_with $T4 $S4)), of $(events_all)" \
	[ "$(events_with $T3 $S3)" -ge 1 -a "$(events_with $T4 $S4)" -ge 1 -a \
	$(($(events_with $T3 $S3) + $(events_with $T4 $S4))) -eq "$(events_all)" ]

kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
grep "bpf tagged" "$TMP/agent.log" | sed 's/^/# /'
check "agent counted tagged packets (tagged=$(counter tagged), failed=$(counter failed))" \
	[ "$(counter tagged)" -ge 1 -a "$(counter failed)" -eq 0 ]
check "agent detached its filter at exit ($(filters))" [ "$(filters)" -eq 0 ]
[ $fails -eq 0 ] && echo "PASS" || { echo "FAILED: $fails"; exit 1; }
