#!/usr/bin/env bash
# agent_faults.sh - cltagent's export under faults, on the real kernel (one
# namespace, IOAM on lo, tagged traffic to ::1 through libclt):
#   receiver down at start and up later: spans arrive (retried)
#   receiver answering 500, 400: not retried, counted as failed
#   receiver answering 429 then 503 with Retry-After: retried, spans arrive
#     (endpoint from OTEL_EXPORTER_OTLP_ENDPOINT)
#   SIGTERM with requests held: exported (gzip bodies) before exit, exit 0 within the bound
set -u
. "$(dirname "$0")/../lib/topo.sh"
. "$(dirname "$0")/../lib/agent_helpers.sh"
topo_require_root
ag_need_binaries
topo_single "ag$$f" || fail "topology"
trap ag_cleanup EXIT # after topo_*, which install their own trap
S=$TOPO_S
ag_sink "$S" ::1 8080 tcp
n=0

send() { # SPAN-ID
	CLT_BACKEND=hopopts ip netns exec "$S" "$AG_SEND" -n 3 ::1 8080 \
		0af7651916cd43dd8448eb211c80319c "$1" 2>/dev/null || fail "clt_send"
}

stop_receiver() {
	kill -TERM "$AG_RCV_PID"
	wait "$AG_RCV_PID" 2>/dev/null
}

# wait_log FILE PATTERN WHAT: wait (at most AG_WAIT_S) for a line matching
# PATTERN in FILE, the agent's own account of what it did (-v).
wait_log() {
	local i
	for i in $(seq 1 $((AG_WAIT_S * 10))); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$1"
	fail "$3: no '$2' in the agent's log within $AG_WAIT_S s"
}

# --- receiver down at start, up after the agent's first attempt failed ---
ag_agent "$S" "$AG_TMP/a1.log" -e "http://[::1]:4401/v1/traces" --idle-timeout 200ms \
	--batch-timeout 100ms --retry-max-time 60s -v
send 1111111111111111
wait_log "$AG_TMP/a1.log" 'export: .*(connect|Connection refused)' "receiver down"
ag_receiver "$S" 4401 "$AG_TMP/r1.jsonl"
ag_wait_spans "$AG_TMP/r1.jsonl" 2 20 || { cat "$AG_TMP/a1.log"; fail "spans did not arrive after the receiver came up"; }
ag_stop_agent
[ "$AG_RC" = 0 ] || fail "exit $AG_RC"
r=$(ag_stat "$AG_TMP/a1.log" retries) f=$(ag_stat "$AG_TMP/a1.log" failed)
[ "$r" -ge 1 ] && [ "$f" = 0 ] || fail "receiver down: retries=$r failed=$f"
echo "checked: receiver down at start: $r retries, spans arrived, none failed"
stop_receiver

# --- 500 and 400: final, not retried -------------------------------------
for code in 500 400; do
	port=$((4400 + code / 100))
	ag_receiver "$S" $port "$AG_TMP/r$code.jsonl" --status $code
	ag_agent "$S" "$AG_TMP/a$code.log" -e "http://[::1]:$port/v1/traces" --idle-timeout 200ms \
		--batch-timeout 100ms -v
	send 2222222222222222
	# The agent's verdict on the answer, not a guess at how long it takes.
	# A wrongly retried batch would not be given up before the 30 s limit.
	wait_log "$AG_TMP/a$code.log" 'export: gave up a batch' "HTTP $code"
	ag_stop_agent
	stop_receiver
	r=$(ag_stat "$AG_TMP/a$code.log" retries) f=$(ag_stat "$AG_TMP/a$code.log" failed)
	reqs=$(grep -o '[0-9]* requests' "$AG_TMP/receiver.$port.log" | tail -1)
	[ "$AG_RC" = 0 ] || fail "$code: exit $AG_RC"
	[ "$r" = 0 ] && [ "$f" -ge 2 ] && [ "$reqs" = "1 requests" ] ||
		fail "$code: retries=$r failed=$f receiver saw '$reqs'"
	echo "checked: HTTP $code not retried (1 request), $f spans counted failed"
done

# --- 429 then 503 with Retry-After: 1, then 200 ---------------------------
ag_receiver "$S" 4429 "$AG_TMP/r429.jsonl" --status 429,503,200 --retry-after 1
# The endpoint from the OpenTelemetry variable: /v1/traces is appended.
OTEL_EXPORTER_OTLP_ENDPOINT="http://[::1]:4429" ag_agent "$S" "$AG_TMP/a429.log" \
	--idle-timeout 200ms --batch-timeout 100ms
t0=$(date +%s%N)
send 3333333333333333
ag_wait_spans "$AG_TMP/r429.jsonl" 2 "$AG_WAIT_S" || { cat "$AG_TMP/a429.log"; fail "429/503: spans never accepted"; }
took=$((($(date +%s%N) - t0) / 1000000))
ag_stop_agent
r=$(ag_stat "$AG_TMP/a429.log" retries) f=$(ag_stat "$AG_TMP/a429.log" failed)
[ "$r" = 2 ] && [ "$f" = 0 ] || fail "429/503: retries=$r failed=$f"
[ "$took" -ge 2000 ] || fail "429/503: accepted after $took ms, Retry-After 1 s twice not honoured"
echo "checked: 429 and 503 retried twice honouring Retry-After (accepted after $took ms)"
stop_receiver

# --- SIGTERM with requests held -------------------------------------------
ag_receiver "$S" 4499 "$AG_TMP/rterm.jsonl"
ag_agent "$S" "$AG_TMP/aterm.log" -e "http://[::1]:4499/v1/traces" --idle-timeout 60s \
	--max-age 120s --batch-timeout 60s --shutdown-timeout 5s --gzip --stats-interval 1s
send 4444444444444444
send 5555555555555555
# Both requests held: the periodic stats line says so once the agent has
# read their events (a signal with events still unread would lose them).
for i in $(seq 1 $((AG_WAIT_S * 10))); do
	[ "$(ag_stat "$AG_TMP/aterm.log" held)" = 2 ] && break
	sleep 0.1
done
[ "$(ag_stat "$AG_TMP/aterm.log" held)" = 2 ] || { cat "$AG_TMP/aterm.log"; fail "SIGTERM: the 2 requests never held"; }
[ "$(ag_count_spans "$AG_TMP/rterm.jsonl")" = 0 ] || fail "spans exported before SIGTERM"
ag_stop_agent
[ "$AG_RC" = 0 ] || fail "SIGTERM: exit $AG_RC"
[ "$AG_STOP_S" -le 6 ] || fail "SIGTERM: took $AG_STOP_S s"
c=$(ag_count_spans "$AG_TMP/rterm.jsonl")
[ "$c" = 4 ] || fail "SIGTERM: $c spans exported, want 4 (2 requests x (network + 1 hop))"
echo "checked: SIGTERM with 2 requests held: 4 spans exported (gzip) before exit, exit 0 in ${AG_STOP_S}s"
stop_receiver
echo PASS
