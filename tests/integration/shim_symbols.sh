#!/usr/bin/env bash
# shim_symbols.sh - no call from libclt can land in one of the shim's own
# interposers, by construction: libclt's objects (lib/sys.o aside, the
# default system-call table the shim's link leaves out) reference none of
# the names libcltshim.so exports, and the built shim has no PLT or GOT
# relocation (a call) against any of them: each would resolve to the shim
# itself. (Address-of entries, e.g. the table of replacements deepbind.c
# writes into RTLD_DEEPBIND libraries, are meant to.) libclt's table is
# not exported.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/harness.sh
BUILD=${BUILD:-build}
SO=$BUILD/libcltshim.so
for t in nm readelf; do command -v $t >/dev/null || skip "$t (binutils) not installed"; done
[ -f "$SO" ] && [ -f "$BUILD/libclt.a" ] || fail "$SO or $BUILD/libclt.a missing (make BUILD=$BUILD all)"

exported=$(nm -D --defined-only "$SO" | awk '{print $3}' | sort -u)
check "the shim exports its interposers ($(echo $exported | wc -w) symbols, close among them)" \
	grep -qx close <<<"$exported"
# Undefined references of every libclt object but sys.o.
refs=$(for o in $(ar t "$BUILD/libclt.a" | grep -vx sys.o); do
	ar p "$BUILD/libclt.a" "$o" >"${TMPDIR:-/tmp}/shim_symbols.$$.o"
	nm -u "${TMPDIR:-/tmp}/shim_symbols.$$.o" | awk '{print $2}'
done | sed 's/@.*//' | sort -u)
rm -f "${TMPDIR:-/tmp}/shim_symbols.$$.o"
both=$(comm -12 <(echo "$exported") <(echo "$refs") | paste -sd' ')
check "libclt's objects call none of the interposed functions directly (${both:-none})" [ -z "$both" ]
relocs=$(readelf -rW "$SO" | awk '$3 ~ /JUMP_SLO|GLOB_DAT/ {print $5}' | sed 's/@.*//' | sort -u)
both=$(comm -12 <(echo "$exported") <(echo "$relocs") | paste -sd' ')
check "no call of the shim (PLT/GOT relocation) resolves to one of its own interposers (${both:-none})" [ -z "$both" ]
check "libclt's system-call table is not exported" bash -c "! nm -D '$SO' | grep -qw clt_sys"
summary
