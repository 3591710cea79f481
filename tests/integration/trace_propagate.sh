#!/usr/bin/env bash
# trace_propagate.sh - propagation inside a legacy service: a threaded
# Python http.server with no tracing code, under the shim with
# CLT_TRACING=spans in the client host of the three-host topology, calls a
# downstream service on the server host for every request and forwards no
# header; the downstream (a threaded Python http.server too) runs under the
# shim on the server host, its SERVER spans going through that host's
# cltagent with the network spans. The legacy's downstream request becomes
# a CLIENT span, child of the SERVER span it is made for (method, server
# address, url.full, the status read from the response), and its socket is
# tagged with the CLIENT span, so the agent's network span (and its hop
# spans) sit under it: SERVER -> CLIENT -> network -> hops, in a new trace
# when the incoming request had no traceparent, in the caller's trace when
# it had one; in inject mode the downstream's SERVER span is the CLIENT
# span's child. Destinations outside the domain (IPv4, an IPv6 prefix
# outside CLT_DOMAIN) get CLIENT spans and injection too, never a tag: a
# capture on the router sees no hop-by-hop packet. A process with no SERVER
# span (a batch script, curl, under the shim) makes a root CLIENT span, or
# a child of the TRACEPARENT its environment hands it. CLT_STACKTRACE=1
# (the inject run) puts the application frames that sent the request in
# code.stacktrace. always_off and ratio 0 export no SERVER span and tag
# nothing; with CLT_TRACING=off nothing is tagged.
set -u
. "$(dirname "$0")/../lib/e2e.sh"
topo_require_root
e2e_require_clt
e2e_setup propagate
e2e_add_ipv4
e2e_add_outside
TF=$E2E_TOP/tests/lib/trace_fixture.py
SOCK=$E2E_W/tag.sock
SHIM_OUT=$E2E_W/shim_spans.json
DOWN_SOCK=$E2E_W/down-tag.sock

# The server host's agent: the network spans, and the downstream's SERVER spans (its tag socket).
E2E_AGENT_ARGS="--tag-socket $DOWN_SOCK" e2e_agent_start
E2E_ORIGIN_ENV="LD_PRELOAD=$E2E_SHIM CLT_TRACING=spans CLT_AGENT_SOCKET=$DOWN_SOCK OTEL_SERVICE_NAME=downstream" \
	e2e_origin 8080
# The legacy host's own agent: receives the shim's SERVER spans (a private tag socket).
spans_agent "$E2E_AGENT" "$TOPO_C" "$SOCK" "$SHIM_OUT" "$E2E_W/shim_agent.log"
SHIM_AGENT_PID=$SPANS_AGENT_PID
E2E_PIDS+=("$SHIM_AGENT_PID")

