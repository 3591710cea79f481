#!/usr/bin/env bash
# shim_sampling.sh - only sampled requests are tagged. Python http.client
# under libcltshim.so sends, on ONE keep-alive connection, for each
# propagation format a sampled, an unsampled and again a sampled request:
# the kernel IOAM events of each sampled request's window carry exactly its
# IDs, an unsampled request's window carries no IDs at all and its IDs are
# in no event of the whole run (its network span would be an orphan: its
# parent was never recorded). With CLT_TAG_UNSAMPLED=1 unsampled requests
# are tagged too.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/shim_common.sh
shim_setup "ss$$"

# Distinct IDs per request, so that a stale or misattributed tag shows.
tid() { printf '%030x%02x' "$((0x5a3e))" "$1"; }  # trace id number N
sp() { printf '%014x%02x' "$((0x7c1))" "$1"; }   # span id number N
tc() { echo "traceparent: 00-$(tid "$1")-$(sp "$1")-$2"; }
want() { echo "$(tid "$1")/$(sp "$1")"; }
REQS=(
	"$(want 1)|$(tc 1 01)"
	"!$(want 2)|$(tc 2 00)"
	"$(want 3)|$(tc 3 01)"
	"$(want 4)|b3: $(tid 4)-$(sp 4)-1"
	"!$(want 5)|b3: $(tid 5)-$(sp 5)-0"
	"$(want 6)|b3: $(tid 6)-$(sp 6)-d"
	"$(want 7)|X-B3-TraceId: $(tid 7)|X-B3-SpanId: $(sp 7)|X-B3-Sampled: 1"
	"!$(want 8)|X-B3-TraceId: $(tid 8)|X-B3-SpanId: $(sp 8)|X-B3-Sampled: 0"
	"0000000000000000$(tid 9 | cut -c17-)/$(sp 9)|X-B3-TraceId: $(tid 9 | cut -c17-)|X-B3-SpanId: $(sp 9)|X-B3-Flags: 1"
	"$(want 10)|uber-trace-id: $(tid 10):$(sp 10):0:1"
	"!$(want 11)|uber-trace-id: $(tid 11):$(sp 11):0:0"
	"$(want 12)|uber-trace-id: $(tid 12):$(sp 12):0:3"
)
events_start "$TMP/ev"
windows=$(CLT_PROPAGATORS=tracecontext,b3,b3multi,jaeger under_shim python3 "$FIXTURE" sequence \
	"$SHIM_PORT" "$EVENTS_FILE" "${REQS[@]}")
rc=$?
SHOW_EVENTS=0 events_stop
check "keep-alive client ran ${#REQS[@]} requests on one connection" [ $rc -eq 0 ]
python3 "$FIXTURE" check-windows "$EVENTS_FILE" "$windows" || fails=$((fails + 1))

# The same unsampled requests, asked to tag them anyway (and a deferred b3).
REQS=(
	"$(want 2)|$(tc 2 00)"
	"$(want 13)|b3: $(tid 13)-$(sp 13)"
)
events_start "$TMP/ev2"
windows=$(CLT_TAG_UNSAMPLED=1 CLT_PROPAGATORS=tracecontext,b3 under_shim python3 "$FIXTURE" \
	sequence "$SHIM_PORT" "$EVENTS_FILE" "${REQS[@]}")
rc=$?
SHOW_EVENTS=0 events_stop
check "CLT_TAG_UNSAMPLED=1: client ran ${#REQS[@]} requests" [ $rc -eq 0 ]
python3 "$FIXTURE" check-windows "$EVENTS_FILE" "$windows" || fails=$((fails + 1))

[ $fails -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all checks passed"
