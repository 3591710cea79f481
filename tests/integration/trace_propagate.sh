#!/usr/bin/env bash
# trace_propagate.sh - propagation inside a legacy service: a threaded
# Python http.server with no tracing code, under the shim with
# CLT_TRACING=spans in the client host of the three-host topology, calls a
# downstream service on the server host for every request and forwards no
# header. The downstream request becomes a CLIENT span, child of the SERVER
# span it is made for (method, server address, url.full, the status read
# from the response), and its socket is tagged with the CLIENT span, so the
# agent's network span (and its hop spans) sit under it: SERVER -> CLIENT
# -> network -> hops, in a new trace when the incoming request had no
# traceparent, in the caller's trace when it had one. A process with no
# SERVER span (a batch script under the shim) makes a root CLIENT span, or a child of
# the TRACEPARENT its environment hands it. CLT_STACKTRACE=1 (the inject run)
# puts the application frames that sent the request in code.stacktrace. always_off and ratio 0 export no
# SERVER span and tag nothing; with CLT_TRACING=off nothing is tagged.
set -u
. "$(dirname "$0")/../lib/e2e.sh"
topo_require_root
e2e_require_clt
e2e_setup propagate
TF=$E2E_TOP/tests/lib/trace_fixture.py
SOCK=$E2E_W/tag.sock
SHIM_OUT=$E2E_W/shim_spans.json

e2e_origin 8080
e2e_agent_start
# The legacy host's own agent: receives the shim's SERVER spans (a private tag socket).
ip netns exec "$TOPO_C" "$E2E_AGENT" --tag-socket "$SOCK" --output "$SHIM_OUT" --batch-timeout 100ms \
	--stats-interval 0 --ready-file "$E2E_W/shim_agent.ready" >"$E2E_W/shim_agent.log" 2>&1 &
SHIM_AGENT_PID=$!
E2E_PIDS+=("$SHIM_AGENT_PID")
e2e_wait_file "$E2E_W/shim_agent.ready" "$E2E_WAIT_S" || fail "the legacy host's agent did not start"

# legacy PORT ENV...: the service, calling the origin for /call, its spans to the local agent.
legacy() {
	local port=$1
	shift
	# Started directly (not through a function in a subshell): SIGTERM reaches Python, whose
	# normal exit flushes the shim's last spans.
	ip netns exec "$TOPO_C" env LD_PRELOAD="$E2E_SHIM" CLT_LOG="${CLT_LOG:-warn}" \
		CLT_AGENT_SOCKET="$SOCK" OTEL_SERVICE_NAME=legacy "$@" \
		"$E2E_PY" "$TF" server "$port" "http://[$TOPO_S_ADDR]:8080/down" \
		>"$E2E_W/legacy.$port.stderr" 2>&1 &
	LEGACY_PID=$!
	topo_wait_port "$TOPO_C" "$port" "$E2E_WAIT_S" || fail "legacy service on $port did not start"
}
stop_legacy() {
	kill -TERM "$LEGACY_PID"
	wait "$LEGACY_PID" 2>/dev/null
}
get() { ip netns exec "$TOPO_C" curl -sS -o /dev/null -w '%{http_code}' "$@"; }

TP_IN=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
e2e_say "spans mode: one request without traceparent, one with"
legacy 8091 CLT_TRACING=spans
check "GET /call (no traceparent) answered" [ "$(get 'http://[::1]:8091/call')" = 200 ]
check "GET /call (with traceparent) answered" [ "$(get -H "traceparent: $TP_IN" 'http://[::1]:8091/call')" = 200 ]
stop_legacy
e2e_say "inject mode: the downstream request carries the CLIENT span as its traceparent"
legacy 8095 CLT_TRACING=inject CLT_STACKTRACE=1 OTEL_SERVICE_NAME=legacy-inject
check "inject: GET /call answered, the downstream's answer intact" \
	grep -qx 'downstream said 200 ok [0-9]*' <<<"$(ip netns exec "$TOPO_C" curl -sS 'http://[::1]:8095/call')"
