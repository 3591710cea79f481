#!/usr/bin/env bash
# run.sh [unit|integration|NAME...] - run the test suite and print one
# closing line "N passed, N failed, N skipped". Exit status is non-zero
# when any test failed. A test exits 77 to skip; it must print why.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
export CLT_TOP=$PWD
which=${1:-all}

pass=0 fail=0 skip=0 failed=()
run_one() { # name, command...
	local name=$1; shift
	local log
	log=$(mktemp)
	local start=$SECONDS
	"$@" >"$log" 2>&1
	local rc=$?
	local took=$((SECONDS - start))
	case $rc in
	0) pass=$((pass + 1)); printf 'PASS  %-40s (%ss)\n' "$name" "$took" ;;
	77) skip=$((skip + 1)); printf 'SKIP  %-40s %s\n' "$name" "$(grep -i skip "$log" | tail -1)" ;;
	*) fail=$((fail + 1)); failed+=("$name")
	   printf 'FAIL  %-40s (exit %s, %ss)\n' "$name" "$rc" "$took"
	   sed 's/^/    | /' "$log" | tail -60 ;;
	esac
	if [ -n "${VERBOSE:-}" ] && [ $rc -ne 1 ]; then sed 's/^/    | /' "$log"; fi
	rm -f "$log"
}

if [ "$which" = all ] || [ "$which" = unit ]; then
	for t in "$BUILD"/tests/unit/test_*; do
		[ -x "$t" ] || continue
		run_one "unit/$(basename "$t")" "$t"
	done
fi
if [ "$which" = all ] || [ "$which" = integration ]; then
	for t in tests/integration/*.sh; do
		[ -f "$t" ] || continue
		run_one "integration/$(basename "$t" .sh)" bash "$t"
	done
fi
if [ "$which" != all ] && [ "$which" != unit ] && [ "$which" != integration ]; then
	for name in "$@"; do
		if [ -x "$BUILD/tests/unit/$name" ]; then run_one "unit/$name" "$BUILD/tests/unit/$name"
		elif [ -f "tests/integration/$name.sh" ]; then run_one "integration/$name" bash "tests/integration/$name.sh"
		else echo "run.sh: no test '$name'" >&2; fail=$((fail + 1)); fi
	done
fi

echo
if [ ${#failed[@]} -gt 0 ]; then echo "failed: ${failed[*]}"; fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
