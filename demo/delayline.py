#!/usr/bin/env python3
"""delayline.py - a fixed egress delay on one interface, for kernels without netem.

The demo congests porthos with "tc qdisc add dev eth1 root netem delay
1000ms". A kernel built without sch_netem (and without sch_fq, so no
earliest-departure-time trick either) cannot do that, so this program does
the same in user space, inside the router's namespace:

  eth1 egress --tc u32 + mirred--> tap device --read--> hold DELAY --> eth1
                                                  (AF_PACKET, qdisc bypass)

Frames re-sent with PACKET_QDISC_BYPASS skip eth1's tc egress hook, so they
are not redirected again. IOAM data written at the router's ingress is
untouched: only the departure time changes, as with netem. The tc filter is
removed on SIGTERM; frames already held still leave on time.

  delayline.py DEV DELAY_MS [--ready FILE]
"""
import argparse
import fcntl
import heapq
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
SOL_PACKET = 263
PACKET_QDISC_BYPASS = 20
ETH_P_ALL = 0x0003
MAX_FRAME = 65536 + 14


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dev")
    ap.add_argument("delay_ms", type=float)
    ap.add_argument("--tap", default="dly0")
    ap.add_argument("--ready")
    a = ap.parse_args()
    delay = a.delay_ms / 1000.0

    tap = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    fcntl.ioctl(tap, TUNSETIFF, struct.pack("16sH", a.tap.encode(), IFF_TAP | IFF_NO_PI))
    out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    out.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
    out.bind((a.dev, 0))

    run("ip", "link", "set", a.tap, "up")
    run("tc", "qdisc", "replace", "dev", a.dev, "clsact")
    run("tc", "filter", "add", "dev", a.dev, "egress", "pref", "1", "u32", "match", "u32", "0",
        "0", "action", "mirred", "egress", "redirect", "dev", a.tap)

    held = []  # (departure time, seq, frame)
    cv = threading.Condition()
    stop = threading.Event()  # SIGTERM: stop diverting new frames
    done = threading.Event()  # every held frame has left

    def sender():
        while True:
            with cv:
                while not held and not done.is_set():
                    cv.wait(0.2)
                if not held:
                    return
                when, _, frame = held[0]
                now = time.monotonic()
                if when > now:
                    cv.wait(when - now)
                    continue
                heapq.heappop(held)
            try:
                out.send(frame)
            except OSError as e:
                sys.stderr.write("delayline: send: %s\n" % e)

    def reader():
        seq = 0
        while True:
            try:
                frame = os.read(tap, MAX_FRAME)
            except OSError:
                return
            seq += 1
            with cv:
                heapq.heappush(held, (time.monotonic() + delay, seq, frame))
                cv.notify()

    send_thread = threading.Thread(target=sender, daemon=True)
    send_thread.start()
    threading.Thread(target=reader, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("delayline: %s egress delayed by %g ms (through %s)" % (a.dev, a.delay_ms, a.tap),
          flush=True)
    if a.ready:
        open(a.ready, "w").close()
    while not stop.wait(0.5):
        pass
    # New frames go straight out again; the ones held still get their full
    # delay (as packets already in a netem queue would), then we leave.
    subprocess.run(["tc", "qdisc", "del", "dev", a.dev, "clsact"], stderr=subprocess.DEVNULL)
    done.set()
    send_thread.join(timeout=delay + 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
