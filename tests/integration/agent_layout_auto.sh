#!/usr/bin/env bash
# agent_layout_auto.sh - cltagent --layout auto over captures of the
# CLT-patched kernel's layout (trace header, then trace-id and span-id,
# then the node data): traces the layout can be told from are decoded with
# their IDs and only their real nodes; a trace that reads as plain IOAM
# too (12-octet nodes, full array) is counted ambiguous, said once, and
# exported as no span at all, never as phantom hops made of the IDs.
# --layout patched decodes them all; the stock layout (CLT trailer) still
# decodes under auto. Needs no root: no namespace, no kernel IOAM.
set -u
. "$(dirname "$0")/../lib/agent_helpers.sh"
[ -x "$AG_AGENT" ] || fail "$AG_AGENT is not built"
trap 'rm -rf "$AG_TMP"' EXIT

python3 - "$AG_TMP" <<'PY'
import os, struct, sys, time
out = sys.argv[1]
T1 = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
T2 = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
A, B, C = (bytes.fromhex(x) for x in ("00f067aa0ba902b7", "b7ad6b7169203331", "53995c3f42cd8ad8"))

def node12(nid, hop=63):
    # trace type 0xc20000 (the original CLT demo's): hop limit + node id, if ids, queue depth
    return struct.pack("!IHHI", hop << 24 | nid, nid * 10 + 1, nid * 10 + 2, 0xffffffff)

def node20(nid, hop=63):
    # 0xf20000: hop limit + node id, if ids, ts sec, ts frac, queue depth
    return struct.pack("!IHHIII", hop << 24 | nid, nid * 10 + 1, nid * 10 + 2, 1700000000, 0, 0xffffffff)

def hbh(nodes, tt, nl, slots, ids=b"", trailer=b""):
    array = bytearray(slots * nl)
    rem = slots * nl
    for n in nodes:                        # path order; each node fills from the end
        array[rem - nl:rem] = n
        rem -= nl
    trace = struct.pack("!HHI", 123, (nl // 4) << 11 | (rem // 4), tt << 8)
    data = b"\x00\x00" + trace + ids + bytes(array) + trailer
    body = b"\x01\x00" + bytes([0x31, len(data)]) + data
    pad = (-(2 + len(body))) % 8
    if pad == 1:
        body += b"\x00"
    elif pad:
        body += bytes([1, pad - 2]) + bytes(pad - 2)
    return bytes([6, (2 + len(body)) // 8 - 1]) + body

def pkt(h):
    tcp = struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 5 << 4, 0x18, 65535, 0, 0)
    ip = struct.pack("!IHBB", 6 << 28, len(h) + len(tcp), 0, 64) + bytes(15) + b"\x01" + bytes(15) + b"\x02"
    return b"\x02" * 6 + b"\x04" * 6 + b"\x86\xdd" + ip + h + tcp

def write(name, frames, t0):
    with open(os.path.join(out, name), "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            t = t0 + i * 0.01
            f.write(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(fr), len(fr)) + fr)

now = int(time.time())
n12 = [node12(1), node12(2), node12(3)]
frames = []
for _ in range(3):   # request A: captured after two of three slots filled -> recognised
    frames.append(pkt(hbh(n12[:2], 0xc20000, 12, 3, ids=T1 + A)))
for _ in range(2):   # request B: the array full -> ambiguous, twice
    frames.append(pkt(hbh(n12, 0xc20000, 12, 3, ids=T1 + B)))
# request C: 20-octet nodes, full: 24 octets are no whole number of nodes -> recognised
frames.append(pkt(hbh([node20(1), node20(2), node20(3)], 0xf20000, 20, 3, ids=T2 + C)))
write("patched.pcap", frames, now)
# The stock layout: the CLT trailer after the node array, full array.
write("stock.pcap", [pkt(hbh(n12, 0xc20000, 12, 3, trailer=T1 + A + b"CLT\x01"))], now)
PY
[ -f "$AG_TMP/patched.pcap" ] || fail "could not write the capture files"

run_agent() { # NAME LAYOUT PCAP
	"$AG_AGENT" --source pcap:"$AG_TMP/$3" --layout "$2" --output "$AG_TMP/$1.jsonl" \
		--tag-socket none 2>"$AG_TMP/$1.log" ||
		{ cat "$AG_TMP/$1.log"; fail "$1: agent failed"; }
	: >>"$AG_TMP/$1.jsonl"
	echo "$1 (--layout $2): $(grep -o 'stats .*' "$AG_TMP/$1.log")"
}

# spans.py JSONL 'SPAN-ID=NODES ...': exactly these requests, each with
# exactly these hops (node ids in path order), under the right trace-id.
cat >"$AG_TMP/spans.py" <<'PY'
import sys
from otlp_receiver import load_spans
spans = load_spans(sys.argv[1])
want = dict(w.split("=") for w in sys.argv[2].split())
trace = {"00f067aa0ba902b7": "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331": "0af7651916cd43dd8448eb211c80319c",
         "53995c3f42cd8ad8": "4bf92f3577b34da6a3ce929d0e0e4736"}
nets = [s for s in spans if s["name"].startswith("network")]
assert sorted(s["parentSpanId"] for s in nets) == sorted(want), [s["parentSpanId"] for s in nets]
for net in nets:
    assert net["traceId"] == trace[net["parentSpanId"]], net
    hops = sorted([s for s in spans if s["parentSpanId"] == net["spanId"]], key=lambda s: s["attrs"]["ioam.hop.index"])
    got = ",".join(str(h["attrs"]["ioam.node.id"]) for h in hops)
    assert got == want[net["parentSpanId"]], f'{net["parentSpanId"]}: hops {got}, want {want[net["parentSpanId"]]}'
assert len(spans) == len(nets) + sum(len(v.split(",")) for v in want.values()), len(spans)
print("checked:", ", ".join(f"{k} -> nodes {v}" for k, v in want.items()))
PY
check_spans() { # NAME 'SPAN-ID=NODES ...'
	PYTHONPATH=$AG_TOP/tests/lib python3 "$AG_TMP/spans.py" "$AG_TMP/$1.jsonl" "$2" ||
		{ cat "$AG_TMP/$1.log"; fail "$1: spans"; }
}
expect_stat() { # NAME COUNTER VALUE
	local v
	v=$(ag_stat "$AG_TMP/$1.log" "$2")
	[ "$v" = "$3" ] || { cat "$AG_TMP/$1.log"; fail "$1: $2=${v:-missing}, want $3"; }
}

run_agent auto auto patched.pcap
check_spans auto "00f067aa0ba902b7=1,2 53995c3f42cd8ad8=1,2,3"
expect_stat auto traces 4
expect_stat auto ambiguous 2
expect_stat auto malformed 0
n=$(grep -c -- "--layout patched" "$AG_TMP/auto.log")
[ "$n" = 1 ] || { cat "$AG_TMP/auto.log"; fail "auto: the --layout hint said $n times, want once"; }
echo "checked: $(grep -- '--layout patched' "$AG_TMP/auto.log")"

run_agent patched patched patched.pcap
check_spans patched "00f067aa0ba902b7=1,2 b7ad6b7169203331=1,2,3 53995c3f42cd8ad8=1,2,3"
expect_stat patched traces 6
expect_stat patched ambiguous 0
! grep -q -- "--layout patched" "$AG_TMP/patched.log" || fail "patched: hint printed"

run_agent stock auto stock.pcap
check_spans stock "00f067aa0ba902b7=1,2,3"
expect_stat stock ambiguous 0
echo "PASS: --layout auto: patched-layout IDs never become nodes; ambiguous traces counted and not exported"
