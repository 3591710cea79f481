#!/usr/bin/env bash
# trace_runtimes.sh - zero-code tracing with the runtimes legacy services are
# written in, none with tracing code: Node.js (the http module), PHP (php -S;
# curl and file_get_contents), Java (com.sun.net.httpserver, HttpClient and
# HttpURLConnection, compiled here with javac), Perl (IO::Socket::IP and
# HTTP::Tiny) and Tcl (socket -server and the http package). Each server
# runs under the shim with CLT_TRACING=inject and without it: the same
# answers; one SERVER span per request with its status and attributes, an
# incoming traceparent as its parent, exported while the server still
# runs, a burst's last ones within about a second while it idles (the
# waiting call it blocks in sends them); its downstream call a CLIENT span, child
# of the SERVER span, and the downstream's SERVER span (a Python service
# under the shim) the CLIENT span's child. The plain runs reach the
# downstream too: its spans are matched by their parents. Each client, with no SERVER span
# in its process, prints the same under the shim; its bare requests are
# root CLIENT spans whose IDs the downstream receives, a request with its
# own traceparent keeps it and makes no span. The downstream (Python's
# http.server) and nginx (epoll_wait) export a burst's spans while they
# idle too. A runtime that is not installed says SKIP with the reason; the
# test skips when none is.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/shim_common.sh
. tests/lib/agent_helpers.sh
ag_need_binaries
TF=$PWD/tests/lib/trace_fixture.py
RT=$PWD/tests/lib/runtimes
trap 'ag_cleanup; stage_cleanup' EXIT
asan=false
case "${SHIM_PRELOAD:-}" in *libasan*) asan=true ;; esac

# Which runtimes can run here, and why not the others.
RUNTIMES=()
have() { # name reason-if-not test...
	local n=$1 why=$2
	shift 2
	# TRACE_RUNTIMES="perl tcl" runs only those.
	[[ -z "${TRACE_RUNTIMES:-}" || " $TRACE_RUNTIMES " == *" $n "* ]] || return 0
	if "$@" >/dev/null 2>&1; then RUNTIMES+=("$n"); else echo "SKIP: $n: $why"; fi
}
sanitized() { # name: the sanitizer build's reason to skip it, if any
	$asan || return 1
	echo "SKIP: $1: $2 (sanitizer build)"
}
sanitized node "cannot start with the ASan runtime preloaded after libc" ||
	have node "node not installed (nodejs)" command -v node
sanitized php "PHP loads its extensions with RTLD_DEEPBIND, which the ASan runtime aborts" ||
	have php "php-cli or php-curl not installed (scripts/deps.sh test)" \
		eval 'command -v php && php -m | grep -qx curl'
