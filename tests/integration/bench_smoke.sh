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
source tests/lib/harness.sh
row() { # description pattern: a line of the report matches
	check "$1 (a line matching '$2')" grep -qE "$2" "$out/latest.md"
}
check "bench/run.sh exited 0 (rc=$rc)" [ $rc -eq 0 ]
row "regular-file write ratio with verdict" '^\| write\(\) on regular file, shim .* \| [0-9.]+ .*\| (PASS|\*\*MISS\*\*) \|$'
row "untracked-socket write ratio with verdict" '^\| write\(\) on untracked socket .* \| [0-9.]+ .*\| (PASS|\*\*MISS\*\*) \|$'
row "regular-file read ratio with verdict" '^\| read\(\) on regular file, shim .* \| [0-9.]+ .*\| (PASS|\*\*MISS\*\*) \|$'
row "untracked-socket read ratio with verdict" '^\| read\(\) on untracked socket, shim .* \| [0-9.]+ .*\| (PASS|\*\*MISS\*\*) \|$'
row "new-traceparent row measured" '^\| request, new traceparent \| [0-9]'
row "context change through the agent backend measured" '^\| context change through the agent backend .*\| [0-9.]+ .*µs vs [0-9.]+ .*µs; [0-9.]+'
row "offline events/s with verdict" '^\| offline decode .* \| [0-9,]+ .*\| (PASS|\*\*MISS\*\*) \|$'
row "machine and load recorded" 'CPUs, .*Load average'
if [ "$fails" -ne 0 ]; then
	sed 's/^/    log | /' "$out/log" | tail -30
	exit 1
fi
