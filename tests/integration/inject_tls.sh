#!/usr/bin/env bash
# inject_tls.sh - CLT_TRACING=inject over HTTPS: a request without a trace
# header sent through OpenSSL (curl, the non-blocking tls_client meeting
# SSL_ERROR_WANT_WRITE) or GnuTLS (wget, keep-alive) reaches the server with exactly
# one traceparent line, right after its request line, naming the CLIENT
# span the shim exported; the application's output (return values, SSL
# errors, byte counts) is the same as without the shim, the server's echo
# of the traceparent aside. A request with its own traceparent gets none.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/shim_common.sh
NO_CURL=$(no_curl_reason)
need_programs openssl curl wget
need_built "$PWD/$BUILD/cltagent"
shim_setup "it$$"

tls_test_certs "$TMP"
TLS_PORT=8443 SLOW_PORT=8444
nsx python3 tests/lib/tls_server.py $TLS_PORT "$TMP/srv.pem" "$TMP/srv.key" --headers "$TMP/hdr" \
	>"$TMP/tls.log" 2>&1 &
nsx python3 tests/lib/tls_server.py $SLOW_PORT "$TMP/srv.pem" "$TMP/srv.key" --rcvbuf 16384 \
	--headers "$TMP/hdr" >"$TMP/slow.log" 2>&1 &
topo_wait_port "$NS" $TLS_PORT && topo_wait_port "$NS" $SLOW_PORT ||
	{ echo "FAIL: TLS servers did not start: $(cat "$TMP/tls.log" "$TMP/slow.log")"; exit 1; }

# A private agent: the shim's CLIENT spans, exported.
SOCK=$TMP/tag.sock
agent_private "$NS" "$SOCK" "$TMP/agent.log" --output "$TMP/spans.json" --batch-timeout 100ms \
	--stats-interval 0

URL="https://[::1]:$TLS_PORT"
T1=0af7651916cd43dd8448eb211c80319c S1=b7ad6b7169203331
# The server's answers echo the traceparent: set aside, the output must be the same.
norm() { sed -E 's/ (-|00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]) ([0-9]+ [0-9a-f]{64})$/ TP \2/'; }
twice() { # name cmd...
	local name=$1
	shift
	nsx "$@" >"$TMP/$name.plain" 2>"$TMP/$name.plain.err"
	echo $? >>"$TMP/$name.plain"
	: >"$TMP/hdr"
	under_shim CLT_TRACING=inject CLT_AGENT_SOCKET="$SOCK" OTEL_SERVICE_NAME="$name" "$@" \
		>"$TMP/$name.shim" 2>"$TMP/$name.shim.err"
	echo $? >>"$TMP/$name.shim"
	cp "$TMP/hdr" "$TMP/$name.hdr"
	check "$name: succeeds ($(head -c 200 "$TMP/$name.shim.err"))" [ "$(tail -n1 "$TMP/$name.shim")" = 0 ]
	check "$name: output identical with and without the shim, the echoed traceparent aside" \
		cmp -s <(norm <"$TMP/$name.plain") <(norm <"$TMP/$name.shim")
}
# Each listed path: one traceparent line, the first header (the injected one: curl and wget
# put Host first); a path prefixed with '=' is the application's own traceparent, not doubled.
one_line() { # name path...
	local name=$1 p
	shift
	for p in "$@"; do
		check "$name $p: one traceparent line, right after the request line" \
			grep -qx "${p#=} traceparent 1 [0-9]*" "$TMP/$name.hdr"
	done
}
# The traceparents the server echoed name the CLIENT spans the sockets were tagged with, as
# the agent exported them (the parents of its network spans: the shim's own CLIENT span
# export over TLS is not waited for).
SPANS_PY='
import sys, re
sys.path.insert(0, "tests/lib")
from otlp_receiver import load_spans
name, out = sys.argv[2], open(sys.argv[3]).read()
seen = [t for t in re.findall(r" 00-([0-9a-f]{32})-([0-9a-f]{16})-01 ", out) if t[0] != sys.argv[4]]
# The CLIENT span a socket was tagged with: the parent of a network span.
cl = {(s["traceId"], s["parentSpanId"]) for s in load_spans(sys.argv[1]) if s["name"].startswith("network")}
print(len(seen), sum(1 for t in seen if t in cl))
'
client_ids() { # name count: the echoed IDs are tagged CLIENT spans
	local got
	for _ in $(seq 1 40); do
		got=$(python3 -c "$SPANS_PY" "$TMP/spans.json" "$1" "$TMP/$1.shim" $T1)
		[ "$got" = "$2 $2" ] && break
		sleep 0.1
	done
	check "$1: the $2 injected traceparent(s) name the tagged CLIENT spans ($got)" [ "$got" = "$2 $2" ]
}
# The shim's own CLIENT spans over TLS: each ended by its response, read through SSL_read or
# gnutls_record_recv, so each carries the response's status, and every request has one.
OWN_PY='
import sys, re
sys.path.insert(0, "tests/lib")
from otlp_receiver import load_spans
out = open(sys.argv[2]).read()
seen = {t for t in re.findall(r" 00-([0-9a-f]{32})-([0-9a-f]{16})-01 ", out) if t[0] != sys.argv[3]}
ok = [s for s in load_spans(sys.argv[1]) if (s["traceId"], s["spanId"]) in seen
      and s["kind"] == 3 and s["attrs"].get("http.response.status_code") == 200
      and s["attrs"].get("url.full", "").startswith("https://")]
