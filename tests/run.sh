#!/usr/bin/env bash
# run.sh [unit|integration|NAME...] - run the test suite and print one
# closing line "N passed, N failed, N skipped". Exit status is non-zero
# when any test failed. A test exits 77 to skip; it must print why.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
export BUILD
export CLT_TOP=$PWD
# What the tests preload or run as another user is staged outside the
# checkout, which may be a 0700 home folder or a path with spaces
# (tests/lib/stage.sh says why); one copy for the whole run.
. tests/lib/stage.sh
stage_init || { echo "run.sh: cannot make a staging directory under /tmp" >&2; exit 1; }
trap stage_cleanup EXIT
[ -f "$BUILD/libcltshim.so" ] && stage_shim
# A sanitizer build (make check SANITIZE=1): programs the tests run under
# LD_PRELOAD=$BUILD/libcltshim.so are not built with ASan, so its runtime
# loads after libc and ASan would refuse to start. Let it run: the shim's
# own code keeps its instrumentation (full ASan coverage of the shim under
# real programs is shim_asan.sh's job, which preloads the runtime first).
# Scripts using tests/lib/shim_common.sh also run bash and Python with the
# runtime, whose leaks are not ours: no leak check there (as that file's
# own default says); everywhere else cltagent's leaks are still reported.
SAN_OPTS=
if [ -f "$BUILD/libcltshim.so" ] && readelf -d "$BUILD/libcltshim.so" 2>/dev/null | grep -q 'libasan'; then
	SAN_OPTS="verify_asan_link_order=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
	# Node.js crashes at start (a null interceptor) when the runtime comes
	# after libc; these run in the normal build.
	SAN_SKIP="integration/e2e_node integration/demo_run"
fi
which=${1:-all}

pass=0 fail=0 skip=0 failed=()
run_one() { # name, command...
	local name=$1; shift
	local log
	case " ${SAN_SKIP:-} " in *" $name "*)
		skip=$((skip + 1))
		printf 'SKIP  %-40s %s\n' "$name" "SKIP: Node.js cannot start with the ASan-built shim preloaded after libc; runs in the normal build"
		return ;;
	esac
	log=$(mktemp)
	local start=$SECONDS
	if [ -n "$SAN_OPTS" ] && [ "$1" = bash ] && grep -q 'shim_common\.sh' "$2"; then
		ASAN_OPTIONS=detect_leaks=0:$SAN_OPTS "$@" >"$log" 2>&1
	elif [ -n "$SAN_OPTS" ] && [ "$1" = bash ]; then
		ASAN_OPTIONS=$SAN_OPTS "$@" >"$log" 2>&1
	else
		"$@" >"$log" 2>&1
	fi
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
	# C programs that run themselves under the shim (tests/integration/c/).
	for t in "$BUILD"/tests/integration/c/test_*; do
		[ -x "$t" ] || continue
		run_one "integration/$(basename "$t")" "$t"
	done
fi
if [ "$which" != all ] && [ "$which" != unit ] && [ "$which" != integration ]; then
	for name in "$@"; do
		if [ -x "$BUILD/tests/unit/$name" ]; then run_one "unit/$name" "$BUILD/tests/unit/$name"
		elif [ -x "$BUILD/tests/integration/c/$name" ]; then run_one "integration/$name" "$BUILD/tests/integration/c/$name"
		elif [ -f "tests/integration/$name.sh" ]; then run_one "integration/$name" bash "tests/integration/$name.sh"
		else echo "run.sh: no test '$name'" >&2; fail=$((fail + 1)); fi
	done
fi

echo
if [ ${#failed[@]} -gt 0 ]; then echo "failed: ${failed[*]}"; fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
