#!/usr/bin/env python3
"""collector.py - the demo's trace collector, one process for every namespace.

Loopback is per network namespace, so an OTLP receiver in one namespace is
out of reach of the programs in another. This process opens an OTLP/HTTP
JSON listener on [::1]:4318 and 127.0.0.1:4318 INSIDE each namespace it is
given: it switches its own thread into that namespace with setns(2), creates
the listening sockets (a socket keeps the namespace it was created in), and
switches back. No link to the root namespace is needed.

Every accepted request is appended, as one JSON line, to --out (OTLP JSON
lines, the format of tests/lib/otlp_receiver.py). When an OTLP collector such
as Jaeger answers on localhost:4318 in the namespace this process started in,
every request is also forwarded there.

Optional, for a person at a browser (make demo-up):
  --forward PORT=NS:ADDR:PORT  listen on 127.0.0.1:PORT here, connect to
                               ADDR:PORT inside namespace NS (the login page)
  --ui-port PORT               serve the live trace view on 127.0.0.1:PORT

  collector.py --ns clt-athos --ns clt-aramis --out spans.jsonl [--ready FILE]
"""
import argparse
import ctypes
import http.server
import os
import queue
import signal
import socket
import sys
import threading
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
import otlp_receiver  # noqa: E402  (the shared OTLP/HTTP JSON handler)
import waterfall  # noqa: E402

CLONE_NEWNET = 0x40000000
OTLP_PORT = 4318
_libc = ctypes.CDLL(None, use_errno=True)


def setns_fd(fd):
    """Move the calling thread into the network namespace behind fd."""
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "setns: " + os.strerror(err))


def netns_fd(name):
    return os.open("/run/netns/" + name, os.O_RDONLY | os.O_CLOEXEC)


class TeeOut:
    """File-like sink for otlp_receiver.Receiver: one shared JSON lines file,
    plus a queue of requests to forward to an outside collector."""

    def __init__(self, path, forward_q):
        self.f = open(path, "a")
        self.lock = threading.Lock()
        self.q = forward_q

    def write(self, line):
        with self.lock:
            self.f.write(line)
        if self.q is not None:
            self.q.put(line)

    def flush(self):
        with self.lock:
            self.f.flush()


def make_receiver(addr, family, out, stats_lock):
    srv = otlp_receiver.Server(addr, family)
    srv.lock = stats_lock
    srv.requests = srv.accepted = srv.refused = srv.spans = 0
    srv.status = [200]
    srv.retry_after = None
    srv.delay = 0.0
    srv.verbose = False
    srv.out = out
    return srv


def otlp_answers(url):
    """True when an OTLP/HTTP JSON collector accepts an empty export at url."""
    req = urllib.request.Request(url, data=b'{"resourceSpans":[]}', method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=1.5) as r:
            return 200 <= r.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def forwarder(url, q):
    while True:
        line = q.get()
        if line is None:
            return
        req = urllib.request.Request(url, data=line.encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=5).close()
        except (urllib.error.URLError, OSError) as e:
            sys.stderr.write("collector: forwarding to %s failed: %s\n" % (url, e))


def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def tcp_forward(listen_port, ns_name, addr, port):
    """127.0.0.1:listen_port here -> addr:port inside namespace ns_name."""
    lsock = socket.create_server(("127.0.0.1", listen_port), reuse_port=False)
    target_ns = netns_fd(ns_name)

    def serve_one(conn):
        # This thread only: the connection is opened inside the namespace.
        try:
            setns_fd(target_ns)
            up = socket.create_connection((addr, port), timeout=5)
            up.settimeout(None)
        except OSError as e:
            sys.stderr.write("collector: forward to %s in %s: %s\n" % (addr, ns_name, e))
            conn.close()
            return
        t = threading.Thread(target=pipe, args=(up, conn), daemon=True)
        t.start()
        pipe(conn, up)
        t.join()
        up.close()
        conn.close()

    def loop():
        while True:
            conn, _ = lsock.accept()
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()


def ui_server(port, out_path, phases_path, subtitle):
    class UI(http.server.BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            spans = otlp_receiver.load_spans(out_path)
            phases = waterfall.load_phases(phases_path)
            page = waterfall.render_html(waterfall.build_traces(spans, phases),
                                         refresh=3, subtitle=subtitle).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), UI)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ns", action="append", default=[], help="namespace to listen in (repeat)")
    ap.add_argument("--out", required=True, help="append every request here (OTLP JSON lines)")
    ap.add_argument("--upstream", default="http://localhost:%d/v1/traces" % OTLP_PORT,
                    help="outside collector to forward to when it answers")
    ap.add_argument("--no-upstream", action="store_true")
    ap.add_argument("--forward", action="append", default=[], metavar="PORT=NS:ADDR:PORT")
    ap.add_argument("--ui-port", type=int)
    ap.add_argument("--phases", default="", help="phase file for the live view")
    ap.add_argument("--subtitle", default="", help="a line under the live view's title")
    ap.add_argument("--ready", help="file to create once every listener is up")
    a = ap.parse_args()

    fq = None
    if not a.no_upstream and not otlp_answers(a.upstream) and "//localhost:" in a.upstream:
        # "localhost" may name only 127.0.0.1 while a collector listens on ::1.
        v6 = a.upstream.replace("//localhost:", "//[::1]:")
        if otlp_answers(v6):
            a.upstream = v6
    if not a.no_upstream and otlp_answers(a.upstream):
        print("collector: Jaeger (an OTLP collector) answers on %s: traces go there too; "
              "open its UI at http://localhost:16686" % a.upstream, flush=True)
        fq = queue.Queue()
        fwd_thread = threading.Thread(target=forwarder, args=(a.upstream, fq), daemon=True)
        fwd_thread.start()
    elif a.no_upstream:
        print("collector: forwarding off: traces stay in the demo's own trace view", flush=True)
    else:
        print("collector: no Jaeger on localhost:%d: traces stay in the demo's own trace view"
              % OTLP_PORT, flush=True)

    out = TeeOut(a.out, fq)
    stats_lock = threading.Lock()
    servers = []
    home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        for ns in a.ns:
            fd = netns_fd(ns)
            setns_fd(fd)
            os.close(fd)
            try:
                for host, fam in (("::1", socket.AF_INET6), ("127.0.0.1", socket.AF_INET)):
                    servers.append((ns, host, make_receiver((host, OTLP_PORT), fam, out,
                                                            stats_lock)))
            finally:
                setns_fd(home)
    except OSError as e:
        sys.stderr.write("collector: cannot listen in namespace: %s\n" % e)
        return 1

    # Threads start only now, from the home namespace.
    for _, _, srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    for spec in a.forward:
        lport, rest = spec.split("=", 1)
        ns, target = rest.split(":", 1)
        taddr, tport = target.rsplit(":", 1)
        tcp_forward(int(lport), ns, taddr.strip("[]"), int(tport))
    if a.ui_port:
        ui_server(a.ui_port, a.out, a.phases, a.subtitle)

    print("collector: listening on [::1]:%d and 127.0.0.1:%d in %s"
          % (OTLP_PORT, OTLP_PORT, ", ".join(a.ns)), flush=True)
    if a.ready:
        open(a.ready, "w").close()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    for _, _, srv in servers:
        srv.shutdown()
    out.flush()
    if fq is not None:
        fq.put(None)
        fwd_thread.join(timeout=5)
    total = sum(s.spans for _, _, s in servers)
    reqs = sum(s.accepted for _, _, s in servers)
    print("collector: %d export requests, %d spans" % (reqs, total), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
