# harness.sh - the one dialect of the shell tests: checks that count,
# fatal failures, skips and the closing line. Sourced by every test, first
# or through tests/lib/shim_common.sh, agent_helpers.sh or tests/lib/e2e.sh.
# tests/run.sh reads the exit status: 0 pass, 77 skip, anything else fail.
#
#   check WHAT CMD...   run CMD: "ok   - WHAT" or "FAIL - WHAT" (counted in $fails)
#   fail MSG...         "FAIL: MSG" and exit 1 (nothing sensible can follow)
#   skip MSG...         "SKIP: MSG" and exit 77
#   summary             "all checks passed" (exit 0) or "N check(s) failed" (exit 1)
#
# Zero-code tracing (the shim's own spans, CLT_TRACING):
#   spans_agent AGENT NS SOCK OUT LOG [flags...]   a cltagent in NS taking shim spans on
#                       the private tag socket SOCK, writing them to OUT (OTLP JSON, one
#                       batch a line); returns once ready, its PID in $SPANS_AGENT_PID
#   spans_agent_stop PID   SIGTERM (it writes what it holds) and wait
#   spans_count FILE SERVICE...   spans of those services in FILE
#   spans_wait FILE MIN SECONDS SERVICE...   until FILE holds MIN spans of them
#
# Set-up steps several tests share (run from the top of the tree):
#   need_programs PROG...   skip unless every PROG is installed
#   need_built FILE...      fail unless every build product FILE is there
#   agent_private NS SOCK LOG [ARG...]
#                           cltagent in NS on a private tag socket (never the host's)
#   agent_private_stop      end it
#   no_curl_reason          why curl cannot run in this build's tests (empty: it can)
#   tls_test_certs DIR      a test CA and a certificate for [::1] and localhost
#   nginx_traced NAME SERVICE / nginx_traced_stop SERVICE MIN
#                           nginx under the shim with CLT_TRACING=spans, its agent, origin
#   demo_entry_run ENTRY PREFIX NAME
#                           the demo with one entry service, its output printed

[ -n "${HARNESS_LOADED:-}" ] && return 0
HARNESS_LOADED=1
HARNESS_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fails=${fails:-0}

check() {
	local what=$1
	shift
	if "$@"; then echo "ok   - $what"; else echo "FAIL - $what"; fails=$((fails + 1)); fi
}

fail() {
	echo "FAIL: $*"
	exit 1
}

skip() {
	echo "SKIP: $*"
	exit 77
}

# Older names of fail, kept so that a test written against them still stops
# (an unknown command would only print an error and go on).
ag_fail() { fail "$@"; }
e2e_fail() { fail "$@"; }

summary() {
	if [ "$fails" -ne 0 ]; then
		echo "$fails check(s) failed"
		exit 1
	fi
	echo "all checks passed"
	exit 0
}

spans_agent() { # agent ns sock out log [flags...]
	local agent=$1 ns=$2 sock=$3 out=$4 log=$5 i
	shift 5
	rm -f "$out.ready"
	ip netns exec "$ns" "$agent" --tag-socket "$sock" --output "$out" --batch-timeout 100ms \
		--stats-interval 0 --ready-file "$out.ready" "$@" >"$log" 2>&1 &
	SPANS_AGENT_PID=$!
	for i in $(seq 1 200); do
		[ -e "$out.ready" ] && [ -S "$sock" ] && return 0
		kill -0 "$SPANS_AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -5 "$log"
	fail "the spans agent in $ns did not start"
}

spans_agent_stop() { # pid
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

spans_count() { # file service...
	python3 - "$HARNESS_LIB" "$@" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from otlp_receiver import load_spans
print(len([s for s in load_spans(sys.argv[2]) if s["service"] in sys.argv[3:]]))
PY
}

spans_wait() { # file min seconds service...
	local file=$1 min=$2 secs=$3 i
	shift 3
	for i in $(seq 1 $((secs * 4))); do
		[ "$(spans_count "$file" "$@")" -ge "$min" ] && return 0
		sleep 0.25
	done
	return 1
}

need_programs() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null || skip "$p missing (scripts/deps.sh)"
	done
}

need_built() {
	local f
	for f in "$@"; do
		[ -x "$f" ] || fail "$f missing (make BUILD=${BUILD:-build} all tests)"
	done
}

