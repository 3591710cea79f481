#!/usr/bin/env bash
# shim_asan.sh - the shim built with AddressSanitizer + UBSan, preloaded
# (after libasan) into curl and Python: the keep-alive, upload, non-HTTP,
# threaded and fork/exec cases must pass and no sanitizer report appear.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/harness.sh
BUILD=${BUILD:-build}
ASAN_BUILD=$BUILD/asan-shim
if ! make --no-print-directory SANITIZE=1 BUILD="$ASAN_BUILD" "$ASAN_BUILD/libcltshim.so" >/dev/null; then
	echo "FAIL: cannot build the sanitizer shim"
	exit 1
fi
LIBASAN=$(gcc -print-file-name=libasan.so)
[ -e "$LIBASAN" ] || { echo "SKIP: no libasan.so for this gcc"; exit 77; }
. tests/lib/stage.sh
LOGDIR=$(mktemp -d)
trap 'rm -rf "$LOGDIR"; stage_cleanup' EXIT
# Staged: LD_PRELOAD splits at spaces (tests/lib/stage.sh).
ASAN_SHIM=$(stage_file "$ASAN_BUILD/libcltshim.so" libcltshim-asan.so) ||
	{ echo "FAIL: cannot stage the sanitizer shim"; exit 1; }
export SHIM_PRELOAD="$LIBASAN $ASAN_SHIM"
export ASAN_OPTIONS="detect_leaks=0:log_path=$LOGDIR/asan"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$LOGDIR/ubsan"
for t in shim_keepalive shim_transparency; do
	echo "# $t with the sanitizer shim"
	SHIM_UPLOAD_MB=4 SHIM_THREADS=8 SHIM_PER_THREAD=4 bash "tests/integration/$t.sh" 2>&1 |
		grep -v 'Killed' | sed 's/^/    /'
	rc=${PIPESTATUS[0]}
	check "$t passes under ASan (exit $rc)" [ "$rc" -eq 0 ]
done
reports=$(ls "$LOGDIR" | wc -l)
for f in "$LOGDIR"/*; do [ -e "$f" ] && sed 's/^/    | /' "$f" | head -40; done
check "no sanitizer report ($reports)" [ "$reports" -eq 0 ]
summary
