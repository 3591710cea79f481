#!/usr/bin/env python3
"""tagd_hostile.py SOCKET - a hostile client of cltagent's tag socket
(include/clt/tagproto.h). Sends bogus descriptors (pipe, regular file,
IPv4 socket, Unix socket), no descriptor, two descriptors, wrong sizes,
bad magic/version/op, garbage; disconnects mid-request; floods without
reading; opens many connections. Prints "name status" per probe and
"answered N" at the end; exits 0 when every probe got the expected
refusal. Standard library only.
"""
import errno
import os
import socket
import struct
import sys
import tempfile
import time

MAGIC, VERSION = 0x43544147, 1
REQ = struct.Struct("=IBBHI16s8s")
RESP = struct.Struct("=IB3xIi")
TRACE, SPAN = bytes(range(1, 17)), bytes(range(1, 9))


def req(op=1, seq=1, magic=MAGIC, version=VERSION, reserved=0):
    return REQ.pack(magic, version, op, reserved, seq, TRACE, SPAN)


def conn(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(2)
    s.connect(path)
    return s


def ask(s, data, fds):
    socket.send_fds(s, [data], fds)
    r = s.recv(64)
    magic, version, seq, status = RESP.unpack(r)
    assert magic == MAGIC and version == VERSION, "bad answer"
    return status


def main():
    path = sys.argv[1]
    bad = 0
    s = conn(path)
    rp, wp = os.pipe()
    f = tempfile.TemporaryFile()
    v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ux = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    probes = [
        ("pipe", req(), [rp], -errno.ENOTSOCK),
        ("file", req(), [f.fileno()], -errno.ENOTSOCK),
        ("ipv4-socket", req(), [v4.fileno()], -errno.EAFNOSUPPORT),
        ("unix-socket", req(), [ux.fileno()], -errno.EAFNOSUPPORT),
        ("no-fd", req(), [], -errno.EINVAL),
        ("two-fds", req(), [v6.fileno(), v6.fileno()], -errno.EINVAL),
        ("short", req()[:-1], [v6.fileno()], -errno.EINVAL),
        ("long", req() + b"x", [v6.fileno()], -errno.EINVAL),
        ("bad-magic", req(magic=0), [v6.fileno()], -errno.EINVAL),
        ("bad-version", req(version=9), [v6.fileno()], -errno.EINVAL),
        ("bad-op", req(op=77), [v6.fileno()], -errno.EINVAL),
        ("garbage", os.urandom(300), [v6.fileno()], -errno.EINVAL),
    ]
    answered = 0
    for name, data, fds, want in probes:
        st = ask(s, data, fds)
        answered += 1
        print(name, st)
        if st != want:
            print("  expected", want)
            bad += 1
    # Disconnect mid-request: send, close before the answer.
    for _ in range(20):
        d = conn(path)
        socket.send_fds(d, [req()], [v6.fileno()])
        d.close()
    print("disconnects 20")
    # Flood without reading answers, on several connections.
    flooders = []
    sent = 0
    for _ in range(4):
        fl = conn(path)
        fl.setblocking(False)
        try:
            for _ in range(3000):
                socket.send_fds(fl, [req(op=2)], [v6.fileno()])
                sent += 1
        except (BlockingIOError, OSError):
            pass
        flooders.append(fl)
    print("flood sent", sent)
    # Many connections at once.
    many = []
    for _ in range(300):
        try:
            many.append(conn(path))
        except OSError:
            break
    print("connections opened", len(many))
    for c in many + flooders:
        c.close()
    # Still answering a well-formed request afterwards (once the agent
    # has worked through the backlog of closed connections).
    for _ in range(100):
        try:
            s2 = conn(path)
            break
        except BlockingIOError:
            time.sleep(0.01)
    else:
        print("cannot connect after the attack")
        return 1
    st = ask(s2, req(op=2), [v6.fileno()])
    answered += 1
    print("after: disable", st)
    if st not in (0, -errno.EBUSY):
        bad += 1
    print("answered", answered)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