stop_legacy
e2e_say "no SERVER span in the process: a batch script under the shim, without and with TRACEPARENT"
TP_ENV=00-6bf92f3577b34da6a3ce929d0e0e4736-10f067aa0ba902b7-01
batch() { ip netns exec "$TOPO_C" env LD_PRELOAD="$E2E_SHIM" CLT_AGENT_SOCKET="$SOCK" \
	OTEL_SERVICE_NAME=batch CLT_TRACING=spans "$@" "$E2E_PY" -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=10).status)' "http://[$TOPO_S_ADDR]:8080/${BATCH_PATH}"; }
check "batch, root" [ "$(BATCH_PATH=root batch)" = 200 ]
check "batch, TRACEPARENT" [ "$(BATCH_PATH=envtp batch TRACEPARENT=$TP_ENV)" = 200 ]
check "batch, TRACEPARENT unsampled" [ "$(BATCH_PATH=envoff batch TRACEPARENT=${TP_ENV%-01}-00)" = 200 ]
e2e_say "always_off, ratio 0 and CLT_TRACING=off: nothing exported, nothing tagged"
legacy 8092 CLT_TRACING=spans OTEL_TRACES_SAMPLER=always_off
check "always_off: answered" [ "$(get 'http://[::1]:8092/call')" = 200 ]
stop_legacy
legacy 8093 CLT_TRACING=spans OTEL_TRACES_SAMPLER=traceidratio OTEL_TRACES_SAMPLER_ARG=0
check "ratio 0: answered" [ "$(get 'http://[::1]:8093/call')" = 200 ]
stop_legacy
legacy 8094 CLT_TRACING=off
check "off: answered" [ "$(get 'http://[::1]:8094/call')" = 200 ]
stop_legacy

