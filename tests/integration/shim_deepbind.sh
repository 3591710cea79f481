#!/usr/bin/env bash
# shim_deepbind.sh - a library loaded with RTLD_DEEPBIND (as PHP loads its
# extensions) binds send/write/connect to libc ahead of LD_PRELOAD; the
# shim must rebind them: requests made from inside the library, through a
# PLT call, a GOT load and a static table, carry their traceparent's IDs in
# the kernel's IOAM events, for a lazily bound and a full-RELRO build of
# the library, while what the library binds for everything else (its own
# definitions first) and everything the program prints stay the same.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/shim_common.sh
case "${SHIM_PRELOAD:-}" in *libasan*)
	echo "SKIP: the ASan runtime aborts any dlopen with RTLD_DEEPBIND (sanitizer_common's CheckNoDeepBind); test_shim_deepbind covers the rebinding under ASan"
	exit 77 ;;
esac
PROBE=$PWD/$BUILD/tests/tools/deepbind_probe
LIBDIR=$PWD/$BUILD/tests/lib
for f in "$PROBE" "$LIBDIR/deepbind_lib_lazy.so" "$LIBDIR/deepbind_lib_now.so"; do
	[ -e "$f" ] || { echo "FAIL: $f missing (make BUILD=$BUILD tests)"; exit 1; }
done
check "the full-RELRO build binds now" bash -c "readelf -d '$LIBDIR/deepbind_lib_now.so' | grep -q 'FLAGS.*BIND_NOW'"
check "the lazy build binds lazily" bash -c "! readelf -d '$LIBDIR/deepbind_lib_lazy.so' | grep -q 'BIND_NOW\|FLAGS_1.*NOW'"
shim_setup "sd$$"

ids() { # n -> "TRACE SPAN" of request n
	printf '%032x %016x\n' $((0x5eed0000 + $1 * 7919)) $((0xd0000 + $1))
}
for mode in lazy now; do
	args=() want=()
	for how in 0 1 2; do
		read -r t s < <(ids $((how + 10 * ${#mode})))
		args+=("00-$t-$s-01:$how")
		want+=("$t $s")
	done
	lib=$LIBDIR/deepbind_lib_$mode.so
	nsx "$PROBE" "$lib" "$mode" "$SHIM_PORT" "${args[@]}" >"$TMP/plain.$mode" 2>&1
	check "$mode: the probe works without the shim" [ $? -eq 0 ]
	events_start "$TMP/ev.$mode"
	CLT_LOG=debug CLT_LOG_FILE=$TMP/log.$mode under_shim "$PROBE" "$lib" "$mode" "$SHIM_PORT" \
		"${args[@]}" >"$TMP/shim.$mode" 2>&1
	rc=$?
	events_stop
	sed 's/^/# /' "$TMP/shim.$mode"
	check "$mode: the probe works under the shim" [ $rc -eq 0 ]
	check "$mode: output identical to the run without the shim" cmp -s "$TMP/plain.$mode" "$TMP/shim.$mode"
	check "$mode: the library's own definitions still win (deepbind_whoami, dup3)" \
		grep -q "library binds deepbind_whoami to the library's" "$TMP/shim.$mode"
	check "$mode: its dup3 still returns its own -42" grep -q "dup3 returns -42" "$TMP/shim.$mode"
	grep 'deepbind' "$TMP/log.$mode" | sed 's/^/# log: /'
	check "$mode: the shim's debug log names the rebound library" \
		grep -q "deepbind: $lib: [0-9]* call sites" "$TMP/log.$mode"
	total=0
	for how in 0 1 2; do
		read -r t s <<<"${want[$how]}"
		n=$(events_with "$t" "$s")
		total=$((total + n))
		check "$mode: request via $(echo 'send-GOT write-PLT send-table' | cut -d' ' -f$((how + 1))) tagged with its IDs ($n events)" [ "$n" -ge 1 ]
	done
	check "$mode: every event carries the IDs of its own request ($total of $(events_all))" [ "$total" -eq "$(events_all)" ]
done

# glibc resolves a bare name along the caller's RUNPATH: the shim's dlopen must keep the caller.
nsx "$PROBE" -n deepbind_lib_now.so >"$TMP/plain.n" 2>&1
under_shim "$PROBE" -n deepbind_lib_now.so >"$TMP/shim.n" 2>&1
rc=$?
sed 's/^/# /' "$TMP/shim.n"
check "a bare name is found along the caller's RUNPATH under the shim" [ $rc -eq 0 ]
check "... with and without RTLD_DEEPBIND, as without the shim" cmp -s "$TMP/plain.n" "$TMP/shim.n"
out=$(CLT_LOG=info under_shim "$PROBE" -n deepbind_lib_now.so 2>&1 >/dev/null)
check "CLT_LOG=info says once that such a DEEPBIND load is not traced" \
	[ "$(grep -c 'RTLD_DEEPBIND): a name resolved from the caller' <<<"$out")" -eq 1 ]

[ $fails -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all checks passed"
