#!/usr/bin/env bash
# inject_sends.sh - traceparent injection is invisible to the application:
# a C client under the shim with CLT_TRACING=inject (no SERVER span in the
# process: each bare request is a root CLIENT span) sends two large
# requests per connection with write, send, writev and sendmsg on a
# non-blocking socket with a small send buffer (partial writes, EAGAIN).
# Every return value stays within what the call asked, -1 only with
# EAGAIN, the counts add up to the application's bytes, and the server
# receives exactly those bytes plus one traceparent line after each
# request line. Without injection (spans mode) the server receives the
# application's bytes unchanged.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/shim_common.sh
PROG=$PWD/$BUILD/tests/tools/inject_sends
[ -x "$PROG" ] || { echo "FAIL: $PROG missing (make BUILD=$BUILD all tests)"; exit 1; }
shim_setup "is$$"
under_shim CLT_TRACING=inject CLT_BACKEND=hopopts CLT_AGENT_SOCKET="$TMP/none.sock" "$PROG" \
	>"$TMP/out" 2>"$TMP/err"
rc=$?
cat "$TMP/out"
check "inject_sends passed under the shim in inject mode (rc=$rc)" [ $rc -eq 0 ]
check "8 requests, each received with exactly one traceparent line" \
	[ "$(grep -c '^ok   - .*one traceparent line per request' "$TMP/out")" = 4 ]
# Spans mode: no line added - the same program must then see its own bytes only.
under_shim CLT_TRACING=spans CLT_BACKEND=hopopts CLT_AGENT_SOCKET="$TMP/none.sock" "$PROG" \
	>"$TMP/out2" 2>&1
check "spans mode adds nothing (the server's check fails for every variant)" \
	[ "$(grep -c '^FAIL - .*one traceparent line per request' "$TMP/out2")" = 4 ]
check "spans mode: every return value as the kernel gave it" \
	[ "$(grep -c '^ok   - .*every return value' "$TMP/out2")" = 8 ]
summary
