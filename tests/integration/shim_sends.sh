#!/usr/bin/env bash
# shim_sends.sh - every send variant the shim interposes (write, send,
# sendto, writev, sendmsg, sendmmsg, sendfile) tags the request it writes
# with that request's own IDs, also when the kernel takes the bytes in
# pieces (a non-blocking socket with a small send buffer): the socket's
# option is read back after every piece, and the kernel's IOAM events
# carry each request's IDs. The next request on the connection, after the
# cut-up one, is found and tagged with its own.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/shim_common.sh
PROG=$PWD/$BUILD/tests/tools/shim_sends
[ -x "$PROG" ] || { echo "FAIL: $PROG missing (make BUILD=$BUILD all tests)"; exit 1; }
shim_setup "ss$$"

events_start "$TMP/ev"
under_shim CLT_BACKEND=hopopts "$PROG" variants >"$TMP/out" 2>&1
rc=$?
SHOW_EVENTS=0 events_stop
grep -v '^ids ' "$TMP/out"
check "shim_sends variants passed (rc=$rc)" [ $rc -eq 0 ]
while read -r _ name trace span; do
	n=$(events_with "$trace" "$span")
	check "$name: kernel IOAM events carry trace=$trace span=$span ($n)" [ "$n" -ge 1 ]
done < <(grep '^ids ' "$TMP/out")
check "every tagged event carries one of the requests' IDs" \
	[ "$(events_tagged)" -eq "$(grep -c 'trace=5eadc0de' "$EVENTS_FILE")" ]
summary