e2e_agent_stop
# The agent writes its output batches as they come: wait for the spans-mode service's four.
nsrv() { "$E2E_PY" -c 'import sys; sys.path.insert(0, sys.argv[1])
from otlp_receiver import load_spans
print(len([s for s in load_spans(sys.argv[2]) if s["service"] in ("legacy", "batch", "legacy-inject")]))' "$E2E_TOP/tests/lib" "$SHIM_OUT"; }
for _ in $(seq 1 $((E2E_WAIT_S * 4))); do
	[ "$(nsrv)" -ge 8 ] && break
	sleep 0.25
done
kill -TERM "$SHIM_AGENT_PID"
wait "$SHIM_AGENT_PID" 2>/dev/null
check "the origin saw 5 downstream requests without a traceparent (spans, off modes)" \
	[ "$(grep -c '"path": "/down", "traceparent": null' "$E2E_W/origin.8080.jsonl")" = 5 ]
check "and one with the injected traceparent" \
	[ "$(grep -c '"path": "/down", "traceparent": "00-' "$E2E_W/origin.8080.jsonl")" = 1 ]

q() {
	"$E2E_PY" - "$SHIM_OUT" "$E2E_W/agent.jsonl" "$1" <<'PY'
import os, sys
sys.path.insert(0, os.path.join(os.environ["E2E_TOP"], "tests", "lib"))
from otlp_receiver import load_spans
shim = [s for s in load_spans(sys.argv[1]) if s["service"] == "legacy"]
agent = load_spans(sys.argv[2])
ids = {s["spanId"] for s in agent}
net = [s for s in agent if s["parentSpanId"] not in ids]  # the network spans
hops = [s for s in agent if s["parentSpanId"] in ids]
import json
batch = [s for s in load_spans(sys.argv[1]) if s["service"] == "batch"]
inj = [s for s in load_spans(sys.argv[1]) if s["service"] == "legacy-inject"]
inj_srv = [s for s in inj if s["kind"] == 2]
inj_cli = [s for s in inj if s["kind"] == 3]
origin = [json.loads(l) for l in open(os.environ["ORIGIN_LOG"]) if l.strip()]
injected = [r["traceparent"] for r in origin if r["path"] == "/down" and r["traceparent"]]
byurl = lambda p: [s for s in batch if s["attrs"].get("url.full", "").endswith(p)]
srv = sorted([s for s in shim if s["kind"] == 2], key=lambda s: s["start"])
cli = [s for s in shim if s["kind"] == 3]
def child(s):  # the CLIENT span under SERVER span s
    c = [c for c in cli if c["traceId"] == s["traceId"] and c["parentSpanId"] == s["spanId"]]
    return c[0] if len(c) == 1 else None
sys.exit(0 if eval(sys.argv[3]) else 1)
PY
}
export E2E_TOP ORIGIN_LOG=$E2E_W/origin.8080.jsonl
check "two SERVER and two CLIENT spans exported (spans mode only)" q "len(srv) == 2 and len(cli) == 2"
check "no traceparent: the SERVER span starts a trace" q "srv[0]['parentSpanId'] == ''"
check "incoming traceparent: the SERVER span's parent is it" \
	q "srv[1]['traceId'] == '4bf92f3577b34da6a3ce929d0e0e4736' and srv[1]['parentSpanId'] == '00f067aa0ba902b7'"
check "batch: a root CLIENT span" q "len(byurl('/root')) == 1 and byurl('/root')[0]['parentSpanId'] == '' and byurl('/root')[0]['kind'] == 3"
check "batch with TRACEPARENT: its child" q "len(byurl('/envtp')) == 1 and byurl('/envtp')[0]['traceId'] == '6bf92f3577b34da6a3ce929d0e0e4736' and byurl('/envtp')[0]['parentSpanId'] == '10f067aa0ba902b7'"
check "batch with an unsampled TRACEPARENT: no span" q "len(batch) == 2"
check "the batch's network spans under its CLIENT spans" q "all(any(n['traceId'] == c['traceId'] and n['parentSpanId'] == c['spanId'] for n in net) for c in batch)"
check "inject: SERVER -> CLIENT, the downstream got the CLIENT span as its parent" \
	q "len(inj_srv) == 1 and len(inj_cli) == 1 and inj_cli[0]['parentSpanId'] == inj_srv[0]['spanId'] and injected == ['00-%s-%s-01' % (inj_cli[0]['traceId'], inj_cli[0]['spanId'])]"
check "inject: the network span under the CLIENT span" \
	q "any(n['traceId'] == inj_cli[0]['traceId'] and n['parentSpanId'] == inj_cli[0]['spanId'] for n in net)"
check "CLT_STACKTRACE=1: the CLIENT span's code.stacktrace, the interpreter's frames, not the shim's" \
	q "all(0 < len(c['attrs'].get('code.stacktrace', '')) < 1024 and len(c['attrs']['code.stacktrace'].split(' < ')) <= 16 and 'python' in c['attrs']['code.stacktrace'] and 'libcltshim' not in c['attrs']['code.stacktrace'] for c in inj_cli)"
check "no code.stacktrace without CLT_STACKTRACE" q "not any('code.stacktrace' in c['attrs'] for c in cli + batch)"
check "exactly five network spans (unsampled, always_off, ratio 0, off: none)" q "len(net) == 5"
check "each SERVER span has one CLIENT child, inside it in time" \
	q "all(child(s) and s['start'] <= child(s)['start'] <= child(s)['end'] <= s['end'] for s in srv)"
check "CLIENT span attributes" q "all(c['name'] == 'GET' and c['attrs']['http.request.method'] == 'GET' and c['attrs']['server.address'] == '$TOPO_S_ADDR' and str(c['attrs']['server.port']) == '8080' and c['attrs']['url.full'] == 'http://[$TOPO_S_ADDR]:8080/down' and str(c['attrs']['http.response.status_code']) == '200' for c in cli)"
check "each downstream request's network span sits under its CLIENT span" \
	q "all(any(n['traceId'] == c['traceId'] and n['parentSpanId'] == c['spanId'] for n in net) for c in cli)"
check "hop spans under each network span" q "all(any(h['parentSpanId'] == n['spanId'] for h in hops) for n in net)"
e2e_no_shim_errors "$E2E_W"/legacy.*.stderr
summary
