#!/usr/bin/env bash
# shim_php.sh - PHP's curl extension under libcltshim.so. PHP loads its
# extensions with RTLD_DEEPBIND, so libcurl binds its socket calls to libc
# ahead of LD_PRELOAD unless the shim rebinds them: two curl_exec requests
# with different traceparents must each carry their own IDs in the
# kernel's IOAM events, and PHP must print what it prints without the shim.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/shim_common.sh
case "${SHIM_PRELOAD:-}" in *libasan*)
	echo "SKIP: PHP loads its extensions with RTLD_DEEPBIND, which the ASan runtime aborts (sanitizer_common's CheckNoDeepBind); test_shim_deepbind covers the rebinding under ASan"
	exit 77 ;;
esac
command -v php >/dev/null 2>&1 || { echo "SKIP: php not installed (scripts/deps.sh test installs php-cli)"; exit 77; }
php -m 2>/dev/null | grep -qx curl || { echo "SKIP: PHP has no curl extension (scripts/deps.sh test installs php-curl)"; exit 77; }
shim_setup "sp$$"

T1=0af7651916cd43dd8448eb211c80319c S1=b7ad6b7169203331
T2=4bf92f3577b34da6a3ce929d0e0e4736 S2=00f067aa0ba902b7
cat >"$TMP/req.php" <<'PHP'
<?php
// One connection per request: each carries its own IDs.
foreach (array_slice($argv, 2) as $i => $tp) {
	$c = curl_init("http://[::1]:" . $argv[1] . "/php" . $i);
	curl_setopt_array($c, [CURLOPT_HTTPHEADER => ["traceparent: $tp"], CURLOPT_RETURNTRANSFER => true,
		CURLOPT_FORBID_REUSE => true, CURLOPT_TIMEOUT => 20]);
	$body = curl_exec($c);
	printf("request %d: HTTP %d, body %s\n", $i + 1, curl_getinfo($c, CURLINFO_RESPONSE_CODE),
		var_export($body, true));
	curl_close($c);
}
PHP
# PHP as installed: every extension its configuration loads, each with RTLD_DEEPBIND.
run_php() { "$@" php "$TMP/req.php" "$SHIM_PORT" "00-$T1-$S1-01" "00-$T2-$S2-01"; }

run_php nsx >"$TMP/plain" 2>&1
check "PHP's curl_exec works without the shim" [ $? -eq 0 ]
events_start "$TMP/ev"
run_php under_shim >"$TMP/shim" 2>&1
rc=$?
events_stop
sed 's/^/# /' "$TMP/shim"
check "PHP's curl_exec works under the shim" [ $rc -eq 0 ]
check "output identical to the run without the shim" cmp -s "$TMP/plain" "$TMP/shim"
n1=$(events_with $T1 $S1) n2=$(events_with $T2 $S2)
check "request 1 tagged with its IDs ($n1 events)" [ "$n1" -ge 1 ]
check "request 2 tagged with its IDs ($n2 events)" [ "$n2" -ge 1 ]
check "every event carries the IDs of its own request ($((n1 + n2)) of $(events_all))" \
	[ $((n1 + n2)) -eq "$(events_all)" ]

[ $fails -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all checks passed"
