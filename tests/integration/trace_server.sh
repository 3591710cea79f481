#!/usr/bin/env bash
# trace_server.sh - SERVER spans of a legacy service with no tracing code:
# a threaded Python http.server under libcltshim.so with CLT_TRACING=spans
# sends one SERVER span per request to cltagent, which exports it with the
# OpenTelemetry HTTP attributes; an incoming traceparent is its parent, an
# unsampled one makes none, always_off and ratio 0 make none; bad input
# (binary garbage, a malformed request line, a request cut off) makes no
# span and the server keeps serving; forged span records sent to the agent
# are counted and it stays up; with no agent the service runs and says so
# once. A C server with pipelined requests and every reading call answers
# the same octets under the shim, a span per request.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/shim_common.sh
. tests/lib/agent_helpers.sh
ag_need_binaries
TF=$PWD/tests/lib/trace_fixture.py
trap 'ag_cleanup; stage_cleanup' EXIT
topo_single "tsv$$" || fail "cannot build the namespace"
NS=$TOPO_S
SOCK=$AG_TMP/tag.sock
OUT=$AG_TMP/spans.json
ag_agent "$NS" "$AG_TMP/agent.log" --tag-socket "$SOCK" --output "$OUT" --batch-timeout 100ms \
	--stats-interval 0

# serve PORT ENV...: the legacy service under the shim, sending its spans to our agent.
serve() {
	local port=$1
	shift
	ip netns exec "$NS" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" CLT_AGENT_SOCKET="$SOCK" "$@" \
		python3 "$TF" server "$port" >"$AG_TMP/server.$port.log" 2>&1 &
	SRV_PID=$!
	topo_wait_port "$NS" "$port" || fail "service on $port did not start"
}
# stop: the service exits normally on SIGTERM (its last spans are flushed at exit).
stop() {
	kill -TERM "$SRV_PID"
	wait "$SRV_PID" 2>/dev/null
}
c() { ip netns exec "$NS" curl -sS -o /dev/null -w '%{http_code}' "$@"; }

TP_IN=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7
serve 8090 CLT_TRACING=spans OTEL_SERVICE_NAME=legacy
check "plain GET answered" [ "$(c -A probe/1 'http://[::1]:8090/hello?q=1')" = 200 ]
check "GET with a sampled traceparent" [ "$(c -H "traceparent: $TP_IN-01" 'http://[::1]:8090/child')" = 200 ]
check "GET with an unsampled traceparent" [ "$(c -H "traceparent: 00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00" 'http://[::1]:8090/unsampled')" = 200 ]
check "500 answered" [ "$(c 'http://[::1]:8090/err')" = 500 ]
check "a forked child answers (CGI)" [ "$(c 'http://[::1]:8090/cgi')" = 200 ]
check "response without length" [ "$(c 'http://[::1]:8090/nolen')" = 200 ]
check "100-continue upload" [ "$(c -H 'Expect: 100-continue' --data-binary @/etc/services 'http://[::1]:8090/upload')" = 200 ]
check "two requests on one keep-alive connection" [ "$(c 'http://[::1]:8090/ka1' -o /dev/null 'http://[::1]:8090/ka2')" = 200200 ]
pipelined=$(printf 'GET /p1 HTTP/1.1\r\nHost: a\r\n\r\nGET /p2 HTTP/1.1\r\nHost: a\r\n\r\n' | od -An -tx1 | tr -d ' \n')
ip netns exec "$NS" python3 "$TF" raw ::1 8090 "$pipelined" >"$AG_TMP/pipe.out"
check "two pipelined requests, two answers" [ "$(xxd -r -p "$AG_TMP/pipe.out" | grep -c '^HTTP/1.1 200')" = 2 ]
ip netns exec "$NS" python3 "$TF" raw ::1 8090 "00ff13a0c3c3deadbeef0d0a0d0a" >/dev/null
ip netns exec "$NS" python3 "$TF" raw ::1 8090 "$(printf 'GARBAGE / HTTP/7.1\r\n\r\n' | od -An -tx1 | tr -d ' \n')" >/dev/null
ip netns exec "$NS" python3 "$TF" half ::1 8090 $'GET /half HTTP/1.1\r\nHost: a\r\n'
check "still serving after bad input" [ "$(c 'http://[::1]:8090/after')" = 200 ]
stop

