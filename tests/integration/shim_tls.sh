#!/usr/bin/env bash
# shim_tls.sh - HTTPS under libcltshim.so: requests sent through OpenSSL
# (curl, Python) and GnuTLS (wget) carry their traceparent's IDs in the
# kernel's IOAM events, keep-alive requests each their own (wget's under
# CLT_TRACING=spans: each its own CLIENT span); the programs'
# output is the same with and without the shim; a program with no TLS
# library is unaffected. The test CA and server certificate are made here.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/shim_common.sh
NO_CURL=$(no_curl_reason)
need_programs openssl curl wget
shim_setup "tl$$"

# A CA and a certificate for [::1], valid one day.
tls_test_certs "$TMP"
TLS_PORT=8443
nsx python3 tests/lib/tls_server.py $TLS_PORT "$TMP/srv.pem" "$TMP/srv.key" >"$TMP/tls.log" 2>&1 &
topo_wait_port "$NS" $TLS_PORT || { echo "FAIL: TLS server did not start: $(cat "$TMP/tls.log")"; exit 1; }

T1=0af7651916cd43dd8448eb211c80319c S1=b7ad6b7169203331
T2=4bf92f3577b34da6a3ce929d0e0e4736 S2=00f067aa0ba902b7
T3=5bf92f3577b34da6a3ce929d0e0e4731 S3=10f067aa0ba902b1
URL="https://[::1]:$TLS_PORT"
# Both with and without the shim: the output must be the same.
twice() { # name cmd...
	local name=$1
	shift
	nsx "$@" >"$TMP/$name.plain" 2>"$TMP/$name.plain.err"
	echo $? >>"$TMP/$name.plain"
	events_start "$TMP/$name.ev"
	under_shim "$@" >"$TMP/$name.shim" 2>"$TMP/$name.shim.err"
	echo $? >>"$TMP/$name.shim"
	events_stop
	check "$name: output identical with and without the shim" cmp -s "$TMP/$name.plain" "$TMP/$name.shim"
	check "$name: succeeds ($(head -c 200 "$TMP/$name.shim.err"))" [ "$(tail -n1 "$TMP/$name.shim")" = 0 ]
}
# Each request's IDs in at least one event, nothing else tagged.
only_ids() { # name trace span [trace span]...
	local name=$1 n sum=0
	shift
	while [ $# -ge 2 ]; do
		n=$(events_with "$1" "$2")
		sum=$((sum + n))
		check "$name: IDs $1/$2 in $n events" [ "$n" -ge 1 ]
		shift 2
	done
	check "$name: no event carries other IDs ($(events_tagged) tagged, $sum expected)" \
		[ "$(events_tagged)" -eq "$sum" ]
}
CURL=(curl -m 20 -s --http1.1 --cacert "$TMP/ca.pem")

# 1. curl (OpenSSL; it loads GnuTLS too, so this is also the both-libraries case).
if [ -n "$NO_CURL" ]; then
	echo "# SKIP (sanitizer pass): the curl cases: $NO_CURL"
else
twice curl "${CURL[@]}" -H "traceparent: 00-$T1-$S1-01" "$URL/one"
only_ids curl $T1 $S1
check "curl: the server saw the traceparent" grep -q "GET /one 00-$T1-$S1-01 0" "$TMP/curl.shim"

# 2. Keep-alive: two requests, two contexts, one connection.
twice curl_next "${CURL[@]}" -w '%{num_connects}\n' -H "traceparent: 00-$T1-$S1-01" "$URL/a" \
	--next "${CURL[@]}" -w '%{num_connects}\n' -H "traceparent: 00-$T2-$S2-01" -d @tests/lib/tls_server.py "$URL/b"
only_ids curl_next $T1 $S1 $T2 $S2
check "curl --next: one connection for both requests" \
	[ "$(awk '/^[0-9]+$/ { n += $1 } END { print n }' "$TMP/curl_next.shim")" = 1 ]

# 3. No traceparent: nothing tagged, not even by the handshake.
twice curl_none "${CURL[@]}" "$URL/none"
check "no traceparent: no tagged events ($(events_tagged))" [ "$(events_tagged)" -eq 0 ]
fi

# 4. wget (GnuTLS).
twice wget wget -q -O - --ca-certificate="$TMP/ca.pem" --header "traceparent: 00-$T2-$S2-01" "$URL/wget"
only_ids wget $T2 $S2

# 4b. wget under CLT_TRACING=spans, handed its context by its parent (TRACEPARENT), two URLs on
# one kept-alive connection: each request is its own CLIENT span (gnutls_record_send is
# gnutls_record_send2 inside GnuTLS: one transaction), tagged with its own span-id.
twice wget_spans env CLT_TRACING=spans CLT_AGENT_SOCKET="$TMP/no-agent.sock" \
	TRACEPARENT="00-$T1-$S1-01" wget -q -O - --ca-certificate="$TMP/ca.pem" "$URL/ws1" "$URL/ws2"
WS=$(grep -o -- "trace=$T1 span=[0-9a-f]*\$" "$TMP/wget_spans.ev" | sort -u | grep -vc "span=$S1\$")
check "wget spans: two CLIENT spans' IDs in the events (got $WS), none the parent's" \
	[ "$WS" = 2 -a "$(events_with $T1 $S1)" = 0 ]
check "wget spans: no event carries another trace ($(events_tagged) tagged)" \
	[ "$(grep -c -- "trace=$T1 " "$TMP/wget_spans.ev")" -eq "$(events_tagged)" ]
check "wget spans: the server saw no traceparent (spans mode injects none)" \
	[ "$(grep -c "^GET /ws[12] - 0 " "$TMP/wget_spans.shim")" = 2 ]

# 5. Python's http.client over TLS (OpenSSL loaded by the _ssl module, privately), keep-alive.
PY_TLS="
import http.client, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.set_alpn_protocols(['http/1.1'])
c = http.client.HTTPSConnection('::1', $TLS_PORT, context=ctx)
for tp, path in (('00-$T1-$S1-01', '/py1'), ('00-$T2-$S2-01', '/py2')):
    c.request('POST', path, body=b'x' * 100000, headers={'traceparent': tp})
    print(c.getresponse().read().decode(), end='')
import urllib.request
r = urllib.request.Request('$URL/urllib', headers={'traceparent': '00-$T3-$S3-01'})
print(urllib.request.urlopen(r, context=ctx).read().decode(), end='')
"
twice python python3 -c "$PY_TLS" "$TMP/ca.pem"
only_ids python $T1 $S1 $T2 $S2 $T3 $S3

# 6. A program with no TLS library (Python without ssl) over clear HTTP: tagged as before.
PY_PLAIN="
import socket, sys
s = socket.create_connection(('::1', $SHIM_PORT))
s.sendall(b'GET / HTTP/1.1\\r\\nHost: x\\r\\ntraceparent: 00-$T1-$S1-01\\r\\nConnection: close\\r\\n\\r\\n')
print(s.recv(12).decode())
assert 'ssl' not in sys.modules and not [l for l in open('/proc/self/maps') if 'libssl' in l or 'gnutls' in l]
"
twice plain python3 -c "$PY_PLAIN"
only_ids plain $T1 $S1

# 7. A non-blocking OpenSSL client: SSL_ERROR_WANT_WRITE retries of a large request against a
# server that reads late, a TLS 1.3 key update, a session whose socket is closed mid-request.
SLOW_PORT=8444
nsx python3 tests/lib/tls_server.py $SLOW_PORT "$TMP/srv.pem" "$TMP/srv.key" --rcvbuf 16384 \
	>"$TMP/slow.log" 2>&1 &
topo_wait_port "$NS" $SLOW_PORT || { echo "FAIL: slow TLS server did not start"; exit 1; }
twice client "$PWD/$BUILD/tests/tools/tls_client" $SLOW_PORT "$TMP/ca.pem" $T1-$S1 $T2-$S2 $T3-$S3
sed 's/^/# client: /' "$TMP/client.shim"
check "client: WANT_WRITE met and retried to the end" grep -q "took 4194[0-9]* of .*WANT_WRITE met: yes" "$TMP/client.shim"
check "client: the server got the whole body" grep -q "answer: POST /slow 00-$T1-$S1-01 4194304 " "$TMP/client.shim"
check "client: request after the key update answered" grep -q "answer: GET /after-key-update 00-$T2-$S2-01 0" "$TMP/client.shim"
only_ids client $T1 $S1 $T2 $S2 $T3 $S3

# 7b. One program with both OpenSSL and GnuTLS: a request through each (GnuTLS's
# gnutls_record_send2), each tagged with its own IDs; then a 4 MiB request over GnuTLS on a
# non-blocking socket to the late reader: GNUTLS_E_AGAIN retried with the same arguments, one
# record's worth per call.
twice both "$PWD/$BUILD/tests/tools/tls_both" $TLS_PORT "$TMP/ca.pem" $T1-$S1 $T2-$S2 $SLOW_PORT $T3-$S3
sed 's/^/# both: /' "$TMP/both.shim"
check "both: each library's request answered" \
	[ "$(grep -c -e "^answer: GET /openssl 00-$T1-$S1-01" -e "^answer: GET /gnutls 00-$T2-$S2-01" "$TMP/both.shim")" -eq 2 ]
check "both: GnuTLS E_AGAIN met and retried to the end" \
	grep -q "took 4194[0-9]* of .*short counts: yes; E_AGAIN met: yes" "$TMP/both.shim"
check "both: the server got the whole GnuTLS body" grep -q "answer: POST /slow 00-$T3-$S3-01 4194304 " "$TMP/both.shim"
only_ids both $T1 $S1 $T2 $S2 $T3 $S3

# 7c. PHP's curl extension (loaded with RTLD_DEEPBIND, its libssl rebound to the shim).
if [ -n "$NO_CURL" ]; then
	echo "# SKIP (sanitizer pass): the PHP case: PHP loads its extensions with RTLD_DEEPBIND, which the ASan runtime aborts"
elif command -v php >/dev/null 2>&1 && php -m 2>/dev/null | grep -qx curl; then
	cat >"$TMP/req.php" <<'PHP'
<?php
$c = curl_init($argv[1]);
curl_setopt($c, CURLOPT_HTTPHEADER, array("traceparent: " . $argv[2]));
curl_setopt($c, CURLOPT_CAINFO, $argv[3]);
curl_setopt($c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
curl_setopt($c, CURLOPT_RETURNTRANSFER, true);
echo curl_exec($c);
PHP
	twice php php "$TMP/req.php" "$URL/php" "00-$T2-$S2-01" "$TMP/ca.pem"
	only_ids php $T2 $S2
else
	echo "# SKIP: the PHP case: php-cli with php-curl not installed"
fi

# 8. nginx as a TLS reverse proxy to an https upstream, traceparent forwarded: the upstream
# connection (nginx's SSL_write on its own socket) carries the request's IDs.
if command -v nginx >/dev/null; then
	NGX_PORT=8445
	mkdir -p "$TMP/ngx"
	cat >"$TMP/ngx/nginx.conf" <<CONF
user root;
worker_processes 1;
pid $TMP/ngx/nginx.pid;
error_log $TMP/ngx/error.log warn;
daemon off;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $TMP/ngx/body;
	proxy_temp_path $TMP/ngx/proxy;
	fastcgi_temp_path $TMP/ngx/fastcgi;
	uwsgi_temp_path $TMP/ngx/uwsgi;
	scgi_temp_path $TMP/ngx/scgi;
	upstream origin {
		server [::1]:$TLS_PORT;
		keepalive 4;
	}
	server {
		listen [::1]:$NGX_PORT ssl;
		ssl_certificate $TMP/srv.pem;
		ssl_certificate_key $TMP/srv.key;
		location / {
			proxy_pass https://origin;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_ssl_trusted_certificate $TMP/ca.pem;
			proxy_ssl_verify on;
			proxy_ssl_name localhost;
		}
	}
	server {
		listen [::1]:$((NGX_PORT + 1)) ssl http2;
		ssl_certificate $TMP/srv.pem;
		ssl_certificate_key $TMP/srv.key;
		location / { return 200 "h2\n"; }
	}
}
CONF
	under_shim nginx -c "$TMP/ngx/nginx.conf" -p "$TMP/ngx" 2>"$TMP/ngx/stderr" &
	topo_wait_port "$NS" $NGX_PORT || { echo "FAIL: nginx did not start: $(cat "$TMP/ngx/stderr")"; exit 1; }
	events_start "$TMP/nginx.ev"
	nsx curl -m 20 -s --http1.1 --cacert "$TMP/ca.pem" -H "traceparent: 00-$T1-$S1-01" "https://[::1]:$NGX_PORT/n1" \
		--next -m 20 -s --http1.1 --cacert "$TMP/ca.pem" -H "traceparent: 00-$T2-$S2-01" "https://[::1]:$NGX_PORT/n2" \
		>"$TMP/nginx.out" 2>&1
	events_stop
	check "nginx: both answers came back through the proxy ($(tr '\n' ' ' <"$TMP/nginx.out"))" \
		[ "$(grep -c "^GET /n[12] 00-" "$TMP/nginx.out")" -eq 2 ]
	only_ids nginx $T1 $S1 $T2 $S2
	# A session that negotiated HTTP/2 (ALPN h2) is left alone (counted, said at debug).
	if [ -z "$NO_CURL" ]; then
		events_start "$TMP/h2.ev"
		CLT_LOG=debug under_shim curl -m 20 -s --http2 --cacert "$TMP/ca.pem" \
			-H "traceparent: 00-$T1-$S1-01" "https://[::1]:$((NGX_PORT + 1))/" >"$TMP/h2.out" 2>"$TMP/h2.err"
		events_stop
		check "h2: answered over HTTP/2 ($(cat "$TMP/h2.out"))" [ "$(cat "$TMP/h2.out")" = h2 ]
		check "h2: nothing tagged ($(events_tagged))" [ "$(events_tagged)" -eq 0 ]
		check "h2: the shim says it left the session alone" grep -q "HTTP/2 (ALPN h2) sessions left alone" "$TMP/h2.err"
	fi
	kill "$(cat "$TMP/ngx/nginx.pid")" 2>/dev/null
else
	echo "# SKIP: the nginx case: nginx not installed (nginx-light)"
fi

# 9. A memory BIO (Python's SSLObject): the application moves the ciphertext itself, after
# SSL_write_ex returned. The session has no socket the shim can see it write on: the send is
# counted and left alone, and the socket - a TLS stream from its ClientHello on - is never read
# as HTTP: nothing is tagged.
PY_MEMBIO="
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.set_alpn_protocols(['http/1.1'])
s = socket.create_connection(('::1', $TLS_PORT))
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
o = ctx.wrap_bio(inc, out, server_hostname='localhost')
def pump():
    d = out.read()
    if d:
        s.sendall(d)
while True:
    try:
        o.do_handshake()
        break
    except ssl.SSLWantReadError:
        pump()
        inc.write(s.recv(65536))
pump()
o.write(b'GET /membio HTTP/1.1\\r\\nHost: x\\r\\ntraceparent: 00-$T1-$S1-01\\r\\nConnection: close\\r\\n\\r\\n')
pump()
data = b''
while True:
    try:
        d = o.read(65536)
        if not d:
            break
        data += d
    except ssl.SSLWantReadError:
        r = s.recv(65536)
        if not r:
            break
        inc.write(r)
    except ssl.SSLError:
        break
print(data.split(b'\\r\\n\\r\\n', 1)[1].decode(), end='')
"
twice membio python3 -c "$PY_MEMBIO" "$TMP/ca.pem"
check "membio: the server saw the request ($(cat "$TMP/membio.shim" | head -1))" grep -q "^GET /membio 00-$T1-$S1-01 0" "$TMP/membio.shim"
check "membio: nothing tagged ($(events_tagged))" [ "$(events_tagged)" -eq 0 ]
CLT_LOG=debug under_shim python3 -c "$PY_MEMBIO" "$TMP/ca.pem" >/dev/null 2>"$TMP/membio.debug"
check "membio: the shim says it left the send alone" grep -q "reached no tracked socket left alone" "$TMP/membio.debug"
check "membio: no plaintext in the shim's log" bash -c "! grep -q -e membio -e traceparent '$TMP/membio.debug'"

# 10. The raw path: a stream whose first bytes are a TLS record is never read as HTTP, even
# when later bytes look like a traced request (they would be ciphertext).
PY_RAWTLS="
import hashlib, socket
s = socket.create_connection(('::1', $((SHIM_PORT + 1))))
s.sendall(bytes([0x16, 3, 1, 0, 4]) + b'\\x01\\x00\\x00\\x00')
s.sendall(b'GET / HTTP/1.1\\r\\nHost: x\\r\\ntraceparent: 00-$T1-$S1-01\\r\\n\\r\\n')
s.shutdown(socket.SHUT_WR)
print(s.recv(200).decode().strip())
"
twice rawtls python3 -c "$PY_RAWTLS"
check "rawtls: nothing tagged ($(events_tagged))" [ "$(events_tagged)" -eq 0 ]

check "nothing printed by the shim" bash -c "! cat '$TMP'/*.shim.err | grep -q clt"
summary
