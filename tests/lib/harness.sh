# harness.sh - the one dialect of the shell tests: checks that count,
# fatal failures, skips and the closing line. Sourced by every test, first
# or through tests/lib/shim_common.sh, agent_helpers.sh or tests/lib/e2e.sh.
# tests/run.sh reads the exit status: 0 pass, 77 skip, anything else fail.
#
#   check WHAT CMD...   run CMD: "ok   - WHAT" or "FAIL - WHAT" (counted in $fails)
#   fail MSG...         "FAIL: MSG" and exit 1 (nothing sensible can follow)
#   skip MSG...         "SKIP: MSG" and exit 77
#   summary             "all checks passed" (exit 0) or "N check(s) failed" (exit 1)

[ -n "${HARNESS_LOADED:-}" ] && return 0
HARNESS_LOADED=1
fails=${fails:-0}

check() {
	local what=$1
	shift
	if "$@"; then echo "ok   - $what"; else echo "FAIL - $what"; fails=$((fails + 1)); fi
}

fail() {
	echo "FAIL: $*"
	exit 1
}

skip() {
	echo "SKIP: $*"
	exit 77
}

# Older names of fail, kept so that a test written against them still stops
# (an unknown command would only print an error and go on).
ag_fail() { fail "$@"; }
e2e_fail() { fail "$@"; }

summary() {
	if [ "$fails" -ne 0 ]; then
		echo "$fails check(s) failed"
		exit 1
	fi
	echo "all checks passed"
	exit 0
}