# legacy PORT ENV...: the service, calling the origin for /call, its spans to the local agent.
legacy() {
	local port=$1 down=${DOWN:-http://[$TOPO_S_ADDR]:8080/down}
	shift
	# Started directly (not through a function in a subshell): SIGTERM reaches Python, whose
	# normal exit flushes the shim's last spans.
	ip netns exec "$TOPO_C" env LD_PRELOAD="$E2E_SHIM" CLT_LOG="${CLT_LOG:-warn}" \
		CLT_AGENT_SOCKET="$SOCK" OTEL_SERVICE_NAME=legacy "$@" \
		"$E2E_PY" "$TF" server "$port" "$down" \
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
print(urllib.request.urlopen(sys.argv[1], timeout=10).status)' "http://${BATCH_HOST:-[$TOPO_S_ADDR]}:8080/${BATCH_PATH}"; }
check "batch, root" [ "$(BATCH_PATH=root batch)" = 200 ]
check "batch, TRACEPARENT" [ "$(BATCH_PATH=envtp batch TRACEPARENT=$TP_ENV)" = 200 ]
check "batch, TRACEPARENT unsampled" [ "$(BATCH_PATH=envoff batch TRACEPARENT=${TP_ENV%-01}-00)" = 200 ]

# From here on nothing may be tagged: a capture on the router's client side sees every packet.
e2e_capture_start "$TOPO_R" r0 "$E2E_W/router.pcap"
e2e_say "destinations outside the domain: IPv4 and $E2E_OUTSIDE_ADDR, CLIENT spans and injection, no tag"
DOWN="http://10.251.2.2:8080/v4,http://[$E2E_OUTSIDE_ADDR]:8080/outside" \
	legacy 8096 CLT_TRACING=inject OTEL_SERVICE_NAME=legacy-out
check "outside: GET /call answered, both downstream answers intact" \
	grep -qx 'downstream said 200 ok [0-9]*, downstream said 200 ok [0-9]*' \
	<<<"$(ip netns exec "$TOPO_C" curl -sS 'http://[::1]:8096/call')"
stop_legacy
check "outside: curl with no SERVER span, a root CLIENT span, injected" \
	[ "$(e2e_shim "$TOPO_C" CLT_AGENT_SOCKET="$SOCK" OTEL_SERVICE_NAME=batch-out CLT_TRACING=inject \
		curl -sS -o /dev/null -w '%{http_code}' "http://[$E2E_OUTSIDE_ADDR]:8080/rootout")" = 200 ]
check "IPv4: a batch script with TRACEPARENT, its child, nothing injected (spans)" \
	[ "$(BATCH_PATH=envv4 BATCH_HOST=10.251.2.2 batch OTEL_SERVICE_NAME=batch-out \
		TRACEPARENT=00-8bf92f3577b34da6a3ce929d0e0e4736-30f067aa0ba902b7-01)" = 200 ]
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
e2e_capture_stop
# Only what the client sent: the downstream, under the shim too, tags its responses to the
# requests its own sampler keeps (the return path), and they pass the same interface.
HBH=$(e2e_count_pcap "$E2E_W/router.pcap" "ip6 src $TOPO_C_ADDR and $E2E_HBH_FILTER")
check "no hop-by-hop packet left the client (outside destinations, unsampled, off): $HBH" [ "$HBH" = 0 ]
check "no IPv4 packet with options" [ "$(e2e_count_pcap "$E2E_W/router.pcap" 'ip and ip[0] & 0xf > 5')" = 0 ]
check "the capture saw the outside and IPv4 requests" \
	[ "$(e2e_count_pcap "$E2E_W/router.pcap" "ip6 dst $E2E_OUTSIDE_ADDR")" -gt 0 ] &&
	[ "$(e2e_count_pcap "$E2E_W/router.pcap" 'ip dst 10.251.2.2')" -gt 0 ]

# The downstream exits normally on SIGTERM: its last SERVER spans are flushed to the agent.
kill -TERM "$E2E_ORIGIN_PID"
wait "$E2E_ORIGIN_PID" 2>/dev/null
e2e_agent_stop
# The agent writes its output batches as they come: wait for the legacy host's spans.
spans_wait "$SHIM_OUT" 13 "$E2E_WAIT_S" legacy batch legacy-inject legacy-out batch-out ||
	echo "# only $(spans_count "$SHIM_OUT" legacy batch legacy-inject legacy-out batch-out) shim spans"
spans_agent_stop "$SHIM_AGENT_PID"
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
agent = [s for s in load_spans(sys.argv[2]) if s["service"] == "cltagent"]
down = [s for s in load_spans(sys.argv[2]) if s["service"] == "downstream"]
dpath = lambda p: [s for s in down if s["attrs"].get("url.path") == p]
out = [s for s in load_spans(sys.argv[1]) if s["service"] == "legacy-out"]
out_srv = [s for s in out if s["kind"] == 2]
out_cli = {s["attrs"]["url.full"]: s for s in out if s["kind"] == 3}
bout = {s["attrs"]["url.full"]: s for s in load_spans(sys.argv[1]) if s["service"] == "batch-out"}
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
got = lambda p: [r["traceparent"] for r in origin if r["path"] == p]
tp = lambda s: "00-%s-%s-01" % (s["traceId"], s["spanId"])
under = lambda p, s: len([d for d in dpath(p) if d["kind"] == 2 and d["traceId"] == s["traceId"] and d["parentSpanId"] == s["spanId"]]) == 1
OUT = os.environ["OUTSIDE"]
byurl = lambda p: [s for s in batch if s["attrs"].get("url.full", "").endswith(p)]
srv = sorted([s for s in shim if s["kind"] == 2], key=lambda s: s["start"])
cli = [s for s in shim if s["kind"] == 3]
def child(s):  # the CLIENT span under SERVER span s
    c = [c for c in cli if c["traceId"] == s["traceId"] and c["parentSpanId"] == s["spanId"]]
    return c[0] if len(c) == 1 else None
sys.exit(0 if eval(sys.argv[3]) else 1)
PY
}
export E2E_TOP ORIGIN_LOG=$E2E_W/origin.8080.jsonl OUTSIDE=$E2E_OUTSIDE_ADDR
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
check "inject: the downstream's SERVER span is the CLIENT span's child" \
	q "len(inj_cli) == 1 and under('/down', inj_cli[0])"
check "the downstream's other SERVER spans start traces of their own (no header went)" \
	q "len(dpath('/down')) == 6 and len([s for s in dpath('/down') if s['parentSpanId'] == '']) == 5"
check "inject: the network span under the CLIENT span" \
	q "any(n['traceId'] == inj_cli[0]['traceId'] and n['parentSpanId'] == inj_cli[0]['spanId'] for n in net)"
check "CLT_STACKTRACE=1: the CLIENT span's code.stacktrace, the interpreter's frames, not the shim's" \
	q "all(0 < len(c['attrs'].get('code.stacktrace', '')) < 1024 and len(c['attrs']['code.stacktrace'].split(' < ')) <= 16 and 'python' in c['attrs']['code.stacktrace'] and 'libcltshim' not in c['attrs']['code.stacktrace'] for c in inj_cli)"
check "no code.stacktrace without CLT_STACKTRACE" q "not any('code.stacktrace' in c['attrs'] for c in cli + batch)"
check "exactly five network spans (unsampled, always_off, ratio 0, off: none)" q "len(net) == 5"
check "each SERVER span has one CLIENT child, inside it in time" \
	q "all(child(s) and s['start'] <= child(s)['start'] <= child(s)['end'] <= s['end'] for s in srv)"
check "CLIENT span attributes" q "all(c['name'] == 'GET' and c['attrs']['http.request.method'] == 'GET' and c['attrs']['server.address'] == '$TOPO_S_ADDR' and str(c['attrs']['server.port']) == '8080' and c['attrs']['url.full'] == 'http://[$TOPO_S_ADDR]:8080/down' and str(c['attrs']['http.response.status_code']) == '200' for c in cli)"
check "outside: one SERVER span, a CLIENT child per destination, inside it" \
	q "len(out_srv) == 1 and sorted(out_cli) == sorted(['http://10.251.2.2:8080/v4', 'http://[%s]:8080/outside' % OUT]) and all(c['parentSpanId'] == out_srv[0]['spanId'] and c['traceId'] == out_srv[0]['traceId'] and out_srv[0]['start'] <= c['start'] <= c['end'] <= out_srv[0]['end'] for c in out_cli.values())"
check "outside: CLIENT span attributes (IPv4 and IPv6 peers, status read back)" \
	q "out_cli['http://10.251.2.2:8080/v4']['attrs']['server.address'] == '10.251.2.2' and out_cli['http://[%s]:8080/outside' % OUT]['attrs']['server.address'] == OUT and all(str(c['attrs']['http.response.status_code']) == '200' and str(c['attrs']['server.port']) == '8080' for c in out_cli.values())"
check "outside: each destination got its CLIENT span injected, and its SERVER span is that span's child" \
	q "got('/v4') == [tp(out_cli['http://10.251.2.2:8080/v4'])] and got('/outside') == [tp(out_cli['http://[%s]:8080/outside' % OUT])] and under('/v4', out_cli['http://10.251.2.2:8080/v4']) and under('/outside', out_cli['http://[%s]:8080/outside' % OUT])"
check "outside: curl's root CLIENT span, injected, the downstream under it" \
	q "(lambda c: c['parentSpanId'] == '' and c['kind'] == 3 and got('/rootout') == [tp(c)] and under('/rootout', c))(bout['http://[%s]:8080/rootout' % OUT])"
check "IPv4: the batch script's CLIENT span continues TRACEPARENT, nothing injected in spans mode" \
	q "(lambda c: c['traceId'] == '8bf92f3577b34da6a3ce929d0e0e4736' and c['parentSpanId'] == '30f067aa0ba902b7' and str(c['attrs']['http.response.status_code']) == '200' and got('/envv4') == [None])(bout['http://10.251.2.2:8080/envv4'])"
check "outside: no network span in those traces (never tagged)" \
	q "not [n for n in net if n['traceId'] in {c['traceId'] for c in list(out_cli.values()) + list(bout.values())}]"
check "each downstream request's network span sits under its CLIENT span" \
	q "all(any(n['traceId'] == c['traceId'] and n['parentSpanId'] == c['spanId'] for n in net) for c in cli)"
check "hop spans under each network span" q "all(any(h['parentSpanId'] == n['spanId'] for h in hops) for n in net)"
e2e_no_shim_errors "$E2E_W"/legacy.*.stderr "$E2E_W"/origin.8080.stderr
summary