# A C server (tests/tools/trace_cserver.c: pipelining; read, recv, recvfrom, readv, recvmsg,
# write, send, writev, sendmsg in turn), under the shim and without it: the same answers octet
# for octet, a SERVER span per well-formed request, none for a malformed header, a bad version
# or binary garbage.
CSRV=$PWD/$BUILD/tests/tools/trace_cserver
[ -x "$CSRV" ] || fail "$CSRV is not built (make BUILD=$BUILD tests)"
ip netns exec "$NS" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" CLT_AGENT_SOCKET="$SOCK" CLT_TRACING=spans \
	OTEL_SERVICE_NAME=cserver "$CSRV" 8096 >"$AG_TMP/cserver.log" 2>&1 &
CS_PID=$!
ip netns exec "$NS" "$CSRV" 8097 >/dev/null 2>&1 &
AG_PIDS+=($!)
topo_wait_port "$NS" 8096 && topo_wait_port "$NS" 8097 || fail "the C server did not start"
hexof() { printf "$1" | od -An -tx1 | tr -d ' \n'; }
same_answers() { # what hex
	local a b
	a=$(ip netns exec "$NS" python3 "$TF" raw ::1 8096 "$2")
	b=$(ip netns exec "$NS" python3 "$TF" raw ::1 8097 "$2")
	check "C server, $1: answered ($(( ${#b} / 2 )) octets), the same octets under the shim" \
		[ -n "$b" ] && [ "$a" = "$b" ]
}
same_answers "4 pipelined requests in one send, a body among them" \
	"$(hexof 'GET /c1 HTTP/1.1\r\nHost: a\r\n\r\nGET /c2?x=1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /c3 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /c4 HTTP/1.1\r\nHost: a\r\n\r\n')"
same_answers "a header line without a colon, then a good request" \
	"$(hexof 'GET /badhdr HTTP/1.1\r\nHost a\r\n\r\nGET /afterbad HTTP/1.1\r\n\r\n')"
same_answers "HTTP/9.9" "$(hexof 'GET /badver HTTP/9.9\r\n\r\n')"
same_answers "binary garbage" "ff13a0c3c3deadbeef20ff2f0d0a0d0a"
kill -TERM "$CS_PID"
wait "$CS_PID" 2>/dev/null

# Sampling: nothing from always_off or ratio 0, even for sampled parents under parentbased_*.
serve 8091 CLT_TRACING=spans OTEL_SERVICE_NAME=off1 OTEL_TRACES_SAMPLER=always_off
c 'http://[::1]:8091/x' >/dev/null
c -H "traceparent: $TP_IN-01" 'http://[::1]:8091/x' >/dev/null
stop
serve 8092 CLT_TRACING=spans OTEL_SERVICE_NAME=ratio0 OTEL_TRACES_SAMPLER=traceidratio OTEL_TRACES_SAMPLER_ARG=0
c 'http://[::1]:8092/x' >/dev/null
stop
# Mode off (the default): no span.
serve 8093 OTEL_SERVICE_NAME=modeoff
c 'http://[::1]:8093/x' >/dev/null
stop

# Forged records from another process: counted, the agent stays up.
ip netns exec "$NS" python3 "$TF" forge "$SOCK" || fail "forge could not reach the agent"
serve 8094 CLT_TRACING=spans OTEL_SERVICE_NAME=afterforge
check "after forged records a real span still goes through" [ "$(c 'http://[::1]:8094/x')" = 200 ]
stop
check "agent survived the forged records" kill -0 "$AG_PID"

# No agent: the service runs as without the shim, one info line.
serve 8095 CLT_TRACING=spans CLT_LOG=info CLT_AGENT_SOCKET="$AG_TMP/nobody.sock"
check "no agent: GET answered" [ "$(c 'http://[::1]:8095/a')" = 200 ]
check "no agent: GET answered again" [ "$(c 'http://[::1]:8095/b')" = 200 ]
stop
check "no agent: exactly one info line" [ "$(grep -c 'no cltagent' "$AG_TMP/server.8095.log")" = 1 ]

for i in $(seq 1 40); do
	grep -q afterforge "$OUT" 2>/dev/null && break
	sleep 0.25