print(len(seen), len(ok))
'
own_client_spans() { # name count
	local got
	for _ in $(seq 1 40); do
		got=$(python3 -c "$OWN_PY" "$TMP/spans.json" "$TMP/$1.shim" $T1)
		[ "$got" = "$2 $2" ] && break
		sleep 0.1
	done
	check "$1: each of the $2 requests has its own CLIENT span (https, status 200 from its response: $got)" \
		[ "$got" = "$2 $2" ]
}
CURL=(curl -m 20 -s --http1.1 --cacert "$TMP/ca.pem")

if [ -n "$NO_CURL" ]; then
	echo "# SKIP (sanitizer pass): the curl cases: $NO_CURL"
else
	# curl (OpenSSL), keep-alive: a bare GET, a bare POST, then one with its own traceparent.
	twice curl "${CURL[@]}" "$URL/c1" --next "${CURL[@]}" -d @tests/lib/tls_server.py "$URL/c2" \
		--next "${CURL[@]}" -H "traceparent: 00-$T1-$S1-01" "$URL/c3"
	one_line curl /c1 /c2
	check "curl /c3: its own traceparent only" grep -qx "/c3 host 1 0" "$TMP/curl.hdr"
	check "curl: the server saw its own IDs on /c3" grep -q "GET /c3 00-$T1-$S1-01 0" "$TMP/curl.shim"
	client_ids curl 2
	own_client_spans curl 2
fi

# wget (GnuTLS), two requests on one kept-alive connection. Inside GnuTLS gnutls_record_send
# is gnutls_record_send2, called through the shim: the pieces of one send are one transaction
# (followed again, a piece was read as a stream of its own and the socket given up).
twice wget wget -q -O - --ca-certificate="$TMP/ca.pem" "$URL/w1" "$URL/w2"
one_line wget /w1 /w2
client_ids wget 2
own_client_spans wget 2
# CLT_TRACING=spans (no injection): wget's two requests are two root CLIENT spans, exported.
nsx env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" CLT_TRACING=spans CLT_AGENT_SOCKET="$SOCK" \
	OTEL_SERVICE_NAME=wget-spans wget -q -O /dev/null --ca-certificate="$TMP/ca.pem" \
	"$URL/ws1" "$URL/ws2" 2>"$TMP/wget-spans.err"
