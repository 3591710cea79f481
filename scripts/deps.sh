#!/bin/sh
# deps.sh PROFILE... - make sure the Debian packages a step needs are
# installed. As root, missing ones are installed with apt-get; otherwise the
# script says exactly what to install and fails.
# Profiles: build, test, demo, bench.
set -eu

pkgs_build="gcc make pkg-config libnl-genl-3-dev libnl-3-dev libjson-c-dev libcurl4-openssl-dev libpcap-dev libunwind-dev libmicrohttpd-dev clang libbpf-dev"
pkgs_test="$pkgs_build iputils-ping libcmocka-dev clang libclang-rt-14-dev iproute2 curl python3 tcpdump nginx-light wrk nodejs npm procps chromium openssl libssl-dev libgnutls28-dev gnutls-bin wget php-cli php-curl default-jdk-headless tcl perl"
pkgs_demo="$pkgs_build iputils-ping iproute2 curl python3 nodejs npm nginx-light procps"
pkgs_bench="$pkgs_test valgrind"

want=""
for profile in "$@"; do
	eval "list=\${pkgs_$profile:-}"
	[ -n "$list" ] || { echo "deps.sh: unknown profile '$profile'" >&2; exit 2; }
	want="$want $list"
done

missing=""
for p in $want; do
	case " $missing " in *" $p "*) continue ;; esac
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		# A program may already be there from another source (e.g. node).
		case "$p" in
		nodejs) command -v node >/dev/null 2>&1 && continue ;;
		npm) command -v npm >/dev/null 2>&1 && continue ;;
		python3) command -v python3 >/dev/null 2>&1 && continue ;;
		esac
		missing="$missing $p"
	fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "clt: missing Debian packages:$missing" >&2
	echo "clt: install them with: sudo apt-get install$missing" >&2
	exit 1
fi
echo "clt: installing missing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends $missing >/dev/null; then
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
