#!/usr/bin/env bash
# agent_metrics.sh - cltagent --metrics [::1]:9464 with real IOAM traffic
# (one namespace, IOAM on lo): scraped with curl during the run, the
# counters are in the Prometheus text format; once traffic stopped and the
# counters settled, a scrape shows exactly the values of the next stats
# line. Malformed and oversized requests, other paths and methods get an
# HTTP error, and the agent keeps exporting and serving afterwards.
set -u
. "$(dirname "$0")/../lib/topo.sh"
. "$(dirname "$0")/../lib/agent_helpers.sh"
topo_require_root
ag_need_binaries
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
topo_single "mt$$" || ag_fail "topology"
trap ag_cleanup EXIT
NS=$TOPO_S
OUT=$AG_TMP/spans.jsonl
LOG=$AG_TMP/agent.log
M="http://[::1]:9464/metrics"
ag_receiver "$NS" 4318 "$OUT"
ag_sink "$NS" ::1 8080 tcp
ag_agent "$NS" "$LOG" -e "http://[::1]:4318/v1/traces" --idle-timeout 200ms --batch-timeout 200ms \
	--stats-interval 1s --metrics '[::1]:9464'

READY=$AG_TMP/agent.$AG_N.ready
scrape() { ip netns exec "$NS" curl -sS --max-time 5 "$@"; }
# metric NAME FILE: the value of one sample.
metric() { sed -n "s/^$1 //p" "$2"; }

TRACE=4bf92f3577b34da6a3ce929d0e0e4736
CLT_BACKEND=hopopts ip netns exec "$NS" "$AG_SEND" -n 20 ::1 8080 "$TRACE" 00f067aa0ba902b7 || ag_fail "clt_send"
scrape -o "$AG_TMP/m1" -w '%{http_code} %{content_type}\n' "$M" >"$AG_TMP/m1.status" || ag_fail "scrape during the run"
read -r code ctype <"$AG_TMP/m1.status"
[ "$code" = 200 ] || ag_fail "scrape: HTTP $code"
case $ctype in text/plain*version=0.0.4*) ;; *) ag_fail "content type '$ctype'" ;; esac
python3 - "$AG_TMP/m1" <<'PY' || ag_fail "exposition format"
import re, sys
text = open(sys.argv[1]).read()
assert text.endswith("\n")
types, helps, samples = {}, set(), {}
for line in text.splitlines():
    if line.startswith("# HELP "):
        helps.add(line.split()[2])
    elif line.startswith("# TYPE "):
        _, _, name, t = line.split()
        types[name] = t
    else:
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*) ([0-9]+)", line)
        assert m, f"bad sample line {line!r}"
        samples[m[1]] = int(m[2])
assert set(samples) == set(types) == helps, (set(samples) ^ set(types), helps)
for name, t in types.items():
    assert name.startswith("clt_agent_"), name
    assert (t == "counter") == name.endswith("_total"), (name, t)
for want in ["events_total", "traces_total", "requests_total", "spans_total", "dropped_total",
             "loss_total", "held", "export_queue_batches", "export_queue_capacity"]:
    assert "clt_agent_" + want in samples, want
assert samples["clt_agent_export_queue_capacity"] == 256
print(f"checked: {len(samples)} metrics during the run, events so far {samples['clt_agent_events_total']}")
PY
ag_wait_spans "$OUT" 1 10 || { cat "$LOG"; ag_fail "no span exported"; }

# Settled: two stats lines in a row are the same (nothing moves any more).
settled=
for i in $(seq 1 $((AG_WAIT_S * 2))); do
	a=$(grep -o 'stats .*' "$LOG" | tail -2 | head -1)
	b=$(grep -o 'stats .*' "$LOG" | tail -1)
	if [ "$(grep -c 'stats ' "$LOG")" -ge 2 ] && [ "$a" = "$b" ] && [ "$(ag_stat "$LOG" held)" = 0 ] &&
		[ "$(ag_stat "$LOG" spans)" -ge 1 ]; then
		settled=1
		break
	fi
	sleep 0.5