# agent_private NS SOCK LOG [cltagent flags...]: $BUILD/cltagent in NS serving tag
# requests on SOCK, its output to LOG, with flags; returns once it is ready (its
# --ready-file: the tag socket is there, events and export are running). AGENT_PID.
agent_private() {
	local ns=$1 sock=$2 log=$3 agent=${BUILD:-build} i
	shift 3
	case $agent in /*) ;; *) agent=$PWD/$agent ;; esac
	rm -f "$sock.ready"
	ip netns exec "$ns" "$agent/cltagent" --tag-socket "$sock" --ready-file "$sock.ready" "$@" \
		>"$log" 2>&1 &
	AGENT_PID=$!
	for i in $(seq 1 200); do
		[ -e "$sock.ready" ] && [ -S "$sock" ] && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "cltagent did not start on $sock: $(cat "$log")"
}

# agent_private_stop: end agent_private's cltagent (continued first: a test may have stopped it).
agent_private_stop() {
	[ -n "${AGENT_PID:-}" ] || return 0
	kill -CONT "$AGENT_PID" 2>/dev/null
	kill "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null
}

no_curl_reason() {
	case "${SHIM_PRELOAD:-}" in *libasan*)
		echo "curl deadlocks in setlocale() whenever libasan is preloaded (shim or not)" ;;
	esac
}

# tls_test_certs DIR: DIR/ca.pem (a CA), DIR/srv.pem and DIR/srv.key (for [::1] and
# localhost, signed by it), valid one day.
tls_test_certs() {
	local d=$1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj /CN=clt-test-ca -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
			-keyout "$d/srv.key" -out "$d/srv.csr" 2>/dev/null &&
		printf 'subjectAltName=IP:::1,DNS:localhost\n' >"$d/ext" &&
		openssl x509 -req -in "$d/srv.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
			-days 1 -extfile "$d/ext" -out "$d/srv.pem" 2>/dev/null ||
		fail "cannot make the test certificates"
}

# nginx_traced NAME SERVICE (after tests/lib/shim_common.sh and agent_helpers.sh):
# namespace NAME; cltagent exporting spans to $OUT; the trace fixture's origin on
# [::1]:8080; nginx (tests/lib/nginx_trace.conf.in, [::1]:8000, files under $W/www)
# under the shim with CLT_TRACING=spans as service SERVICE, pid NGX. Sets TF, NS,
# SOCK, OUT, W, NGX and the EXIT trap.
nginx_traced() {
	ag_need_binaries
	TF=$PWD/tests/lib/trace_fixture.py
	trap 'ag_cleanup; stage_cleanup' EXIT
	topo_single "$1" || fail "cannot build the namespace"
	NS=$TOPO_S
	SOCK=$AG_TMP/tag.sock
	OUT=$AG_TMP/spans.json
	W=$AG_TMP/nginx
	mkdir -p "$W/www" "$W/nginx-tmp"
	sed -e "s|@W@|$W|g" tests/lib/nginx_trace.conf.in >"$W/nginx.conf"
	ag_agent "$NS" "$AG_TMP/agent.log" --tag-socket "$SOCK" --output "$OUT" --batch-timeout 100ms \
		--stats-interval 0
	ip netns exec "$NS" python3 "$TF" server 8080 >"$AG_TMP/origin.log" 2>&1 &
	AG_PIDS+=($!)
	topo_wait_port "$NS" 8080 || fail "origin did not start"
	ip netns exec "$NS" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" CLT_TRACING=spans \
		CLT_AGENT_SOCKET="$SOCK" OTEL_SERVICE_NAME="$2" nginx -c "$W/nginx.conf" -p "$W" \
		>"$AG_TMP/nginx.out" 2>&1 &
	NGX=$!
	topo_wait_port "$NS" 8000 || { cat "$W/nginx.error.log"; fail "nginx did not start"; }
}

# nginx_traced_stop SERVICE MIN: nginx exits normally on SIGQUIT (graceful), so its
# worker's last spans are flushed at exit; wait for MIN of SERVICE's spans, stop the
# agent; the spans, one JSON object a line, in $AG_TMP/spans.txt.
nginx_traced_stop() {
	local i
	kill -QUIT "$NGX"
	wait "$NGX" 2>/dev/null
	for i in $(seq 1 40); do
		[ "$(python3 "$TF" spans "$OUT" 2>/dev/null | grep -c "$1")" -ge "$2" ] && break
		sleep 0.25
	done
	ag_stop_agent
	python3 "$TF" spans "$OUT" >"$AG_TMP/spans.txt"
}

# demo_entry_run ENTRY PREFIX NAME: demo/demo.sh run with DEMO_ENTRY=ENTRY, its
# namespaces named PREFIX...; its output printed (colours stripped); fails if it
# fails. Sets OUT (the run's files: tests/artifacts/NAME-out) and log (NAME.log there).
demo_entry_run() {
	local art=$PWD/tests/artifacts rc
	OUT=$art/$3-out
	log=$art/$3.log
	mkdir -p "$art"
	DEMO_ENTRY=$1 DEMO_PREFIX=$2 DEMO_OUT=$OUT DEMO_NO_UPSTREAM=1 BUILD=${BUILD:-build} \
		demo/demo.sh run >"$log" 2>&1
	rc=$?
	sed 's/\x1b\[[0-9;]*m//g' "$log"
	[ $rc -eq 0 ] || fail "demo/demo.sh run (DEMO_ENTRY=$1) exited $rc"
}