have java "javac or java not installed (default-jdk-headless)" eval 'command -v javac && command -v java'
have perl "perl without HTTP::Tiny or IO::Socket::IP" perl -MHTTP::Tiny -MIO::Socket::IP -e1
have tcl "tclsh or its http package not installed (tcl)" eval 'echo "package require http" | tclsh'
[ ${#RUNTIMES[@]} -gt 0 ] || skip "none of the runtimes is installed"

topo_single "trt$$" || fail "cannot build the namespace"
NS=$TOPO_S
SOCK=$AG_TMP/tag.sock
OUT=$AG_TMP/spans.json
ag_agent "$NS" "$AG_TMP/agent.log" --tag-socket "$SOCK" --output "$OUT" --batch-timeout 100ms \
	--stats-interval 0
DOWN='http://[::1]:8080'
ip netns exec "$NS" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" CLT_AGENT_SOCKET="$SOCK" CLT_TRACING=spans \
	OTEL_SERVICE_NAME=down python3 "$TF" server 8080 >"$AG_TMP/down.log" 2>&1 &
DOWN_PID=$!
AG_PIDS+=("$DOWN_PID")
topo_wait_port "$NS" 8080 || fail "the downstream service did not start"

if [[ " ${RUNTIMES[*]} " == *" java "* ]]; then
	javac -d "$AG_TMP/java" "$RT/Srv.java" "$RT/Cli.java" >"$AG_TMP/javac.log" 2>&1 ||
		{ cat "$AG_TMP/javac.log"; fail "javac failed"; }
fi
# server_cmd NAME PORT / client_cmd NAME TRACEPARENT: how each runtime is started, in CMD
# (an array: the checkout's path may hold spaces).
server_cmd() {
	case $1 in
	node) CMD=(node "$RT/srv.js" "$2" "$DOWN") ;;
	php) CMD=(env DOWN="$DOWN" php -S "[::]:$2" "$RT/index.php") ;;
	java) CMD=(java -cp "$AG_TMP/java" Srv "$2" "$DOWN") ;;
	perl) CMD=(perl "$RT/srv.pl" "$2" "$DOWN") ;;
	tcl) CMD=(tclsh "$RT/srv.tcl" "$2" "$DOWN") ;;
	esac
}
client_cmd() {
	case $1 in
	node) CMD=(node "$RT/cli.js" "$DOWN" "$2") ;;
	php) CMD=(php "$RT/cli.php" "$DOWN" "$2") ;;
	java) CMD=(java -cp "$AG_TMP/java" Cli "$DOWN" "$2") ;;
	perl) CMD=(perl "$RT/cli.pl" "$DOWN" "$2") ;;
	tcl) CMD=(tclsh "$RT/cli.tcl" "$DOWN" "$2") ;;
	esac
}
# The requests every server gets (7 SERVER spans), its answers on stdout.
TP_IN=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
requests() { # port
	local u="http://[::1]:$1" c="ip netns exec $NS curl -sS --max-time 20 -w %{http_code}\n"
	$c -A probe/1 "$u/hello?q=1"
	$c -H "traceparent: $TP_IN" "$u/withtp"
	$c "$u/err"
	$c --data-binary @/etc/services "$u/post"
	$c "$u/call"
	$c "$u/ka1" "$u/ka2"
}
# run_server NAME PORT ENV...: start, wait, answer the requests into $AG_TMP/NAME.PORT.out.
run_server() {
	local n=$1 port=$2 t0
	shift 2
	server_cmd "$n" "$port"
	ip netns exec "$NS" env "$@" "${CMD[@]}" >"$AG_TMP/$n.$port.log" 2>&1 &
	SRV_PID=$!
	topo_wait_port "$NS" "$port" 20 || { cat "$AG_TMP/$n.$port.log"; fail "$n server did not start"; }
	t0=$(date +%s%N)
	requests "$port" >"$AG_TMP/$n.$port.out" 2>&1
	SRV_MS=$((($(date +%s%N) - t0) / 1000000))
}
stop_server() {
	kill -TERM "$SRV_PID" 2>/dev/null
	wait "$SRV_PID" 2>/dev/null
}
spans_of() { python3 "$TF" spans "$OUT" 2>/dev/null | grep -c "\"service.name\": \"$1\""; }
# idle_spans SERVICE WANT: wait (at most 2 s: the agent's own batching included) while the
# server idles for WANT of its spans; GOT and IDLE_MS say how many came, how soon.
idle_spans() {
	local t0
	t0=$(date +%s%N)
	while :; do
		GOT=$(spans_of "$1")
		IDLE_MS=$((($(date +%s%N) - t0) / 1000000))
		[ "$GOT" -ge "$2" ] || [ "$IDLE_MS" -ge 2000 ] && break
		sleep 0.1
	done
}

port=8100
for n in "${RUNTIMES[@]}"; do
	port=$((port + 2))
	run_server "$n" $((port + 1))
	plain_ms=$SRV_MS
	stop_server
	run_server "$n" "$port" LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" CLT_AGENT_SOCKET="$SOCK" \
		CLT_TRACING=inject OTEL_SERVICE_NAME="srv-$n"
	check "$n server: the same answers under the shim ($SRV_MS ms, $plain_ms ms without)" \
		cmp -s "$AG_TMP/$n.$port.out" "$AG_TMP/$n.$((port + 1)).out"
	if [ "$n" = node ]; then
		# The event loop: /later waits, /quick comes and goes, then /later calls downstream.
		ip netns exec "$NS" curl -sS -o /dev/null "http://[::1]:$port/later" &
		sleep 0.05
		ip netns exec "$NS" curl -sS -o /dev/null "http://[::1]:$port/quick"
		wait $!
	fi
	# While it idles: the batch's last spans leave from the waiting call it blocks in, once
	# 200 ms passed (without that, not before its next request: php -S and tclsh die of
	# SIGTERM, losing them). 7 SERVER spans and the CLIENT span of /call (PHP's two; Node's
	# /later and /quick two more).
	want=8
	[ "$n" = node ] && want=10
	[ "$n" = php ] && want=9
	idle_spans "srv-$n" "$want"
	check "$n server: a burst's spans exported while it idles ($GOT of $want in $IDLE_MS ms)" \
		[ "$GOT" -ge "$want" ]
	stop_server
	sed 's/^/# /' "$AG_TMP/$n.$port.out" | tr '\n' ' '
	echo
	tp="00-$(printf '%032x' $((0x5eed0000 + port)))-00f067aa0ba902b7-01"
	client_cmd "$n" "$tp"
	ip netns exec "$NS" "${CMD[@]}" >"$AG_TMP/$n.cli.plain" 2>&1
	ip netns exec "$NS" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" CLT_AGENT_SOCKET="$SOCK" \
		CLT_TRACING=inject OTEL_SERVICE_NAME="cli-$n" "${CMD[@]}" >"$AG_TMP/$n.cli.shim" 2>&1
	check "$n client: the same output under the shim ($(tr '\n' ' ' <"$AG_TMP/$n.cli.shim"))" \
		cmp -s "$AG_TMP/$n.cli.plain" "$AG_TMP/$n.cli.shim"
	echo "$n $tp" >>"$AG_TMP/clients.txt"