ROOT_PY='
import sys
sys.path.insert(0, "tests/lib")
from otlp_receiver import load_spans
sp = [s for s in load_spans(sys.argv[1]) if s["resource"].get("service.name") == "wget-spans"]
ok = {s["attrs"].get("url.full") for s in sp if s["kind"] == 3 and not s.get("parentSpanId")
      and s["attrs"].get("http.response.status_code") == 200}
print(len(sp), len(ok), len({s["traceId"] for s in sp}))
'
for _ in $(seq 1 40); do
	got=$(python3 -c "$ROOT_PY" "$TMP/spans.json")
	[ "$got" = "2 2 2" ] && break
	sleep 0.1
done
check "wget spans: two root CLIENT spans, one per URL, status 200, own traces ($got)" [ "$got" = "2 2 2" ]
# The plaintext never reaches a log line, not even at debug.
: >"$TMP/hdr"
under_shim CLT_TRACING=inject CLT_LOG=debug CLT_AGENT_SOCKET="$SOCK" wget -q -O /dev/null \
	--ca-certificate="$TMP/ca.pem" "$URL/w3" 2>"$TMP/wget.debug"
check "wget at debug: the shim logged ($(wc -l <"$TMP/wget.debug") lines), no plaintext among them" \
	bash -c "grep -q 'clt-shim.*ids' '$TMP/wget.debug' && ! grep -q -i -e /w3 -e wget/ -e 'host:' -e 'traceparent' -e 'HTTP/1' '$TMP/wget.debug'"

# The non-blocking OpenSSL client: a 4 MiB request retried after SSL_ERROR_WANT_WRITE, a GET
# after a key update, a request cut short by a close under the session - none with a traceparent.
twice tlsc "$PWD/$BUILD/tests/tools/tls_client" $SLOW_PORT "$TMP/ca.pem" - - -
sed 's/^/# client: /' "$TMP/tlsc.shim"
check "tls_client: WANT_WRITE met and retried to the end" \
	grep -q "took 4194[0-9]* of .*WANT_WRITE met: yes" "$TMP/tlsc.shim"
check "tls_client: the server got the whole body, and one line" grep -qx "/slow traceparent 1 4194304" "$TMP/tlsc.hdr"
one_line tlsc /after-key-update
client_ids tlsc 2

# OpenSSL and GnuTLS in one program, then a 4 MiB request over GnuTLS on a non-blocking socket
# (GNUTLS_E_AGAIN retried with the same arguments; one record's worth per call, a short count
# after the request line's and the traceparent line's pieces too).
twice gtlsc "$PWD/$BUILD/tests/tools/tls_both" $TLS_PORT "$TMP/ca.pem" - - $SLOW_PORT -
sed 's/^/# both: /' "$TMP/gtlsc.shim"
check "tls_both: GnuTLS E_AGAIN met, short counts, retried to the end" \
	grep -q "took 4194[0-9]* of .*short counts: yes; E_AGAIN met: yes" "$TMP/gtlsc.shim"
check "tls_both: the server got the whole GnuTLS body, and one line" grep -qx "/slow traceparent 1 4194304" "$TMP/gtlsc.hdr"
one_line gtlsc /openssl /gnutls
client_ids gtlsc 3
own_client_spans gtlsc 3

# GnuTLS's other retry after GNUTLS_E_AGAIN: no data (NULL, 0). The program's transport meets a
# full socket once, at the request's second record - under the shim, the traceparent line's.
twice gnull "$PWD/$BUILD/tests/tools/tls_both" --null-retry $TLS_PORT "$TMP/ca.pem"
sed 's/^/# null retry: /' "$TMP/gnull.shim"
check "tls_both --null-retry: every byte counted once, the answer to the whole request" \
	grep -q "^answer: POST /null-retry .* 5 " "$TMP/gnull.shim"
one_line gnull /null-retry
client_ids gnull 1

kill "$AGENT_PID" 2>/dev/null
wait "$AGENT_PID" 2>/dev/null
summary
