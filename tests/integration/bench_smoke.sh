#!/usr/bin/env bash
# bench_smoke.sh - make bench's machinery works end to end on a reduced
# set (per-call cost under the shim with the hopopts and the agent
# backends, offline agent decoding): the runner
# builds its namespace, the tools run, and the report carries a figure
# and a verdict for every targeted row. Figures are not judged here.
set -u
cd "${CLT_TOP:-$(dirname "$0")/../..}"
source tests/lib/topo.sh
topo_require_root
BUILD=${BUILD:-build}
for f in "$BUILD/bench/percall" "$BUILD/bench/pcapgen" "$BUILD/libcltshim.so" "$BUILD/cltagent"; do
	if [ ! -e "$f" ]; then
		echo "SKIP: $f not built (make BUILD=$BUILD all tests)"
		exit 77
	fi
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
BENCH_QUICK=1 BENCH_ONLY="percall offline" BENCH_RESULTS=$out BUILD=$BUILD bench/run.sh \
	>"$out/log" 2>&1
rc=$?
fail=0
check() { # description pattern
	if grep -qE "$2" "$out/latest.md" 2>/dev/null; then
		echo "ok: $1"
	else
		echo "FAIL: $1 (no line matching '$2')"
		fail=1
	fi
}
[ $rc -eq 0 ] && echo "ok: bench/run.sh exited 0" || { echo "FAIL: bench/run.sh exited $rc"; fail=1; }
check "regular-file write ratio with verdict" '^\| write\(\) on regular file, shim .* \| [0-9.]+ .*\| (PASS|\*\*MISS\*\*) \|$'
check "untracked-socket write ratio with verdict" '^\| write\(\) on untracked socket .* \| [0-9.]+ .*\| (PASS|\*\*MISS\*\*) \|$'
check "new-traceparent row measured" '^\| request, new traceparent \| [0-9]'
check "context change through the agent backend measured" '^\| context change through the agent backend .*\| [0-9.]+ .*µs vs [0-9.]+ .*µs; [0-9.]+'
check "offline events/s with verdict" '^\| offline decode .* \| [0-9,]+ .*\| (PASS|\*\*MISS\*\*) \|$'
check "machine and load recorded" 'CPUs, .*Load average'
if [ $fail -ne 0 ]; then
	sed 's/^/    log | /' "$out/log" | tail -30
	exit 1
fi
