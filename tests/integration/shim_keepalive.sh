#!/usr/bin/env bash
# shim_keepalive.sh - Python http.client under libcltshim.so, several
# requests on ONE keep-alive connection (GETs and POSTs whose bodies look
# like requests): the kernel IOAM events of each request's time window
# must carry exactly that request's IDs, and a request without
# traceparent after one with it, or with an unsampled one (-00), must
# produce no tagged packet at all.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/shim_common.sh
shim_setup "sh$$"

TPS=(
	00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
	00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
	-
	00-11111111111111111111111111111111-2222222222222222-00
	00-11111111111111111111111111111111-2222222222222222-01
	-
	-
	00-abcdefabcdefabcdefabcdefabcdef01-0123456789abcdef-01
)
events_start "$TMP/ev"
windows=$(under_shim python3 "$FIXTURE" sequence "$SHIM_PORT" "$EVENTS_FILE" "${TPS[@]}")
rc=$?
SHOW_EVENTS=40 events_stop
check "keep-alive client ran ${#TPS[@]} requests on one connection" [ $rc -eq 0 ]
echo "# windows: $windows"
python3 "$FIXTURE" check-windows "$EVENTS_FILE" "$windows" || fails=$((fails + 1))

summary
