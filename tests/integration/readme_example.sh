#!/usr/bin/env bash
# readme_example.sh - the README's C example must keep working against an
# installed libclt: stage "make install" in a temporary DESTDIR, build the
# example exactly as it appears in README.md with pkg-config (shared, then
# static), run it against a server on ::1 in a namespace with IOAM on lo,
# and require the kernel's IOAM events to carry the traceparent's IDs.
# Unprivileged: the build checks run, then the kernel part is skipped.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}

TMP=$(mktemp -d)
LISTENER=
cleanup() {
	[ -n "$LISTENER" ] && kill "$LISTENER" 2>/dev/null && wait "$LISTENER" 2>/dev/null
	declare -F topo_cleanup >/dev/null && topo_cleanup
	rm -rf "$TMP"
}
trap cleanup EXIT

. tests/lib/harness.sh

for tool in pkg-config cc python3; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool missing (scripts/deps.sh test)"; exit 1; }
done

# 1. The first C block of the README's library section, verbatim.
awk '/<!-- section:library -->/ { inlib = 1 }
     /<!-- \/section:library -->/ { inlib = 0 }
     inlib && /^```c$/ && !done { copy = 1; next }
     copy && /^```$/ { copy = 0; done = 1 }
     copy { print }' README.md >"$TMP/example.c"
check "README.md has a C example in the library section ($(wc -l <"$TMP/example.c") lines)" \
	grep -q 'clt_enable' "$TMP/example.c"

# 2. Staged install (PREFIX as a distribution would use, DESTDIR for staging).
PREFIX=/usr/local
DEST=$TMP/dest
if ! make --no-print-directory -s BUILD="$BUILD" PREFIX=$PREFIX DESTDIR="$DEST" install >"$TMP/install.log" 2>&1; then
	sed 's/^/    /' "$TMP/install.log"
	echo "FAIL: make install"
	exit 1
fi
LIB=$DEST$PREFIX/lib
check "installed libclt.so -> libclt.so.1 (the soname) and libclt.pc" \
	eval '[ -L "$LIB/libclt.so" ] && [ -e "$LIB/libclt.so.1" ] && [ -f "$LIB/pkgconfig/libclt.pc" ] &&
		readelf -d "$LIB/libclt.so.1" | grep -q "SONAME.*\[libclt.so.1\]"'

# 3. Build it as an application would, from the staged tree only.
export PKG_CONFIG_PATH=$LIB/pkgconfig PKG_CONFIG_SYSROOT_DIR=$DEST
# A sanitizer build's libclt needs the sanitizer runtime in the application.
SAN=
if readelf -d "$BUILD/libclt.so" | grep -q 'libasan'; then SAN="-fsanitize=address,undefined"; fi
# shellcheck disable=SC2046 # word splitting of pkg-config output is intended
check "example builds with -Wall -Wextra -Werror against the installed headers, shared libclt" \
	cc -std=gnu11 -Wall -Wextra -Werror $SAN "$TMP/example.c" -o "$TMP/example" \
	$(pkg-config --cflags --libs libclt)
# shellcheck disable=SC2046
check "example links statically against libclt.a (pkg-config --static)" \
	cc -std=gnu11 -Wall -Wextra -Werror $SAN "$TMP/example.c" -o "$TMP/example-static" \
	$(pkg-config --cflags libclt) "$LIB/libclt.a" $(pkg-config --static --libs-only-l --libs-only-other libclt | sed 's/-lclt//')
check "example resolves libclt.so.1 from the install" \
	eval 'LD_LIBRARY_PATH=$LIB ldd "$TMP/example" | grep -q "libclt.so.1 => $LIB/libclt.so.1"'

[ "$fails" -eq 0 ] || summary

# 4. Run it against the real kernel.
. tests/lib/topo.sh
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: $(basename "$0"): built and linked the README example; running it needs root (network namespace, IOAM, CAP_NET_RAW)"
	exit 77
fi
topo_require_root
topo_single "rex$$" || { echo "FAIL: cannot build the namespace"; exit 1; }
trap cleanup EXIT
NS=$TOPO_S
EVENTS=$BUILD/tests/tools/ioam_events
[ -x "$EVENTS" ] || { echo "FAIL: $EVENTS missing (make BUILD=$BUILD tests)"; exit 1; }

PORT=18080
ip netns exec "$NS" python3 -m http.server --bind ::1 $PORT >/dev/null 2>&1 &
LISTENER=$!
topo_wait_port "$NS" $PORT || { echo "FAIL: HTTP server did not start"; exit 1; }

run_traced() { # binary traceparent -> events in $TMP/events
	rm -f "$TMP/ready"
	ip netns exec "$NS" "$EVENTS" -t 30 -r "$TMP/ready" >"$TMP/events" 2>"$TMP/events.err" &
	local ev=$!
	local i
	for i in $(seq 1 200); do [ -e "$TMP/ready" ] && break; sleep 0.1; done
	[ -e "$TMP/ready" ] || { echo "FAIL: ioam_events did not subscribe within 20 s: $(cat "$TMP/events.err")"; exit 1; }
	LD_LIBRARY_PATH=$LIB ip netns exec "$NS" env LD_LIBRARY_PATH="$LIB" "$1" $PORT "$2" 2>"$TMP/example.err"
	local rc=$?
	# Let the last events arrive: at least the two the checks want.
	topo_wait_settled "$TMP/events" 2 20
	kill "$ev" 2>/dev/null
	wait "$ev" 2>/dev/null
	return $rc
}

TP=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
check "shared example exits 0 against [::1]:$PORT" run_traced "$TMP/example" $TP
echo "     $(head -1 "$TMP/example.err")"
check "it reports the hopopts backend (root, stock kernel)" grep -q '^clt: hopopts' "$TMP/example.err"
n=$(grep -c 'trace=0af7651916cd43dd8448eb211c80319c span=b7ad6b7169203331' "$TMP/events")
check "kernel IOAM events carry the example's trace-id and span-id ($n events)" [ "$n" -ge 2 ]
other=$(grep -c 'trace=' "$TMP/events")
check "no event carries other IDs ($other events in all)" [ "$n" -eq "$other" ]

TP2=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
check "static example exits 0" run_traced "$TMP/example-static" $TP2
n=$(grep -c 'trace=4bf92f3577b34da6a3ce929d0e0e4736 span=00f067aa0ba902b7' "$TMP/events")
check "static build: events carry its IDs ($n events)" [ "$n" -ge 2 ]

# 5. Uninstall leaves nothing behind.
make --no-print-directory -s BUILD="$BUILD" PREFIX=$PREFIX DESTDIR="$DEST" uninstall >/dev/null 2>&1
left=$(find "$DEST" -type f -o -type l | wc -l)
check "make uninstall removes every installed file ($left left)" [ "$left" -eq 0 ]

[ "$fails" -eq 0 ] || summary
echo "PASS: README example built from the installed libclt and tagged its request"
