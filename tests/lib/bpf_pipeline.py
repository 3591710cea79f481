#!/usr/bin/env python3
"""bpf_pipeline.py - exact attribution on libclt's bpf backend.

client PORT LIBCLT SOCK OUT: connect to [::1]:PORT with TCP_MAXSEG 1000,
  give 20 pipelined requests different IDs at their stream offsets
  (clt_enable_at), send all 20 in one write, read the 20 answers, then send
  a 21st request with its own IDs. OUT gets one line per request:
  "offset length trace span".
shimclient PORT OUT: the same through the shim, with no libclt call: 20
  pipelined HTTP requests of 700 octets, each with its own traceparent, in
  one write, then a 21st in its own.
server PORT: answer each 700-octet request with 300 octets.
check PCAP EXPECTED PORT: every client data segment carries the IDs of the
  request its first octet belongs to (a GSO packet's later segments: its
  first octet's); segments without payload, and the server's, carry none,
  and no packet keeps the room the agent reserved (a destination options
  header). Prints a summary; exit 1 on any mismatch.
"""
import ctypes, os, socket, struct, sys

REQ = 700
ANS = 300


def client(port, libclt, sock, out):
    clt = ctypes.CDLL(libclt)

    class Opts(ctypes.Structure):
        _fields_ = [("backend", ctypes.c_int), ("ns", ctypes.c_uint32), ("tt", ctypes.c_uint32),
                    ("hops", ctypes.c_uint), ("sock", ctypes.c_char_p), ("ignore", ctypes.c_int)]
    ctx = ctypes.c_void_p()
    rc = clt.clt_open(ctypes.byref(ctx), ctypes.byref(Opts(5, 0, 0, 0, sock.encode(), 1)))
    if rc != 0:
        sys.exit("clt_open: %d" % rc)
    clt.clt_enable_at.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64, ctypes.c_char_p,
                                  ctypes.c_char_p]
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1000)
    clt.clt_tcp_clamp(ctx, s.fileno())
    s.connect(("::1", port))
    lines, off, blob = [], 0, b""
    for i in range(20):
        t, sp = os.urandom(16), os.urandom(8)
        rc = clt.clt_enable_at(ctx, s.fileno(), off, t, sp)
        if rc != 0:
            sys.exit("clt_enable_at: %d" % rc)
        lines.append("%d %d %s %s" % (off, REQ, t.hex(), sp.hex()))
        blob += bytes([65 + i % 26]) * REQ
        off += REQ
    s.sendall(blob)
    got = 0
    while got < 20 * ANS:
        d = s.recv(65536)
        if not d:
            sys.exit("server closed early")
        got += len(d)
    t, sp = os.urandom(16), os.urandom(8)
    clt.clt_enable_at(ctx, s.fileno(), off, t, sp)
    lines.append("%d %d %s %s" % (off, REQ, t.hex(), sp.hex()))
    s.sendall(b"z" * REQ)
    got = 0
    while got < ANS:
        got += len(s.recv(65536))
    s.close()
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


def http_req(i, t, sp):
    head = b"POST /%d HTTP/1.1\r\nHost: x\r\ntraceparent: 00-%s-%s-01\r\nContent-Length: " % (
        i, t.hex().encode(), sp.hex().encode())
    body = REQ - len(head) - 4 - 3  # a 3-digit Content-Length
    r = head + str(body).encode() + b"\r\n\r\n" + b"b" * body
    assert len(r) == REQ, len(r)
    return r


def shimclient(port, out):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1000)
    s.connect(("::1", port))
    lines, off, blob = [], 0, b""
    for i in range(21):
        t, sp = os.urandom(16), os.urandom(8)
        lines.append("%d %d %s %s" % (off, REQ, t.hex(), sp.hex()))
        blob += http_req(i, t, sp)
        off += REQ
    s.sendall(blob[:20 * REQ])
    got = 0
    while got < 20 * ANS:
        d = s.recv(65536)
        if not d:
            sys.exit("server closed early")
        got += len(d)
    s.sendall(blob[20 * REQ:])
    got = 0
    while got < ANS:
        got += len(s.recv(65536))
    s.close()
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


