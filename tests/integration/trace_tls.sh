#!/usr/bin/env bash
# trace_tls.sh - SERVER spans over TLS: nginx (OpenSSL, SSL_read and
# SSL_write) and a Python http.server wrapped in ssl (OpenSSL through
# _ssl, SSL_read_ex and SSL_write_ex) under libcltshim.so with
# CLT_TRACING=spans. Keep-alive requests with and without a traceparent:
# one SERVER span each, under its own request's parent, url.scheme=https;
# gnutls-serv --http (GnuTLS) when installed, HTTP/1.0; a served thread's
# outgoing call over GnuTLS, a CLIENT span under its SERVER span; a
# request whose connection closes before its body arrived ends marked
# so; the bytes the clients get are the same as from an nginx without the
# shim. The test CA and server certificate are made here.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
for p in nginx openssl curl; do
	command -v $p >/dev/null || { echo "SKIP: $p missing (scripts/deps.sh)"; exit 77; }
done
. tests/lib/shim_common.sh
. tests/lib/agent_helpers.sh
ag_need_binaries
TF=$PWD/tests/lib/trace_fixture.py
trap 'ag_cleanup; stage_cleanup' EXIT
topo_single "ttl$$" || fail "cannot build the namespace"
NS=$TOPO_S
SOCK=$AG_TMP/tag.sock
OUT=$AG_TMP/spans.json
W=$AG_TMP/w
mkdir -p "$W/www" "$W/tmp" "$W/plain"
head -c 30000 /dev/urandom | base64 >"$W/www/file.txt"

# A CA and a certificate for [::1], valid one day.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=clt-test-ca \
	-keyout "$W/ca.key" -out "$W/ca.pem" 2>/dev/null &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
		-keyout "$W/srv.key" -out "$W/srv.csr" 2>/dev/null &&
	printf 'subjectAltName=IP:::1,DNS:localhost\n' >"$W/ext" &&
	openssl x509 -req -in "$W/srv.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial \
		-days 1 -extfile "$W/ext" -out "$W/srv.pem" 2>/dev/null ||
	fail "cannot make the test certificates"

