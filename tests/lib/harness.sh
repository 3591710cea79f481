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
