#!/usr/bin/env bash
# shim_curl.sh - an unmodified curl under libcltshim.so: the kernel's IOAM
# events must carry the trace-id and span-id of the request's traceparent
# header, and nothing when the request has none, when the destination is
# outside CLT_DOMAIN, or when the format is not enabled (b3) - and the
# other formats when CLT_PROPAGATORS enables them.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/shim_common.sh
case "${SHIM_PRELOAD:-}" in *libasan*)
	echo "SKIP: curl deadlocks in setlocale() whenever libasan is preloaded (shim or not); shim_asan covers the sanitizer shim"
	exit 77 ;;
esac
shim_setup "sh$$"

T1=0af7651916cd43dd8448eb211c80319c S1=b7ad6b7169203331
T2=4bf92f3577b34da6a3ce929d0e0e4736 S2=00f067aa0ba902b7
URL="http://[::1]:$SHIM_PORT/"
curl_() { under_shim curl -m 20 -sf -o /dev/null "$@"; }

# 1. The issue's "done when": curl -H traceparent.
events_start "$TMP/ev1"
curl_ -H "traceparent: 00-$T1-$S1-01" "$URL"
rc=$?
events_stop
check "curl succeeds under the shim" [ $rc -eq 0 ]
check "kernel IOAM events carry trace=$T1 span=$S1 ($(events_with $T1 $S1) events)" \
	[ "$(events_with $T1 $S1)" -ge 1 ]
check "every event of that connection carries those IDs" [ "$(events_with $T1 $S1)" -eq "$(events_all)" ]

# 2. No traceparent: no tagged packet.
events_start "$TMP/ev2"
curl_ "$URL"
events_stop
check "no traceparent: no tagged events ($(events_tagged))" [ "$(events_tagged)" -eq 0 ]

# 3. Destination outside CLT_DOMAIN: the shim stays away.
events_start "$TMP/ev3"
CLT_DOMAIN=fd00:99::/64 curl_ -H "traceparent: 00-$T1-$S1-01" "$URL"
events_stop
check "destination outside CLT_DOMAIN: no tagged events ($(events_tagged))" [ "$(events_tagged)" -eq 0 ]

# 4. B3 single header only counts when enabled.
events_start "$TMP/ev4"
curl_ -H "b3: $T2-$S2-1" "$URL"
events_stop
check "b3 without CLT_PROPAGATORS: no tagged events" [ "$(events_tagged)" -eq 0 ]
events_start "$TMP/ev5"
CLT_PROPAGATORS=b3,tracecontext curl_ -H "b3: $T2-$S2-1" "$URL"
events_stop
check "CLT_PROPAGATORS=b3: events carry the b3 IDs ($(events_with $T2 $S2))" \
	[ "$(events_with $T2 $S2)" -ge 1 ]
check "CLT_PROPAGATORS=b3: every event of that connection carries them" \
	[ "$(events_with $T2 $S2)" -eq "$(events_all)" ]
events_start "$TMP/ev6"
CLT_PROPAGATORS=jaeger curl_ -H "uber-trace-id: ${T1:16}:$S1:0:1" "$URL"
events_stop
check "CLT_PROPAGATORS=jaeger: 64-bit trace id left-padded ($(events_with 0000000000000000${T1:16} $S1))" \
	[ "$(events_with 0000000000000000${T1:16} $S1)" -ge 1 ]

# 5. The shim is silent unless asked; CLT_LOG=info names the backend.
out=$(under_shim curl -s -o /dev/null -H "traceparent: 00-$T1-$S1-01" "$URL" 2>&1)
check "nothing printed without CLT_LOG" [ -z "$out" ]
out=$(CLT_LOG=info under_shim curl -s -o /dev/null -H "traceparent: 00-$T1-$S1-01" "$URL" 2>&1)
echo "# $out"
check "CLT_LOG=info: first line names the backend and why" \
	bash -c '[[ "$1" == *"info: backend hopopts: "* ]]' _ "$out"

summary
