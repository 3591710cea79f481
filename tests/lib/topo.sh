# topo.sh - network-namespace topologies with IOAM, shared by the tests,
# the demo and the benchmarks. Source it from bash.
#
#   topo_require_root           exit 77 (skip, loudly) unless root with netns support
#   topo_single NAME            one host; IOAM on lo, so traffic to ::1 is traced
#   topo_three PREFIX           client -- router -- server (see below)
#   topo_cleanup                delete every namespace this shell created
#                               (installed as an EXIT trap by the builders)
#
# Three-host layout (IOAM namespace $TOPO_IOAM_NS, default 123):
#   ${PREFIX}c  client  fd00:1::1/64  node id 1   veth c0
#   ${PREFIX}r  router  fd00:1::2/64 (r0, IOAM ingress, if id 21)
#                       fd00:2::1/64 (r1, if id 22)   node id 2, forwarding
#   ${PREFIX}s  server  fd00:2::2/64  node id 3   (s0, IOAM ingress, if id 31)
# Names are exported as TOPO_C, TOPO_R, TOPO_S; addresses as TOPO_C_ADDR,
# TOPO_S_ADDR. Namespace names must be unique on the machine: use a prefix
# with the test's PID in it (e.g. "t$$").

TOPO_IOAM_NS=${TOPO_IOAM_NS:-123}
TOPO_NAMESPACES=()

topo_require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: $(basename "$0") needs root (network namespaces, IOAM sysctls); run 'sudo make check'"
		exit 77
	fi
	if ! ip netns add "clt-probe-$$" 2>/dev/null; then
		echo "SKIP: $(basename "$0"): cannot create network namespaces here"
		exit 77
	fi
	ip netns del "clt-probe-$$"
	if [ ! -e /proc/sys/net/ipv6/ioam6_id ]; then
		echo "SKIP: $(basename "$0"): this kernel has no IOAM6 support (net.ipv6.ioam6_id missing)"
		exit 77
	fi
	# IOAM events (the ioam6_events netlink group) arrived in Linux 6.9.
	local rel major minor
	rel=$(uname -r)
	major=${rel%%.*}
	minor=${rel#*.}
	minor=${minor%%[!0-9]*}
	if [ "$major" -lt 6 ] || { [ "$major" -eq 6 ] && [ "${minor:-0}" -lt 9 ]; }; then
		echo "SKIP: $(basename "$0"): needs Linux >= 6.9 for IOAM events; this is $rel"
		exit 77
	fi
}

topo_cleanup() {
	local ns
	for ns in "${TOPO_NAMESPACES[@]}"; do
		# Kill anything still running inside, then the namespace.
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	TOPO_NAMESPACES=()
}

topo_add_ns() { # name node-id
	ip netns del "$1" 2>/dev/null
	ip netns add "$1" || return 1
	TOPO_NAMESPACES+=("$1")
	trap topo_cleanup EXIT
	ip -n "$1" link set lo up
	ip netns exec "$1" sysctl -qw net.ipv6.ioam6_id="$2" net.ipv6.conf.all.accept_dad=0 \
		net.ipv6.conf.default.accept_dad=0 >/dev/null
	ip netns exec "$1" ip ioam namespace add "$TOPO_IOAM_NS" >/dev/null
}

topo_ioam_if() { # ns ifname if-id enabled(0/1)
	ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.ioam6_id=$3" "net.ipv6.conf.$2.ioam6_enabled=$4"
}

topo_single() { # name
	topo_add_ns "$1" 1 || return 1
	topo_ioam_if "$1" lo 1 1
	TOPO_S=$1
	export TOPO_S
}

topo_three() { # prefix
	local p=$1
	TOPO_C=${p}c TOPO_R=${p}r TOPO_S=${p}s
	TOPO_C_ADDR=fd00:1::1 TOPO_S_ADDR=fd00:2::2
	export TOPO_C TOPO_R TOPO_S TOPO_C_ADDR TOPO_S_ADDR
	topo_add_ns "$TOPO_C" 1 && topo_add_ns "$TOPO_R" 2 && topo_add_ns "$TOPO_S" 3 || return 1
	ip link add "${p}c0" netns "$TOPO_C" type veth peer name "${p}r0" netns "$TOPO_R" || return 1
	ip link add "${p}r1" netns "$TOPO_R" type veth peer name "${p}s0" netns "$TOPO_S" || return 1
	ip -n "$TOPO_C" link set "${p}c0" name c0
	ip -n "$TOPO_R" link set "${p}r0" name r0
	ip -n "$TOPO_R" link set "${p}r1" name r1
	ip -n "$TOPO_S" link set "${p}s0" name s0
	ip netns exec "$TOPO_R" sysctl -qw net.ipv6.conf.all.forwarding=1
	ip -n "$TOPO_C" addr add fd00:1::1/64 dev c0 nodad
	ip -n "$TOPO_R" addr add fd00:1::2/64 dev r0 nodad
	ip -n "$TOPO_R" addr add fd00:2::1/64 dev r1 nodad
	ip -n "$TOPO_S" addr add fd00:2::2/64 dev s0 nodad
	ip -n "$TOPO_C" link set c0 up
	ip -n "$TOPO_R" link set r0 up
	ip -n "$TOPO_R" link set r1 up
	ip -n "$TOPO_S" link set s0 up
	ip -n "$TOPO_C" -6 route add fd00:2::/64 via fd00:1::2
	ip -n "$TOPO_S" -6 route add fd00:1::/64 via fd00:2::1
	topo_ioam_if "$TOPO_C" c0 11 0
	topo_ioam_if "$TOPO_R" r0 21 1
	topo_ioam_if "$TOPO_R" r1 22 0
	topo_ioam_if "$TOPO_S" s0 31 1
	# Wait until the client reaches the server (neighbour discovery).
	local i
	for i in $(seq 1 50); do
		ip netns exec "$TOPO_C" ping -6 -c1 -W1 -q "$TOPO_S_ADDR" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "topo_three: client cannot reach server" >&2
	return 1
}

# Wait until a TCP port listens in a namespace: topo_wait_port NS PORT [SECONDS]
topo_wait_port() {
	local i n=$(( ${3:-10} * 10 ))
	for i in $(seq 1 "$n"); do
		ip netns exec "$1" ss -Hltn "sport = :$2" 2>/dev/null | grep -q . && return 0
		sleep 0.1
	done
	echo "topo_wait_port: nothing listens on port $2 in $1" >&2
	return 1
}

# Wait until FILE's line count has held still for 0.5 s and is at least MIN
# (default 0), at most SECONDS (default 10): readers of kernel events lag
# the kernel, and a fixed sleep is outrun on a loaded machine.
# topo_wait_settled FILE [MIN] [SECONDS]
topo_wait_settled() {
	local i last=-1 now same=0
	for i in $(seq 1 $(( ${3:-10} * 10 ))); do
		now=$(wc -l <"$1")
		if [ "$now" = "$last" ] && [ "$now" -ge "${2:-0}" ]; then
			same=$((same + 1))
			[ $same -ge 5 ] && return 0
		else
			same=0
			last=$now
		fi
		sleep 0.1
	done
	return 1
}
