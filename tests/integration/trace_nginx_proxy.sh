#!/usr/bin/env bash
# trace_nginx_proxy.sh - nginx as a proxy under libcltshim.so with
# CLT_TRACING=spans: a request without traceparent, served alone on the
# worker's thread, makes a SERVER span and, for the upstream request nginx
# sends, a CLIENT span that is its child (method, url.full, the upstream's
# status read from its response). A request with its own traceparent,
# forwarded upstream by nginx, keeps the client's context: no CLIENT span.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/harness.sh
need_programs nginx
. tests/lib/shim_common.sh
. tests/lib/agent_helpers.sh
nginx_traced "tnp$$" nginx-proxy
c() { ip netns exec "$NS" curl -sS -o /dev/null -w '%{http_code}' "$@"; }
for i in 1 2 3; do
	check "proxied request $i (no traceparent)" [ "$(c "http://[::1]:8000/proxy/seq$i")" = 200 ]
done
check "proxied request with a traceparent" \
	[ "$(c -H 'traceparent: 00-7bf92f3577b34da6a3ce929d0e0e4736-20f067aa0ba902b7-01' 'http://[::1]:8000/proxy/own')" = 200 ]
nginx_traced_stop nginx-proxy 7
q() { python3 -c '
import json, sys
sp = [json.loads(l) for l in open(sys.argv[1])]
sp = [s for s in sp if s["resource"]["service.name"] == "nginx-proxy"]
srv = {s["attrs"]["url.path"]: s for s in sp if s["kind"] == 2}
cli = [s for s in sp if s["kind"] == 3]
kids = lambda s: [c for c in cli if c["traceId"] == s["traceId"] and c.get("parentSpanId") == s["spanId"]]
sys.exit(0 if eval(sys.argv[2]) else 1)' "$AG_TMP/spans.txt" "$1"; }
check "four SERVER spans, three CLIENT spans" q "len(srv) == 4 and len(cli) == 3"
check "each request without traceparent: one CLIENT child" \
	q "all(len(kids(srv['/proxy/seq%d' % i])) == 1 for i in (1, 2, 3))"
check "the CLIENT span names the upstream request" \
	q "all((lambda k: k['name'] == 'GET' and k['attrs']['url.full'] == 'http://[::1]:8080/seq%d' % i and k['attrs']['http.response.status_code'] == '200' and k['attrs']['server.port'] == '8080')(kids(srv['/proxy/seq%d' % i])[0]) for i in (1, 2, 3))"
check "the CLIENT span lies inside its SERVER span" \
	q "all((lambda s, k: int(s['startTimeUnixNano']) <= int(k['startTimeUnixNano']) <= int(k['endTimeUnixNano']) <= int(s['endTimeUnixNano']))(srv['/proxy/seq%d' % i], kids(srv['/proxy/seq%d' % i])[0]) for i in (1, 2, 3))"
check "a forwarded traceparent keeps the client's context: no CLIENT span" \
	q "srv['/proxy/own']['parentSpanId'] == '20f067aa0ba902b7' and not kids(srv['/proxy/own'])"
summary
