#!/usr/bin/env bash
# agent_nlspoof.sh - IOAM events come from the kernel only. A process with
# CAP_NET_ADMIN can send a generic-netlink datagram straight to the agent's
# netlink port; a forged "trace event" with a CLT trailer must be counted as
# malformed, never turned into spans. Genuine kernel events keep working
# (tagged traffic on lo in the same namespace, real IOAM).
set -u
. "$(dirname "$0")/../lib/topo.sh"
. "$(dirname "$0")/../lib/agent_helpers.sh"
topo_require_root
ag_need_binaries
topo_single "a2$$n" || fail "topology"
trap ag_cleanup EXIT # after topo_*, which install their own trap
S=$TOPO_S
ag_sink "$S" ::1 8080 tcp

cat >"$AG_TMP/spoof.py" <<'PY'
import socket, struct, sys

pid, count = int(sys.argv[1]), int(sys.argv[2])

def nla(t, data):
    l = 4 + len(data)
    return struct.pack("=HH", l, t) + data + b"\0" * ((4 - l % 4) % 4)

s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16)  # NETLINK_GENERIC
s.bind((0, 0))
# CTRL_CMD_GETFAMILY "IOAM6" -> the family id.
req = struct.pack("=BBH", 3, 1, 0) + nla(2, b"IOAM6\0")
s.send(struct.pack("=IHHII", 16 + len(req), 0x10, 1, 1, 0) + req)
r, fam, off = s.recv(65536), None, 20
while off + 4 <= len(r):
    l, t = struct.unpack_from("=HH", r, off)
    if t == 1:
        fam = struct.unpack_from("=H", r, off + 4)[0]
    off += max(4, (l + 3) & ~3)
if fam is None:
    sys.exit("no IOAM6 family")
ports = []
with open("/proc/net/netlink") as f:  # sk Eth Pid ...: the agent's generic-netlink ports
    next(f)
    for line in f:
        p = line.split()
        if int(p[1]) == 16 and int(p[2]) != 0 and (int(p[2]) & 0x3fffff) == pid:
            ports.append(int(p[2]))
if not ports:
    sys.exit("no netlink port of pid %d" % pid)
node = struct.pack(">I", (64 << 24) | 2)  # hop limit 64, node id 2 (trace type 0x800000)
trailer = bytes(range(1, 17)) + bytes(range(17, 25)) + b"CLT\x01"
ev = (struct.pack("=BBH", 1, 1, 0) + nla(1, struct.pack("=H", 123)) + nla(2, b"\x01") +
      nla(3, struct.pack("=I", 0x800000 << 8)) + nla(4, node + trailer))
sent = 0
for port in ports:
    for i in range(count):
        s.sendto(struct.pack("=IHHII", 16 + len(ev), fam, 0, i, 0) + ev, (port, 0))
        sent += 1
print(sent)
PY

ag_receiver "$S" 4431 "$AG_TMP/r.jsonl"
ag_agent "$S" "$AG_TMP/a.log" -e "http://[::1]:4431/v1/traces" --idle-timeout 200ms --batch-timeout 100ms
sent=$(ip netns exec "$S" python3 "$AG_TMP/spoof.py" "$AG_PID" 20) || fail "could not send forged events"
echo "sent $sent forged IOAM6 trace events (tagged, CLT trailer) to the agent's netlink port"
CLT_BACKEND=hopopts ip netns exec "$S" "$AG_SEND" -n 3 ::1 8080 \
	0af7651916cd43dd8448eb211c80319c 2222222222222222 2>/dev/null || fail "clt_send"
ag_wait_spans "$AG_TMP/r.jsonl" 2 10 || { cat "$AG_TMP/a.log"; fail "genuine events made no spans"; }
sleep 0.5
ag_stop_agent
[ "$AG_RC" = 0 ] || fail "exit $AG_RC"
m=$(ag_stat "$AG_TMP/a.log" malformed) req=$(ag_stat "$AG_TMP/a.log" requests)
grep 'stats ' "$AG_TMP/a.log" | tail -1
[ "$m" -ge "$sent" ] || fail "forged events not counted as malformed ($m < $sent)"
[ "$req" = 1 ] || fail "expected only the genuine request, got requests=$req"
python3 - "$AG_TMP/r.jsonl" "$AG_TOP/tests/lib" <<'PY' || fail "a forged trace made a span"
import sys
sys.path.insert(0, sys.argv[2])
from otlp_receiver import load_spans
spans = load_spans(sys.argv[1])
forged = [s for s in spans if s["traceId"] == bytes(range(1, 17)).hex()]
genuine = [s for s in spans if s["traceId"] == "0af7651916cd43dd8448eb211c80319c"]
print("spans: %d genuine, %d forged" % (len(genuine), len(forged)))
sys.exit(1 if forged or not genuine else 0)
PY
echo "checked: $sent forged events counted malformed=$m; the genuine request exported; no forged span"
echo PASS