done
[ -n "$settled" ] || { cat "$LOG"; ag_fail "counters did not settle"; }
lines=$(grep -c 'stats ' "$LOG")
scrape -o "$AG_TMP/m2" "$M" || ag_fail "scrape after traffic"
for i in $(seq 1 $((AG_WAIT_S * 10))); do
	[ "$(grep -c 'stats ' "$LOG")" -gt "$lines" ] && break
	sleep 0.1
done
next=$(grep -o 'stats .*' "$LOG" | tail -1)
[ "$(grep -c 'stats ' "$LOG")" -gt "$lines" ] || ag_fail "no stats line after the scrape"
n=0
for kv in ${next#stats }; do
	k=${kv%%=*} v=${kv#*=}
	if [ "$k" = held ]; then name=clt_agent_held; else name=clt_agent_${k}_total; fi
	got=$(metric "$name" "$AG_TMP/m2")
	[ "$got" = "$v" ] || ag_fail "$name: scrape says '$got', the next stats line $k=$v ($next)"
	n=$((n + 1))
done
[ "$n" -ge 13 ] || ag_fail "only $n counters in the stats line"
[ "$(metric clt_agent_events_total "$AG_TMP/m2")" -ge 20 ] || ag_fail "events not counted"
echo "checked: after traffic, a scrape equals the next stats line on all $n counters ($next)"

ip netns exec "$NS" "$AG_AGENT" --check --tag-socket none -e "http://[::1]:4318/v1/traces" \
	--metrics '[::1]:9464' --ready-file "$READY" >"$AG_TMP/check.out" 2>&1 || { cat "$AG_TMP/check.out"; ag_fail "--check"; }
grep -q '^ok      metrics: http://\[::1\]:9464/metrics answers' "$AG_TMP/check.out" || { cat "$AG_TMP/check.out"; ag_fail "--check metrics line"; }
echo "checked: cltagent --check finds the running agent's metrics endpoint"

# Errors: other paths and methods, malformed and oversized requests.
[ "$(scrape -o /dev/null -w '%{http_code}' 'http://[::1]:9464/')" = 404 ] || ag_fail "GET / is not 404"
[ "$(scrape -o /dev/null -w '%{http_code}' 'http://[::1]:9464/metrics/x')" = 404 ] || ag_fail "GET /metrics/x is not 404"
[ "$(scrape -o /dev/null -w '%{http_code}' -X POST -d x "$M")" = 405 ] || ag_fail "POST is not 405"
scrape -o /dev/null -D "$AG_TMP/h405" -X DELETE "$M"
grep -qi '^Allow: GET, HEAD' "$AG_TMP/h405" || ag_fail "405 without Allow"
ip netns exec "$NS" python3 - <<'PY' || ag_fail "malformed or oversized requests"
import socket
def ask(req):
    s = socket.create_connection(("::1", 9464), timeout=5)
    try:
        s.sendall(req)
    except OSError:
        pass  # the server may answer and close before reading all of an oversized request
    try:
        head = s.recv(64)
    finally:
        s.close()
    return head.split(b"\r\n")[0].decode()
cases = [
    (b"GET /metrics HTTP/1.1\r\nNoColonHere\r\n\r\n", "400"),
    (b"GET /metrics\r\n\r\n", "400"),
    (b"GET /metrics HTTP/7.0\r\nHost: x\r\n\r\n", "505"),
    (b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", "431"),
    (b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "414"),
    (b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\nxx", "405"),
]
for req, want in cases:
    status = ask(req)
    assert status.split(" ")[1:2] == [want], (req[:40], status, want)
    print(f"checked: {req[:28]!r}... -> {status}")
PY

# Still exporting and serving.
before=$(ag_count_spans "$OUT")
CLT_BACKEND=hopopts ip netns exec "$NS" "$AG_SEND" -n 5 ::1 8080 "$TRACE" b7ad6b7169203331 || ag_fail "clt_send"
ag_wait_spans "$OUT" $((before + 1)) 10 || { cat "$LOG"; ag_fail "no span after the bad requests"; }
[ "$(scrape -o /dev/null -w '%{http_code}' "$M")" = 200 ] || ag_fail "scrape after the bad requests"
ag_stop_agent
[ "$AG_RC" -eq 0 ] || { cat "$LOG"; ag_fail "agent exit status $AG_RC"; }
echo "checked: spans exported and scrapes served after the bad requests; agent exit 0"
echo "PASS"
