#!/usr/bin/env bash
# shim_transparency.sh - the shim must not change what programs do:
# large uploads (Content-Length and chunked, bodies containing request-like
# text) arrive with the same checksum; a non-HTTP stream is byte-for-byte
# intact and never tagged; a many-threaded client with one connection per
# request gets correct replies and every request's IDs reach the kernel;
# fork and exec keep working, parent, child and exec'd program each tagging
# their own requests. SHIM_PRELOAD (e.g. libasan first) overrides the preload.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/shim_common.sh
shim_setup "sh$$"
MB=${SHIM_UPLOAD_MB:-24}
THREADS=${SHIM_THREADS:-16}
PER_THREAD=${SHIM_PER_THREAD:-8}
# curl deadlocks in setlocale() whenever libasan is preloaded, shim or not:
# under the sanitizer shim, Python stands in for it.
EXEC_PROG=curl
case "${SHIM_PRELOAD:-}" in *libasan*) EXEC_PROG=python ;; esac

# 1. Large uploads.
events_start "$TMP/ev1"
under_shim python3 "$FIXTURE" upload "$SHIM_PORT" "$MB"
rc=$?
SHOW_EVENTS=0 events_stop
check "uploads of $MB MiB through the shim arrive intact" [ $rc -eq 0 ]
check "upload packets were tagged ($(events_tagged) events)" [ "$(events_tagged)" -ge 1 ]
if [ "$EXEC_PROG" = curl ]; then
	out=$(dd if=/dev/urandom of="$TMP/blob" bs=1M count=8 2>/dev/null &&
		under_shim curl -m 60 -sf --data-binary @"$TMP/blob" -H 'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' "http://[::1]:$SHIM_PORT/up")
	check "curl --data-binary 8 MiB: server sha256 equals the file's" [ "$out" = "$(sha256sum <"$TMP/blob" | cut -d' ' -f1)" ]
fi

# 2. A non-HTTP protocol (TLS-like first bytes, later HTTP-like text).
events_start "$TMP/ev2"
under_shim python3 "$FIXTURE" raw "$SHIM_PORT"
rc=$?
SHOW_EVENTS=0 events_stop
check "non-HTTP stream arrives intact" [ $rc -eq 0 ]
check "non-HTTP stream is never tagged ($(events_tagged) events)" [ "$(events_tagged)" -eq 0 ]

# 3. Many threads, many sockets.
events_start "$TMP/ev3"
under_shim python3 "$FIXTURE" threads "$SHIM_PORT" "$THREADS" "$PER_THREAD" >"$TMP/ids3"
rc=$?
SHOW_EVENTS=0 events_stop
check "$THREADS threads x $PER_THREAD requests: all replies correct" [ $rc -eq 0 ]
missing=0
while read -r t s; do
	[ "$(events_with "$t" "$s")" -ge 1 ] || missing=$((missing + 1))
done <"$TMP/ids3"
check "every request's IDs are in the kernel's events ($missing of $(wc -l <"$TMP/ids3") missing)" [ $missing -eq 0 ]
foreign=$(grep -v 'trace=-' "$EVENTS_FILE" | sed 's/.*trace=\([0-9a-f]*\) span=\([0-9a-f]*\)$/\1 \2/' | sort -u |
	grep -vxF -f "$TMP/ids3" | wc -l)
check "no event carries IDs that no request sent ($foreign)" [ "$foreign" -eq 0 ]

# 4. fork and exec.
events_start "$TMP/ev4"
under_shim python3 "$FIXTURE" forkexec "$SHIM_PORT" "$EXEC_PROG" >"$TMP/ids4"
rc=$?
SHOW_EVENTS=0 events_stop
check "fork + exec client succeeds" [ $rc -eq 0 ]
n=0
while read -r t s; do [ "$(events_with "$t" "$s")" -ge 1 ] && n=$((n + 1)); done <"$TMP/ids4"
check "parent before fork, child, exec'd $EXEC_PROG, parent after fork: $n of 4 tagged" [ $n -eq 4 ]

summary