done

# nginx, an event loop idling in epoll_wait: a burst's spans leave while it waits.
if command -v nginx >/dev/null 2>&1; then
	W=$AG_TMP/nginx
	mkdir -p "$W/www" "$W/nginx-tmp"
	sed -e "s|@W@|$W|g" tests/lib/nginx_trace.conf.in >"$W/nginx.conf"
	ip netns exec "$NS" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" CLT_TRACING=spans \
		CLT_AGENT_SOCKET="$SOCK" OTEL_SERVICE_NAME=srv-nginx nginx -c "$W/nginx.conf" -p "$W" \
		>"$AG_TMP/nginx.out" 2>&1 &
	NGX=$!
	if topo_wait_port "$NS" 8000; then
		u='http://[::1]:8000'
		ip netns exec "$NS" curl -sS -o /dev/null "$u/fixed?1" "$u/fixed?2" "$u/fixed?3" "$u/proxy/n4" \
			"$u/fixed?5"
		idle_spans srv-nginx 5
		check "nginx: a burst's spans exported while it idles ($GOT of 5 in $IDLE_MS ms)" [ "$GOT" -ge 5 ]
	else
		check "nginx started" false
	fi
	kill -QUIT "$NGX"
	wait "$NGX" 2>/dev/null
else
	echo "SKIP: nginx: not installed"
fi