done
ag_stop_agent
python3 "$TF" spans "$OUT" >"$AG_TMP/spans.txt"
q() { python3 -c '
import json, sys
sp = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(0 if eval(sys.argv[2]) else 1)' "$AG_TMP/spans.txt" "$1"; }
L='[s for s in sp if s["resource"]["service.name"] == "legacy"]'
P='lambda p: [s for s in '"$L"' if s["attrs"].get("url.path") == p]'
check "one SERVER span per sampled well-formed request (11)" q "len($L) == 11"
check "every span is a SERVER span with status unset but /err and /cgi" \
	q "all(s['kind'] == 2 and (s['status'].get('code', 0) == (2 if s['attrs']['url.path'] in ('/err', '/cgi') else 0)) for s in $L)"
check "CGI: one span, ended where the server closed the socket, marked so" \
	q "(lambda f: len(f) == 1 and f[0]['attrs'].get('error.type') == 'connection_closed')(($P)('/cgi'))"
check "HTTP attributes of GET /hello" q "(lambda s: s['name'] == 'GET' and s['attrs']['http.request.method'] == 'GET' and s['attrs']['url.scheme'] == 'http' and s['attrs']['http.response.status_code'] == '200' and s['attrs']['server.address'] == '::1' and s['attrs']['server.port'] == '8090' and s['attrs']['client.address'] == '::1' and int(s['attrs']['client.port']) > 0 and s['attrs']['network.protocol.version'] == '1.1' and s['attrs']['user_agent.original'] == 'probe/1')(($P)('/hello')[0])"
check "no parent without a traceparent: a new trace" q "'parentSpanId' not in ($P)('/hello')[0]"
check "the incoming traceparent is the parent" q "(lambda s: s['traceId'] == '4bf92f3577b34da6a3ce929d0e0e4736' and s['parentSpanId'] == '00f067aa0ba902b7')(($P)('/child')[0])"
check "unsampled parent: no span" q "not ($P)('/unsampled')"
check "500: status code and error" q "(lambda s: s['attrs']['http.response.status_code'] == '500' and s['status']['code'] == 2)(($P)('/err')[0])"
check "response without length: ends with the connection, no error" q "(lambda s: s['status'].get('code', 0) == 0)(($P)('/nolen')[0])"
check "100-continue upload: one span, final status 200" q "len(($P)('/upload')) == 1 and ($P)('/upload')[0]['attrs']['http.response.status_code'] == '200'"
check "keep-alive and pipelined requests each a span" q "all(len(($P)(p)) == 1 for p in ('/ka1', '/ka2', '/p1', '/p2'))"
check "bad input and a cut-off request make no span" q "not [s for s in $L if s['attrs']['url.path'] in ('/half', '/')]"
check "resource: claimed service.name, executable, pid from the kernel" q "all(s['resource']['process.executable.name'].startswith('python') and int(s['resource']['process.pid']) > 0 for s in $L)"
C='[s for s in sp if s["resource"]["service.name"] == "cserver"]'
check "C server: one SERVER span per pipelined request, in order, none for bad input" \
	q "sorted(s['attrs']['url.path'] for s in $C) == ['/c1', '/c2', '/c3', '/c4'] and (lambda o: [s['attrs']['url.path'] for s in o] == ['/c1', '/c2', '/c3', '/c4'])(sorted($C, key=lambda s: int(s['endTimeUnixNano'])))"
check "C server: methods and statuses" \
	q "all(s['kind'] == 2 and s['attrs']['http.response.status_code'] == '200' and s['attrs']['http.request.method'] == ('POST' if s['attrs']['url.path'] == '/c3' else 'GET') for s in $C)"
check "always_off, ratio 0, mode off: nothing" q "not [s for s in sp if s['resource']['service.name'] in ('off1', 'ratio0', 'modeoff')]"
check "forged records: only the one well-formed record exported, pid from the kernel" \
	q "(lambda f: len(f) == 1 and int(f[0]['resource']['process.pid']) > 1)([s for s in sp if s['resource']['service.name'] == 'forge'])"
check "a span after the forged ones" q "[s for s in sp if s['resource']['service.name'] == 'afterforge']"
# 5 bad records, 1 with 40 attributes, 65,000 claimed by the largest message and not there.
check "forged and oversized records counted ($(grep -o 'shim spans records=[0-9]* rejected=[0-9]*' "$AG_TMP/agent.log" | tail -1))" \
	[ "$(grep -o 'shim spans records=[0-9]* rejected=[0-9]*' "$AG_TMP/agent.log" | tail -1 | sed 's/.*rejected=//')" -ge 65006 ]
summary
