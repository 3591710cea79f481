# shim_common.sh - shared setup for tests/integration/shim_*.sh: a
# namespace with IOAM on lo, the fixture servers on [::1], and a kernel
# IOAM event recorder. Source after tests/lib/topo.sh and topo_require_root.
#
#   shim_setup PREFIX          namespace + servers (HTTP on $SHIM_PORT, raw on +1)
#   events_start FILE / events_stop   record kernel IOAM events (tests/tools/ioam_events)
#   under_shim CMD...          run CMD in the namespace with the shim preloaded
#   check, fail, summary       tests/lib/harness.sh

BUILD=${BUILD:-build}
# shellcheck source=stage.sh
. "$(dirname "${BASH_SOURCE[0]}")/stage.sh"
# The shim as LD_PRELOAD can take it, readable by nobody (stage.sh says why).
[ -n "${SHIM:-}" ] || stage_shim || SHIM=$PWD/$BUILD/libcltshim.so
EVENTS_TOOL=$PWD/$BUILD/tests/tools/ioam_events
FIXTURE=$PWD/tests/lib/shim_fixture.py
SHIM_PORT=8080
# shellcheck source=harness.sh
. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
# A shim built with SANITIZE=1 needs the ASan runtime loaded before it.
if readelf -d "$SHIM" 2>/dev/null | grep -q 'NEEDED.*libasan'; then
	SHIM_PRELOAD=${SHIM_PRELOAD:-"$(gcc -print-file-name=libasan.so) $SHIM"}
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
fi

shim_setup() {
	local f
	for f in "$SHIM" "$EVENTS_TOOL"; do
		if [ ! -e "$f" ]; then
			echo "FAIL: $f missing (make BUILD=$BUILD all tests)"
			exit 1
		fi
	done
	TMP=$(mktemp -d)
	trap 'topo_cleanup; rm -rf "$TMP"; stage_cleanup' EXIT
	topo_single "$1" || { echo "FAIL: cannot build the namespace"; exit 1; }
	NS=$TOPO_S
	ip netns exec "$NS" python3 "$FIXTURE" server "$SHIM_PORT" >"$TMP/server.log" 2>&1 &
	topo_wait_port "$NS" "$SHIM_PORT" || { echo "FAIL: server did not start"; exit 1; }
	topo_wait_port "$NS" $((SHIM_PORT + 1)) || { echo "FAIL: raw server did not start"; exit 1; }
}

nsx() { ip netns exec "$NS" "$@"; }

under_shim() {
	ip netns exec "$NS" env LD_PRELOAD="${SHIM_PRELOAD:-$SHIM}" "$@"
}

events_start() { # file
	EVENTS_FILE=$1
	rm -f "$TMP/ready"
	: >"$EVENTS_FILE"
	nsx "$EVENTS_TOOL" -r "$TMP/ready" >"$EVENTS_FILE" 2>"$EVENTS_FILE.err" &
	EVENTS_PID=$!
	local i
	for i in $(seq 1 50); do [ -e "$TMP/ready" ] && return 0; sleep 0.1; done
	echo "FAIL: ioam_events did not subscribe: $(cat "$EVENTS_FILE.err")"
	exit 1
}

events_stop() {
	topo_wait_settled "$EVENTS_FILE" # the last ACKs included
	kill "$EVENTS_PID" 2>/dev/null
	wait "$EVENTS_PID" 2>/dev/null
	sed 's/^/# event: /' "$EVENTS_FILE" | head -${SHOW_EVENTS:-12}
}

# Number of events carrying exactly TRACE SPAN / any IDs / all.
events_with() { grep -c -- "trace=$1 span=$2\$" "$EVENTS_FILE"; }
events_tagged() { grep -vc -- 'trace=-' "$EVENTS_FILE"; }
events_all() { wc -l <"$EVENTS_FILE"; }