# The downstream (Python's http.server, idling in poll): the spans of every call came while it runs.
# Each runtime's server and client, with the shim and without: 8 calls (PHP's server 2 more);
# Node's /later one more.
ndown=$((${#RUNTIMES[@]} * 8))
[[ " ${RUNTIMES[*]} " == *" php "* ]] && ndown=$((ndown + 2))
[[ " ${RUNTIMES[*]} " == *" node "* ]] && ndown=$((ndown + 1))
command -v nginx >/dev/null 2>&1 && ndown=$((ndown + 1))
idle_spans down "$ndown"
check "python http.server: its spans exported while it idles ($GOT of $ndown in $IDLE_MS ms)" \
	[ "$GOT" -ge "$ndown" ]
kill -TERM "$DOWN_PID"
wait "$DOWN_PID" 2>/dev/null
for i in $(seq 1 40); do
	[ "$(spans_of down)" -ge $((${#RUNTIMES[@]} * 7)) ] && break
	sleep 0.25
done
ag_stop_agent
python3 "$TF" spans "$OUT" >"$AG_TMP/spans.txt"
python3 - "$AG_TMP/spans.txt" "$AG_TMP/clients.txt" "$TP_IN" <<'PY'
import json, sys
sp = [json.loads(l) for l in open(sys.argv[1])]
clients = dict(l.split() for l in open(sys.argv[2]))
tp_in = sys.argv[3].split("-")
fails = 0
def check(what, ok):
    global fails
    print(("ok   - " if ok else "FAIL - ") + what)
    fails += not ok
def of(svc): return [s for s in sp if s["resource"]["service.name"] == svc]
down = of("down")
def down_at(path): return [s for s in down if s["attrs"].get("url.path") == path]
calls = {"php": ["/from-php", "/from-php-fgc"]}
for n, tp in clients.items():
    srv = of("srv-" + n)
    loop = ("/later", "/quick")
    S = [s for s in srv if s["kind"] == 2 and s["attrs"].get("url.path") not in loop]
    C = [s for s in srv if s["kind"] == 3 and not s["attrs"].get("url.full", "").endswith("/from-node-later")]
    if n == "node":
        quick = [s for s in srv if s["attrs"].get("url.path") == "/quick"]
        later = [s for s in srv if s["kind"] == 3 and s["attrs"].get("url.full", "").endswith("/from-node-later")]
        check("node server: a call made after another request came and went is not that request's child (%s)" %
              [s.get("parentSpanId") for s in later],
              len(quick) == 1 and not [s for s in later if s.get("parentSpanId") == quick[0]["spanId"]]
              and all(d.get("parentSpanId") != quick[0]["spanId"] for d in down_at("/from-node-later")))
    by = {s["attrs"].get("url.path"): s for s in S}
    check("%s server: one SERVER span per request (%s)" % (n, sorted(by)),
          len(S) == 7 and sorted(by) == ["/call", "/err", "/hello", "/ka1", "/ka2", "/post", "/withtp"])
    check("%s server: statuses, 500 an error, the rest unset" % n,
          all(s["attrs"].get("http.response.status_code") == ("500" if p == "/err" else "200") and
              s["status"].get("code", 0) == (2 if p == "/err" else 0) for p, s in by.items()))
    h = by.get("/hello", {"attrs": {}})
    a = h["attrs"]
    check("%s server: attributes of GET /hello (%s)" % (n, a),
          h.get("name") == "GET" and a.get("http.request.method") == "GET" and a.get("url.scheme") == "http"
          and a.get("server.address") == "::1" and a.get("client.address") == "::1"
          and a.get("network.protocol.version") == "1.1" and a.get("user_agent.original") == "probe/1"
          and "parentSpanId" not in h)
    check("%s server: POST /post" % n, by.get("/post", {}).get("name") == "POST")
    w = by.get("/withtp", {})
    check("%s server: the incoming traceparent is the parent" % n,
          w.get("traceId") == tp_in[1] and w.get("parentSpanId") == tp_in[2])
    want = calls.get(n, ["/from-" + n])
    call = by.get("/call", {})
    check("%s server: the downstream call%s a CLIENT span, child of GET /call (%d)" % (n, "s" if len(want) > 1 else "", len(C)),
          len(C) == len(want) and all(c["traceId"] == call.get("traceId") and c.get("parentSpanId") == call.get("spanId")
                                       and c["attrs"].get("http.response.status_code") == "200" for c in C))
    check("%s server: url.full of the CLIENT span%s (%s)" % (n, "s" if len(want) > 1 else "", [c["attrs"].get("url.full") for c in C]),
          sorted(c["attrs"].get("url.full") for c in C) == sorted("http://[::1]:8080" + p for p in want))
    check("%s server: the downstream's SERVER span%s under the CLIENT span%s (injected)" % ((n,) + (("s",) * 2 if len(want) > 1 else ("", ""))),
          all(any(d.get("parentSpanId") == c["spanId"] and d["traceId"] == c["traceId"]
                  for c in C for d in down_at(p)) for p in want))
    cli = of("cli-" + n)
    want = ["/c1-" + n, "/c2-" + n]
    check("%s client: two root CLIENT spans, GET, 200 (%s)" % (n, [s["attrs"].get("url.full") for s in cli]),
          len(cli) == 2 and all(s["kind"] == 3 and "parentSpanId" not in s and s["name"] == "GET"
                                and s["attrs"].get("http.response.status_code") == "200" for s in cli)
          and sorted(s["attrs"].get("url.full") for s in cli) == sorted("http://[::1]:8080" + p for p in want))
    ids = {(s["traceId"], s["spanId"]) for s in cli}
    check("%s client: the downstream's SERVER spans under them (injected)" % n,
          all(any((d["traceId"], d.get("parentSpanId")) in ids for d in down_at(p)) for p in want))
    own = down_at("/own-" + n)
    t = tp.split("-")
    check("%s client: its own traceparent kept, no span made for it" % n,
          own and all(d["traceId"] == t[1] and d.get("parentSpanId") == t[2] for d in own))
sys.exit(1 if fails else 0)
PY
[ $? -eq 0 ] || fails=$((fails + 1))
summary
