#!/usr/bin/env bash
# shim_cost.sh - user-space instructions libcltshim.so adds per request,
# counted by callgrind (repeatable, unlike timings): the fixed client loop
# tests/lib/shim_loop.c runs N requests with and without the shim; the
# difference divided by N is printed per mode. Not a pass/fail test.
#
#   BUILD=build tests/lib/shim_cost.sh [N] [MODES...]
#   SHIM_COST_ANNOTATE=1 ...   also list the shim's top functions
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
N=${1:-20000}
shift 2>/dev/null
MODES=${*:-plain tp tpchange body}
SHIM=$PWD/$BUILD/libcltshim.so
LOOP=$PWD/$BUILD/tests/lib/shim_loop
command -v valgrind >/dev/null || { echo "shim_cost: valgrind missing"; exit 1; }
[ -e "$SHIM" ] || { echo "shim_cost: $SHIM missing (make BUILD=$BUILD)"; exit 1; }
mkdir -p "$(dirname "$LOOP")"
cc -O2 -g -pthread -o "$LOOP" tests/lib/shim_loop.c || exit 1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

ir() { # out-file preload command...
	local out=$1 pre=$2
	shift 2
	LD_PRELOAD=$pre valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>"$out.err" ||
		{ cat "$out.err" >&2; return 1; }
	sed -n 's/^summary: //p' "$out"
}

printf '%-9s %12s %12s %10s\n' mode "Ir without" "Ir with" "Ir/request"
for m in $MODES; do
	a=$(ir "$TMP/a.$m" "" "$LOOP" "$m" "$N") || exit 1
	b=$(ir "$TMP/b.$m" "$SHIM" "$LOOP" "$m" "$N") || exit 1
	# The shim's one-time setup is included: negligible against N requests.
	printf '%-9s %12s %12s %10s\n' "$m" "$a" "$b" $(((b - a) / N))
	if [ -n "${SHIM_COST_ANNOTATE:-}" ]; then
		callgrind_annotate --threshold=99 "$TMP/b.$m" 2>/dev/null | grep -E 'libcltshim|preload/|lib/' | head -15
	fi
done
