#!/usr/bin/env bash
# e2e_node.sh - Node.js with the OpenTelemetry SDK under the shim, end to
# end: athos (demo/athos: @opentelemetry/sdk-trace-node, the http
# instrumentation and the OTLP/HTTP exporter, pinned by its
# package-lock.json, no CLT code) receives logins and asks the login server
# across the router. The agent's network span for each sub-request must be
# the child of athos's own CLIENT span for it, in the same trace; for a
# client that sent a traceparent, the whole chain is one trace.
set -u
. "$(dirname "$0")/../lib/e2e.sh"
topo_require_root
e2e_require_cmd node nodejs
e2e_require_cmd npm npm
e2e_require_cmd curl curl
e2e_require_clt
ATHOS=$E2E_TOP/demo/athos
[ -f "$ATHOS/server.js" ] && [ -f "$ATHOS/package-lock.json" ] || fail "demo/athos (server.js, package-lock.json) is missing"
if [ ! -d "$ATHOS/node_modules/@opentelemetry/sdk-trace-node" ]; then
	echo "installing athos's pinned dependencies: npm ci"
	(cd "$ATHOS" && npm ci --no-audit --no-fund --loglevel=error) ||
		fail "npm ci in demo/athos failed (needs the npm registry)"
fi
e2e_setup node
sdk=$(node -p "require('$ATHOS/node_modules/@opentelemetry/sdk-trace-node/package.json').version" 2>/dev/null)
http=$(node -p "require('$ATHOS/node_modules/@opentelemetry/instrumentation-http/package.json').version" 2>/dev/null)
echo "node: $(node --version); @opentelemetry/sdk-trace-node $sdk, instrumentation-http $http"

e2e_origin 8080
e2e_agent_start
e2e_receiver "$TOPO_C" 4319 "$E2E_W/app.jsonl"
e2e_shim "$TOPO_C" OTEL_SERVICE_NAME=athos OTEL_EXPORTER_OTLP_ENDPOINT="http://[::1]:4319" \
	ATHOS_PORT=15123 ARAMIS_HOST="$TOPO_S_ADDR" ARAMIS_PORT=8080 \
	node --require "$ATHOS/tracing.js" "$ATHOS/server.js" >"$E2E_W/athos.stderr" 2>&1 &
athos=$!
E2E_PIDS+=($athos)
topo_wait_port "$TOPO_C" 15123 15 || fail "athos did not start: $(tail -5 "$E2E_W/athos.stderr")"

e2e_say "four logins: three from a client with its own traceparent, one without"
tps=()
for i in 1 2 3 4; do
	tp=
	if [ "$i" -ne 3 ]; then tp=$(e2e_tp); tps+=("$tp"); fi
	out=$(ip netns exec "$TOPO_C" curl -sS -m 20 -H 'Content-Type: application/json' ${tp:+-H "traceparent: $tp"} \
		--data '{"username":"clt","password":"clt"}' "http://[::1]:15123/api/login" 2>&1)
	[ "$out" = '{"msg":"OK"}' ] || fail "login $i answered '$out': $(tail -5 "$E2E_W/athos.stderr")"
done
echo "ok: 4 logins answered {\"msg\":\"OK\"}"
read -r nreq nconn <<<"$(e2e_origin_conns 8080 /login)"
echo "origin: $nreq sub-requests from athos over $nconn connection(s)"
[ "$nreq" -eq 4 ] || fail "expected 4 sub-requests at the login server"

# SIGTERM: athos's SDK flushes its spans, then the agent flushes.
kill -TERM "$athos"
wait "$athos"
e2e_agent_stop
# athos's kept-alive connection closes at its exit, later than the agent's
# idle timeout, with its last request's IDs still on the socket: the agent
# counts those packets as late, so every request has exactly one network span.
e2e_check --origin "$E2E_W/origin.8080.jsonl" --path-prefix /login --min-requests 4 \
	--app "$E2E_W/app.jsonl" --chain "${tps[@]}" || fail "the exported spans do not nest as they should"
e2e_no_shim_errors "$E2E_W/athos.stderr"
echo "PASS: Node.js + OpenTelemetry SDK: every network span is the child of the app's own CLIENT span, same trace"
