#!/usr/bin/env bash
# agent_pcap.sh - cltagent --source pcap:FILE over capture files written
# here: well-formed tagged and untagged IOAM packets (spans, path order,
# per-packet and untagged modes) and malformed ones (truncated frames,
# lying lengths, 3000 random mutations of a valid packet): counted as
# malformed, never a crash. Under SANITIZE=1 the agent runs with ASan;
# an ASan build found in build-asan/ is run over the garbage as well.
# Needs no root: no namespace, no kernel IOAM.
set -u
. "$(dirname "$0")/../lib/agent_helpers.sh"
[ -x "$AG_AGENT" ] || fail "$AG_AGENT is not built"
trap 'rm -rf "$AG_TMP"' EXIT

python3 - "$AG_TMP" <<'PY'
import os, random, struct, sys, time
out = sys.argv[1]
TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")

def node(nid, ifin, sec, usec, hop=63, queue=0xffffffff):
    # trace type 0xf20000: hop limit + node id, if ids, ts sec, ts frac, queue depth
    return struct.pack("!IHHIII", hop << 24 | nid, ifin, 0xffff, sec, usec, queue)

def hbh(nodes, slots=3, span=None, nodelen=5, opt_extra=b""):
    nl = nodelen * 4
    array = bytearray(slots * nl)
    rem = slots * nl
    for n in nodes:                        # nodes in path order fill from the end
        array[rem - nl:rem] = n
        rem -= nl
    trailer = TRACE + span + b"CLT\x01" if span else b""
    trace = struct.pack("!HHI", 123, nodelen << 11 | (rem // 4), 0xf20000 << 8)
    data = b"\x00\x00" + trace + bytes(array) + trailer + opt_extra
    opt = bytes([0x31, len(data)]) + data
    body = b"\x01\x00" + opt
    pad = (-(2 + len(body))) % 8
    if pad == 1:
        body += b"\x00"
    elif pad:
        body += bytes([1, pad - 2]) + bytes(pad - 2)
    return bytes([17, (2 + len(body)) // 8 - 1]) + body

def ip6(payload, nh=0):
    return struct.pack("!IHBB", 6 << 28, len(payload), nh, 64) + bytes(15) + b"\x01" + bytes(15) + b"\x02" + payload

def eth(p):
    return b"\x02" * 6 + b"\x04" * 6 + b"\x86\xdd" + p

def pkt(h):
    return eth(ip6(h + struct.pack("!HHHH", 1234, 80, 8, 0)))

def write(name, frames, t0):
    with open(os.path.join(out, name), "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            t = t0 + i * 0.01
            f.write(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(fr), len(fr)) + fr)

now = int(time.time())
A, B = bytes.fromhex("00f067aa0ba902b7"), bytes.fromhex("b7ad6b7169203331")
good = []
for i in range(3):   # request A: 3 packets, router at t, server 250-350 us later
    good.append(pkt(hbh([node(2, 21, now, 1000 * i), node(3, 31, now, 1000 * i + 250 + 50 * i)], span=A)))
good.append(pkt(hbh([node(2, 21, now, 5000, queue=7), node(3, 31, now, 5300)], span=B)))
good.append(pkt(hbh([node(2, 21, now, 9000)], span=None)))                         # untagged
good.append(eth(ip6(b"\x11\x00\x01\x04\x00\x00\x00\x00" + struct.pack("!HHHH", 1, 2, 8, 0))))  # HBH, no IOAM
write("good.pcap", good, now)

v = pkt(hbh([node(2, 21, now, 0), node(3, 31, now, 100)], span=A))
bad = [
    b"\x02" * 5,                                    # truncated Ethernet
    eth(b"\x60\x00"),                               # truncated IPv6
    eth(ip6(b"\x11\x05\x01\x00"))[:60],             # HBH claims 48 octets, 4 captured
    v[:70],                                         # cut inside the IOAM option
    eth(ip6(hbh([node(2, 21, now, 0)], span=A, nodelen=0))),           # NodeLen 0
    eth(ip6(b"\x11\x01\x01\x00\x31\x04\x00\x00\x00\x7b")),             # option too short for a trace
]
rnd = random.Random(9197)
for _ in range(3000):                               # random mutations of a valid packet
    b = bytearray(v)
    for _ in range(rnd.randint(1, 6)):
        i = rnd.randrange(14, len(b))
        b[i] = rnd.randrange(256)
    if rnd.random() < 0.3:
        b = b[:rnd.randrange(14, len(b))]
    bad.append(bytes(b))
write("bad.pcap", bad, now)
PY
[ -f "$AG_TMP/good.pcap" ] || fail "could not write the capture files"

"$AG_AGENT" --source pcap:"$AG_TMP/good.pcap" --output "$AG_TMP/good.jsonl" --node-name 3=server \
	2>"$AG_TMP/good.log" || { cat "$AG_TMP/good.log"; fail "agent failed on good.pcap"; }
PYTHONPATH=$AG_TOP/tests/lib python3 - "$AG_TMP/good.jsonl" <<'PY' || { cat "$AG_TMP/good.log"; fail "good.pcap spans"; }
import sys
from otlp_receiver import load_spans
spans = load_spans(sys.argv[1])
assert len(spans) == 6, f"want 2 requests x 3 spans, got {len(spans)}"
for sid, packets in (("00f067aa0ba902b7", 3), ("b7ad6b7169203331", 1)):
    net = [s for s in spans if s["parentSpanId"] == sid]
    assert len(net) == 1 and net[0]["traceId"] == "0af7651916cd43dd8448eb211c80319c", net
    assert net[0]["attrs"]["ioam.packets"] == packets
    assert net[0]["name"] == "network: node 2 → server", net[0]["name"]
    hops = sorted([s for s in spans if s["parentSpanId"] == net[0]["spanId"]], key=lambda s: s["attrs"]["ioam.hop.index"])
    assert [h["attrs"]["ioam.node.id"] for h in hops] == [2, 3]
a = [s for s in spans if s["name"] == "hop 2: server" and s["attrs"]["ioam.packets"] == 3][0]["attrs"]
assert (a["ioam.delay.min_ns"], a["ioam.delay.avg_ns"], a["ioam.delay.max_ns"]) == (250000, 300000, 350000), a
q = [s for s in spans if s["name"] == "hop 1: node 2" and s["attrs"]["ioam.packets"] == 1][0]["attrs"]
assert q["ioam.queue_depth.max"] == 7, q
print("checked: good.pcap -> 2 requests, path node 2 -> server, hop delays 250/300/350 us, queue 7")
PY
grep -q "events=6 traces=5 malformed=0 untagged=1 requests=2" "$AG_TMP/good.log" ||
	{ cat "$AG_TMP/good.log"; fail "good.pcap stats"; }
echo "checked: $(grep -o 'stats .*' "$AG_TMP/good.log")"

"$AG_AGENT" --source pcap:"$AG_TMP/good.pcap" --output "$AG_TMP/pp.jsonl" --span-per-packet \
	--export-untagged 2>"$AG_TMP/pp.log" || fail "agent failed with --span-per-packet"
PYTHONPATH=$AG_TOP/tests/lib python3 - "$AG_TMP/pp.jsonl" <<'PY' || fail "per-packet spans"
import sys
from otlp_receiver import load_spans
spans = load_spans(sys.argv[1])
assert len(spans) == 5, len(spans)
roots = [s for s in spans if not s["parentSpanId"]]
assert len(roots) == 1 and roots[0]["attrs"]["ioam.tagged"] is False, roots
assert all(s["name"] == "ioam trace" for s in spans)
assert sum(s["parentSpanId"] == "00f067aa0ba902b7" for s in spans) == 3
assert spans[0]["attrs"]["ioam.node.1"].startswith("id=2 hop_limit=63 ingress_if=21"), spans[0]["attrs"]
print("checked: --span-per-packet --export-untagged -> 4 child spans + 1 untagged root span")
PY

run_bad() { # AGENT LABEL
	"$1" --source pcap:"$AG_TMP/bad.pcap" --output "$AG_TMP/bad.jsonl" 2>"$AG_TMP/bad.log"
	local rc=$?
	[ $rc -eq 0 ] || { tail -30 "$AG_TMP/bad.log"; fail "$2: agent exit $rc on bad.pcap"; }
	local m e t
	m=$(ag_stat "$AG_TMP/bad.log" malformed) e=$(ag_stat "$AG_TMP/bad.log" events)
	t=$(ag_stat "$AG_TMP/bad.log" traces)
	[ "$m" -ge 5 ] && [ "$((t + m))" -le "$e" ] || fail "$2: events=$e traces=$t malformed=$m"
	echo "checked: $2 over 3006 malformed/mutated frames: exit 0, events=$e malformed=$m traces=$t"
}
run_bad "$AG_AGENT" "agent ($AG_BUILD)"
if [ -x "$AG_TOP/build-asan/cltagent" ] && [ "$AG_TOP/build-asan/cltagent" != "$AG_AGENT" ]; then
	run_bad "$AG_TOP/build-asan/cltagent" "ASan agent"
fi
echo PASS
