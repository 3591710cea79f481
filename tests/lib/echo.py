#!/usr/bin/env python3
"""Non-HTTP traffic for the "untouched programs" case: a TCP and UDP echo
server, and clients that send a payload and check the echo is identical.

  echo.py serve --tcp 9000 --udp 9001 [--ready FILE]
  echo.py tcp HOST PORT SIZE      binary stream, sha256 of sent and echoed
  echo.py udp HOST PORT COUNT     datagrams that look like HTTP requests

The client prints "sent=<sha256> echoed=<sha256> octets=N" and exits 1 when
the two differ.
"""
import hashlib
import os
import socket
import sys
import threading


def serve_tcp(sock):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=echo_tcp, args=(conn,), daemon=True).start()


def echo_tcp(conn):
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            conn.sendall(data)


def serve_udp(sock):
    while True:
        data, peer = sock.recvfrom(65536)
        sock.sendto(data, peer)


def serve(args):
    tcp_port = int(args[args.index("--tcp") + 1])
    udp_port = int(args[args.index("--udp") + 1])
    t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    t.bind(("::", tcp_port))
    t.listen(16)
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    u.bind(("::", udp_port))
    threading.Thread(target=serve_udp, args=(u,), daemon=True).start()
    if "--ready" in args:
        open(args[args.index("--ready") + 1], "w").close()
    serve_tcp(t)


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def client_tcp(host, port, size):
    # A binary protocol that opens with an SMTP-like greeting, then octets
    # of every value, written in uneven chunks.
    payload = b"HELO clt.test\r\n" + os.urandom(size)
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.connect((host, port))
    got = bytearray()

    def reader():
        while len(got) < len(payload):
            data = s.recv(65536)
            if not data:
                break
            got.extend(data)

    r = threading.Thread(target=reader)
    r.start()
    off, step = 0, 1
    while off < len(payload):
        s.sendall(payload[off:off + step])
        off += step
        step = step * 3 % 9973 + 1
    r.join(timeout=20)
    s.close()
    return payload, bytes(got)


def client_udp(host, port, count):
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect((host, port))
    sent, got = bytearray(), bytearray()
    for i in range(count):
        tp = "00-%s-%s-01" % (os.urandom(16).hex(), os.urandom(8).hex())
        msg = ("GET /udp/%d HTTP/1.1\r\nHost: x\r\ntraceparent: %s\r\n\r\n" % (i, tp)).encode()
        s.send(msg)
        sent.extend(msg)
        got.extend(s.recv(65536))
    s.close()
    return bytes(sent), bytes(got)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    mode = sys.argv[1]
    if mode == "serve":
        return serve(sys.argv[2:])
    host, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    sent, got = client_tcp(host, port, n) if mode == "tcp" else client_udp(host, port, n)
    a, b = hashlib.sha256(sent).hexdigest(), hashlib.sha256(got).hexdigest()
    print("sent=%s echoed=%s octets=%d" % (a, b, len(sent)))
    return 0 if a == b else 1


if __name__ == "__main__":
    sys.exit(main())