# nginx.conf for @port, its files under @dir.
ngx_conf() { # port dir
	cat <<NGX
user root;
worker_processes 1;
pid $2/nginx.pid;
error_log $2/nginx.error.log warn;
daemon off;
events { worker_connections 64; }
http {
	sendfile on;
	default_type application/octet-stream;
	access_log off;
	client_body_temp_path $W/tmp/body$1;
	proxy_temp_path $W/tmp/proxy$1;
	fastcgi_temp_path $W/tmp/fastcgi$1;
	uwsgi_temp_path $W/tmp/uwsgi$1;
	scgi_temp_path $W/tmp/scgi$1;
	server {
		listen [::1]:$1 ssl;
		ssl_certificate $W/srv.pem;
		ssl_certificate_key $W/srv.key;
		root $W/www;
		location /fixed { return 200 "fixed\n"; }
		location /post { proxy_pass http://[::1]:9/; }
	}
}
NGX
}
ngx_conf 8443 "$W" >"$W/nginx.conf"
ngx_conf 8453 "$W/plain" >"$W/plain/nginx.conf"

ag_agent "$NS" "$AG_TMP/agent.log" --tag-socket "$SOCK" --output "$OUT" --batch-timeout 100ms \
	--stats-interval 0
SHIMENV=(env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" CLT_TRACING=spans CLT_AGENT_SOCKET="$SOCK")
ip netns exec "$NS" "${SHIMENV[@]}" OTEL_SERVICE_NAME=nginx-tls nginx -c "$W/nginx.conf" -p "$W" \
	>"$AG_TMP/nginx.out" 2>&1 &
NGX=$!
AG_PIDS+=($NGX)
ip netns exec "$NS" nginx -c "$W/plain/nginx.conf" -p "$W/plain" >"$AG_TMP/nginx-plain.out" 2>&1 &
AG_PIDS+=($!)
ip netns exec "$NS" "${SHIMENV[@]}" OTEL_SERVICE_NAME=py-tls python3 - 8444 "$W/srv.pem" \
	"$W/srv.key" >"$AG_TMP/py.out" 2>&1 <<'PY' &
import http.server, signal, ssl, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))  # exit normally: the last spans are flushed
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        body = ("py %s\n" % self.path).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
class S(http.server.ThreadingHTTPServer):
    address_family = __import__("socket").AF_INET6
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
srv = S(("::1", int(sys.argv[1])), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
PY
PY_PID=$!
AG_PIDS+=($PY_PID)
PORTS="8443 8453 8444"
GT=
if command -v gnutls-serv >/dev/null; then
	echo "gnutls-data" >"$W/gt.txt"
	ip netns exec "$NS" "${SHIMENV[@]}" OTEL_SERVICE_NAME=gt-tls gnutls-serv --http -q \
		--httpdata="$W/gt.txt" -p 8445 --x509certfile "$W/srv.pem" --x509keyfile "$W/srv.key" \
		>"$AG_TMP/gt.out" 2>&1 &
	GT=$!
	AG_PIDS+=($GT)
	PORTS="$PORTS 8445"
else
	echo "# SKIP (part): gnutls-serv missing (gnutls-bin, scripts/deps.sh): no GnuTLS server case"
fi
for p in $PORTS; do
	topo_wait_port "$NS" $p || { cat "$W/nginx.error.log" "$AG_TMP/py.out"; fail "server on $p did not start"; }
done

T1=0af7651916cd43dd8448eb211c80319c S1=b7ad6b7169203331
T2=4bf92f3577b34da6a3ce929d0e0e4736 S2=00f067aa0ba902b7
T3=5bf92f3577b34da6a3ce929d0e0e4737 S3=10f067aa0ba902b8
CURL=(curl -m 20 -s --http1.1 --cacert "$W/ca.pem")
# curl, one keep-alive connection: traceparent, none, traceparent (a large static file).
curl_run() { # port
	ip netns exec "$NS" "${CURL[@]}" -w '%{num_connects}\n' -H "traceparent: 00-$T1-$S1-01" \
		"https://[::1]:$1/fixed" --next "${CURL[@]}" -w '%{num_connects}\n' "https://[::1]:$1/fixed-none" \
		--next "${CURL[@]}" -w '%{num_connects}\n' -H "traceparent: 00-$T2-$S2-01" \
		"https://[::1]:$1/file.txt"
}
curl_run 8443 >"$AG_TMP/curl.shim" 2>"$AG_TMP/curl.err"
check "curl through nginx under the shim succeeds ($(head -c 200 "$AG_TMP/curl.err"))" [ $? = 0 ]
curl_run 8453 >"$AG_TMP/curl.plain" 2>&1
check "the bytes curl got are the same with and without the shim" cmp -s "$AG_TMP/curl.shim" "$AG_TMP/curl.plain"
# (-w's num_connects, summed: curl made one connection for the three.)
CONNS=$(grep -x "[0-9]\+" "$AG_TMP/curl.shim" | awk '{ n += $1 } END { print n }')
check "curl: one connection for the three requests (made $CONNS)" [ "$CONNS" = 1 ]

# Python's client, keep-alive, against the Python server; then a POST cut short on nginx.
ip netns exec "$NS" python3 - "$W/ca.pem" "$T3" "$S3" >"$AG_TMP/pyc.out" 2>&1 <<'PY'
import http.client, socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
c = http.client.HTTPSConnection("::1", 8444, context=ctx, timeout=10)
for hdr in ({"traceparent": "00-%s-%s-01" % (sys.argv[2], sys.argv[3])}, {}):
    c.request("GET", "/py" if hdr else "/py-none", headers=hdr)
    r = c.getresponse()
    body = r.read()
    assert r.status == 200 and body == b"py /py%s\n" % (b"" if hdr else b"-none"), body
c.close()
s = ctx.wrap_socket(socket.create_connection(("::1", 8443)), server_hostname="::1")
s.sendall(b"POST /post HTTP/1.1\r\nHost: [::1]\r\nContent-Length: 100\r\n\r\n0123456789")
s.close()
print("ok")
PY
check "Python client: requests answered ($(tail -c 300 "$AG_TMP/pyc.out"))" grep -qx ok "$AG_TMP/pyc.out"

# GnuTLS (gnutls_record_recv, gnutls_record_send): HTTP/1.0, one connection per request.
if [ -n "$GT" ]; then
	# Apart: it has no graceful exit, and a span after a quiet spell leaves at once.
	ip netns exec "$NS" "${CURL[@]}" -H "traceparent: 00-$T1-$S3-01" "https://[::1]:8445/gt" \
		>"$AG_TMP/gt.curl" 2>&1
	sleep 0.4
	ip netns exec "$NS" "${CURL[@]}" "https://[::1]:8445/gt-none" >>"$AG_TMP/gt.curl" 2>&1
	check "gnutls-serv: both answered, bytes as served" \
		[ "$(cat "$AG_TMP/gt.curl")" = "$(printf 'gnutls-data\ngnutls-data')" ]
	for i in $(seq 1 40); do
		[ "$(python3 "$TF" spans "$OUT" 2>/dev/null | grep -c gt-tls)" -ge 2 ] && break
		sleep 0.25
	done
fi

# A served thread's outgoing call over GnuTLS (tls_both --serve: one clear request in, one
# HTTPS request out to the plain nginx, on the same thread): a CLIENT span, child of its SERVER
# span, ended by the response gnutls_record_recv returned.
ip netns exec "$NS" "${SHIMENV[@]}" OTEL_SERVICE_NAME=gt-served "$AG_BUILD/tests/tools/tls_both" \
	--serve 8446 8453 "$W/ca.pem" >"$AG_TMP/served.out" 2>&1 &
SERVED=$!
AG_PIDS+=($SERVED)
topo_wait_port "$NS" 8446 || fail "tls_both --serve did not start: $(cat "$AG_TMP/served.out")"
ip netns exec "$NS" curl -m 20 -s -H "traceparent: 00-$T3-$S1-01" "http://[::1]:8446/in" >"$AG_TMP/served.curl" 2>&1
wait "$SERVED"
check "served thread: answered after its GnuTLS call ($(tr '\n' ' ' <"$AG_TMP/served.out"))" \
	bash -c "[ \"\$(cat '$AG_TMP/served.curl')\" = ok ] && grep -q '^answer: fixed' '$AG_TMP/served.out'"

# Both servers end gracefully: their last spans are flushed at exit.
sleep 0.5
kill -QUIT "$NGX"
wait "$NGX" 2>/dev/null
kill -TERM "$PY_PID"
wait "$PY_PID" 2>/dev/null
for i in $(seq 1 40); do
	[ "$(python3 "$TF" spans "$OUT" 2>/dev/null | grep -c nginx-tls)" -ge 4 ] && break
	sleep 0.25
done
sleep 0.3
ag_stop_agent
python3 "$TF" spans "$OUT" >"$AG_TMP/spans.txt"
python3 - "$AG_TMP/spans.txt" "$T1" "$S1" "$T2" "$S2" "$T3" "$S3" "${GT:+1}" <<'PY'
import json, sys
t1, s1, t2, s2, t3, s3 = sys.argv[2:8]
sp = [json.loads(l) for l in open(sys.argv[1])]
fails = 0
def check(what, ok):
    global fails
    print(("ok   - " if ok else "FAIL - ") + what)
    fails += not ok
ngx = [s for s in sp if s["resource"].get("service.name") == "nginx-tls"]
py = [s for s in sp if s["resource"].get("service.name") == "py-tls"]
check("nginx: 4 SERVER spans (got %d: %s)" % (len(ngx), [s["attrs"].get("url.path") for s in ngx]), len(ngx) == 4)
check("python: 2 SERVER spans (got %d)" % len(py), len(py) == 2)
by = {s["attrs"].get("url.path"): s for s in ngx + py}
def under(path, t, p):
    s = by.get(path)
    return s is not None and s["traceId"] == t and s.get("parentSpanId") == p
check("nginx /fixed under its traceparent", under("/fixed", t1, s1))
check("nginx /file.txt under its traceparent", under("/file.txt", t2, s2))
check("python /py under its traceparent", under("/py", t3, s3))
for path in ("/fixed-none", "/py-none"):
    s = by.get(path)
    check("%s: a new trace, no parent" % path, s is not None and not s.get("parentSpanId") and s["traceId"] not in (t1, t2, t3))
ok = [s for s in ngx + py if s["attrs"].get("url.path") != "/post"]
check("all SERVER, GET, status 200, url.scheme=https", all(
    s["kind"] == 2 and s["name"] == "GET" and s["attrs"].get("http.response.status_code") == "200"
    and s["attrs"].get("url.scheme") == "https" and s["attrs"].get("server.port") == str(8443 if s in ngx else 8444)
    for s in ok) and len(ok) == 5)
p = by.get("/post")
check("the POST cut short: ended with its connection, marked so (%s)" % (p and p["attrs"]),
      p is not None and p["attrs"].get("error.type") == "connection_closed" and p["attrs"].get("url.scheme") == "https")
gt = [s for s in sp if s["resource"].get("service.name") == "gt-tls"]
if sys.argv[8] == "1":
    check("gnutls-serv: 2 SERVER spans (got %d)" % len(gt), len(gt) == 2)
    g = {s["attrs"].get("url.path"): s for s in gt}
    check("gnutls-serv /gt under its traceparent, https", "/gt" in g and g["/gt"]["traceId"] == t1
          and g["/gt"].get("parentSpanId") == s3 and g["/gt"]["attrs"].get("url.scheme") == "https")
    check("gnutls-serv /gt-none: a new trace, status 200", "/gt-none" in g and not g["/gt-none"].get("parentSpanId")
          and g["/gt-none"]["attrs"].get("http.response.status_code") == "200")
sv = [s for s in sp if s["resource"].get("service.name") == "gt-served"]
srv = [s for s in sv if s["kind"] == 2]
cli = [s for s in sv if s["kind"] == 3]
check("served thread: one SERVER span under its traceparent, one CLIENT span (got %d, %d)" % (len(srv), len(cli)),
      len(srv) == 1 and len(cli) == 1 and srv[0]["traceId"] == t3 and srv[0].get("parentSpanId") == s1)
check("served thread: the GnuTLS CLIENT span is the SERVER span's child, https, status 200 (%s)"
      % (cli and cli[0]["attrs"]), len(srv) == 1 and len(cli) == 1 and cli[0]["traceId"] == t3
      and cli[0].get("parentSpanId") == srv[0]["spanId"]
      and cli[0]["attrs"].get("url.full") == "https://x/fixed"
      and cli[0]["attrs"].get("http.response.status_code") == "200")
sys.exit(1 if fails else 0)
PY
rc=$?
[ $rc -eq 0 ] || fails=$((fails + 1))
check "no plaintext in the servers' logs" bash -c "! grep -q 'traceparent\|fixed' '$AG_TMP/nginx.out' '$AG_TMP/py.out'"
summary
