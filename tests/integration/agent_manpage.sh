#!/usr/bin/env bash
# agent_manpage.sh - cltagent's --help (made from its option table) and
# the man page agent/cltagent.8 document the same options: every option
# --help lists has its own entry in the man page's OPTIONS section, the
# section has no entry for an option the agent does not have, and no
# long option the man page mentions anywhere is unknown to the agent.
set -u
top=${CLT_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/lib/harness.sh"
build=${BUILD:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
agent=$build/cltagent
man=$top/agent/cltagent.8
[ -x "$agent" ] || fail "$agent not built"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# "  -s, --source SPEC   ..." and "      --idle-timeout D   ...": the option lines.
"$agent" --help >"$tmp/help" || fail "cltagent --help exited $?"
sed -n 's/^  \(-[a-zA-Z], \|    \)--\([a-z][a-z-]*\).*/\2/p' "$tmp/help" | sort >"$tmp/help.opts"
# Short names too: "-s source".
sed -n 's/^  -\([a-zA-Z]\), --\([a-z][a-z-]*\).*/\1 \2/p' "$tmp/help" | sort >"$tmp/help.short"

# The man page: in OPTIONS, the line after each .TP is an entry's heading.
# Roff writes a dash as \- : "\-\-idle\-timeout" is --idle-timeout.
long_opts() { grep -o '\\-\\-[a-z]\([a-z]\|\\-\)*' | sed 's/\\-/-/g; s/^--//'; }
sed -n '/^\.SH OPTIONS/,/^\.SH /p' "$man" | awk 'tp {print; tp = 0} /^\.TP/ {tp = 1}' >"$tmp/headings"
long_opts <"$tmp/headings" | sort >"$tmp/man.opts"
# Short names: '\-s ", " \-\-source' is "-s, --source".
grep -o '\\-[a-zA-Z] ", " \\-\\-[a-z]\([a-z]\|\\-\)*' "$tmp/headings" |
	sed 's/\\-/-/g; s/^-\(.\) ", " --/\1 /' | sort >"$tmp/man.short"
long_opts <"$man" | sort -u >"$tmp/man.all"

n=$(wc -l <"$tmp/help.opts")
[ "$n" -ge 30 ] || { echo "FAIL: only $n options found in --help:"; cat "$tmp/help"; exit 1; }
if ! diff -u --label 'cltagent --help' --label 'cltagent.8 OPTIONS entries' \
	"$tmp/help.opts" "$tmp/man.opts"; then
	echo "FAIL: --help and the man page's OPTIONS entries differ (above: - only in --help, + only in the man page, or listed twice)"
	fails=$((fails + 1))
fi
if ! diff -u --label 'cltagent --help short names' --label 'cltagent.8 short names' \
	"$tmp/help.short" "$tmp/man.short"; then
	echo "FAIL: short option names differ"
	fails=$((fails + 1))
fi
extra=$(comm -13 "$tmp/help.opts" "$tmp/man.all")
if [ -n "$extra" ]; then
	echo "FAIL: the man page mentions options cltagent does not have: $extra"
	fails=$((fails + 1))
fi
[ "$fails" -eq 0 ] && echo "ok   - $n options, each in --help and in the man page once"
summary
