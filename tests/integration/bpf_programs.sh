#!/usr/bin/env bash
# bpf_programs.sh - the real-program checks on the bpf backend: curl,
# Python keep-alive, wrk and nginx's upstream reuse (tests/integration/
# e2e_*.sh) with E2E_BACKEND=bpf: a cltagent --bpf in the client namespace
# tags them, and each request's IDs are in the kernel's IOAM events and
# the agent's spans, as those tests check.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
rc=0 ran=0
for t in e2e_curl e2e_python e2e_wrk e2e_nginx; do
	out=$(E2E_BACKEND=bpf bash "tests/integration/$t.sh" 2>&1)
	r=$?
	echo "$out" | sed "s/^/$t| /" | tail -${BPF_PROGRAMS_TAIL:-6}
	tagged=$(echo "$out" | sed -n 's/.*bpf tagged=\([0-9]*\) .*/\1/p' | tail -1)
	[ $r -eq 0 ] && [ "${tagged:-0}" -eq 0 ] && { echo "FAIL - $t: the program tagged no packet"; r=1; }
	case $r in
	0) echo "ok   - $t on bpf ($tagged packets tagged by the program)"; ran=$((ran + 1)) ;;
	77) echo "# skip - $t: $(echo "$out" | grep -m1 SKIP)" ;;
	*) echo "FAIL - $t on bpf (exit $r)"; rc=1 ;;
	esac
done
[ $rc -eq 0 ] && [ $ran -gt 0 ] && echo "PASS ($ran programs)" || { echo "FAILED"; exit 1; }