def server(port):
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("::1", port))
    ls.listen(4)
    print("ready", flush=True)
    while True:
        c, _ = ls.accept()
        buf = 0
        while True:
            d = c.recv(65536)
            if not d:
                break
            buf += len(d)
            while buf >= REQ:
                buf -= REQ
                c.sendall(b"r" * ANS)
        c.close()


def packets(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    link = struct.unpack(end + "I", data[20:24])[0]
    pos = 24
    while pos + 16 <= len(data):
        _, _, incl, _ = struct.unpack(end + "IIII", data[pos:pos + 16])
        pkt = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        if link == 1:
            if struct.unpack(">H", pkt[12:14])[0] != 0x86dd:
                continue
            pkt = pkt[14:]
        elif link == 113:  # Linux cooked
            pkt = pkt[16:]
        yield pkt


def parse(ip6):
    plen = struct.unpack(">H", ip6[4:6])[0]
    nh, off, ids, room = ip6[6], 40, None, False
    if nh == 0:
        hlen = (ip6[41] + 1) * 8
        hbh = ip6[40:40 + hlen]
        m = hbh.find(b"CLT\x02")  # the program writes the CLT trailer v2
        if m >= 36:
            ids = (hbh[m - 36:m - 20].hex(), hbh[m - 20:m - 12].hex())
        nh, off = ip6[40], 40 + hlen
    if nh == 60:  # destination options: the agent's room, left in place
        room = ip6[off + 2] == 0x1e
        nh, off = ip6[off], off + (ip6[off + 1] + 1) * 8
    if nh != 6:
        return None
    tcp = ip6[off:]
    sport, dport, seq = struct.unpack(">HHI", tcp[:8])
    flags = tcp[13]
    doff = (tcp[12] >> 4) * 4
    payload = 40 + plen - off - doff
    return sport, dport, seq, flags, payload, ids, room


def check(pcap, expected, port):
    reqs = []
    with open(expected) as f:
        for line in f:
            o, n, t, s = line.split()
            reqs.append((int(o), int(n), t, s))
    isn, bad, data_segs, acks, server_tagged, seen = None, 0, 0, 0, 0, set()
    prev = None  # (end offset, flags, ids) of the previous client data segment
    followers = rooms = 0
    for ip6 in packets(pcap):
        p = parse(ip6)
        if p is None:
            continue
        sport, dport, seq, flags, payload, ids, room = p
        if room:
            print("FAIL: a packet (%d octets of payload) keeps the agent's room" % payload)
            rooms += 1
        if dport != port:
            if ids is not None:
                server_tagged += 1
            continue
        if flags & 0x02:  # SYN
            isn = seq
            continue
        if isn is None:
            continue
        if payload == 0:
            acks += 1
            if ids is not None:
                print("FAIL: a segment without payload carries %s" % (ids,))
                bad += 1
            continue
        data_segs += 1
        first = (seq - isn - 1) & 0xffffffff
        want = None
        for o, n, t, s in reqs:
            if o <= first < o + n:
                want = (t, s)
        # A GSO packet is tagged once, before the kernel splits it: its
        # later segments (contiguous, the earlier one without PSH) carry
        # the IDs of its first octet's request.
        if ids != want and prev is not None and prev[0] == first and not prev[1] & 0x08 \
                and prev[2] == ids and ids is not None:
            followers += 1
            prev = (first + payload, flags, ids)
            continue
        prev = (first + payload, flags, ids)
        if ids != want:
            idx = [i for i, r in enumerate(reqs) if ids and (r[2], r[3]) == ids]
            print("FAIL: segment at offset %d (%d octets) carries request %s's IDs %s, not %s" %
                  (first, payload, idx, ids, want))
            bad += 1
        else:
            seen.add(want)
    print("data segments %d (%d later segments of a GSO packet), requests seen %d of %d, "
          "pure ACKs %d, server tagged %d, mismatches %d" %
          (data_segs, followers, len(seen), len(reqs), acks, server_tagged, bad))
    if bad or rooms or server_tagged or data_segs == 0 or acks == 0 or \
            len(seen) < int(os.environ.get("BPF_CHECK_MIN_REQS", "10")):
        sys.exit(1)


if __name__ == "__main__":
    if sys.argv[1] == "client":
        client(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
    elif sys.argv[1] == "shimclient":
        shimclient(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "server":
        server(int(sys.argv[2]))
    else:
        check(sys.argv[2], sys.argv[3], int(sys.argv[4]))
