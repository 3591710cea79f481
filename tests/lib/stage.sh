# stage.sh - a place for what a test hands to LD_PRELOAD or runs as another
# user, wherever the checkout is. A clone in root's 0700 home cannot be read
# by nobody or www-data, and LD_PRELOAD splits its value at spaces and
# colons, so a shim under "/home/me/my projects" cannot be preloaded at all.
# The files are copied into one directory of the test run's own under /tmp
# (mode 0755, a name without spaces); the user's folders keep their modes.
# Source it from bash.
#
#   stage_init            make $CLT_STAGE unless the caller (tests/run.sh) did
#   stage_file SRC [NAME] copy SRC into $CLT_STAGE, print the copy's path
#   stage_shim            the shim of $BUILD staged once: sets $SHIM (and
#                         exports CLT_TEST_SHIM for the test's children)
#   stage_cleanup         remove $CLT_STAGE if this shell made it

stage_init() {
	if [ -n "${CLT_STAGE:-}" ] && [ -d "$CLT_STAGE" ]; then
		return 0
	fi
	CLT_STAGE=$(mktemp -d "${TMPDIR:-/tmp}/clt-stage.XXXXXX") || return 1
	case $CLT_STAGE in *[[:space:]:]*)
		rm -rf "$CLT_STAGE"
		CLT_STAGE=$(mktemp -d /tmp/clt-stage.XXXXXX) || return 1 ;;
	esac
	chmod 0755 "$CLT_STAGE"
	STAGE_OWNED=1
	export CLT_STAGE
}

stage_file() { # src [name]
	local dst
	stage_init || return 1
	dst=$CLT_STAGE/${2:-$(basename "$1")}
	cp -f "$1" "$dst" && chmod a+rX "$dst" && printf '%s\n' "$dst"
}

stage_shim() {
	local top=${CLT_TOP:-$PWD} build=${BUILD:-build}
	case $build in /*) ;; *) build=$top/$build ;; esac
	if [ -n "${CLT_TEST_SHIM:-}" ] && [ -f "$CLT_TEST_SHIM" ]; then
		SHIM=$CLT_TEST_SHIM
		return 0
	fi
	[ -f "$build/libcltshim.so" ] || return 1
	SHIM=$(stage_file "$build/libcltshim.so") || return 1
	CLT_TEST_SHIM=$SHIM
	export CLT_TEST_SHIM
}

stage_cleanup() {
	if [ -n "${STAGE_OWNED:-}" ] && [ -n "${CLT_STAGE:-}" ]; then
		rm -rf "$CLT_STAGE"
		unset STAGE_OWNED CLT_STAGE CLT_TEST_SHIM
	fi
}
