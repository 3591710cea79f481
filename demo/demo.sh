#!/usr/bin/env bash
# demo.sh - the CLT login demo in network namespaces (see README, "The demo").
#
#   demo.sh run     set up, log in, congest the router, print the traces, tear down
#   demo.sh up      set up and keep running for a browser (demo.sh down stops it)
#   demo.sh down    stop everything an earlier run or "up" left behind
#
# Topology (IOAM namespace 123; node ids and interface ids as in the original demo):
#
#   client ──── athos ──────── porthos ──────── aramis
#   db00::2  db00::1 db01::1   db01::2 db02::1   db02::2
#    eth0      eth1   eth0      eth0    eth1      eth0
#             node 1           node 2            node 3
#                              IOAM on eth0      IOAM on eth0
#
# athos runs under LD_PRELOAD=libcltshim.so: an OpenTelemetry-instrumented
# Node.js service (DEMO_ENTRY=node, the default), a plain nginx reverse
# proxy (DEMO_ENTRY=nginx) or a legacy Python service with no tracing code
# at all (DEMO_ENTRY=legacy: the shim makes its SERVER and CLIENT spans,
# CLT_TRACING=inject, and a cltagent beside it exports them). aramis is a login server with cltagent beside
# it. demo/collector.py gathers every span from inside the namespaces.
#
# Environment: BUILD (build dir, default build), DEMO_ENTRY (node|nginx|legacy),
# DEMO_OUT (output dir, default demo/out), DEMO_PREFIX (namespace prefix,
# default clt-), DEMO_SKIP_DEPS=1 / DEMO_SKIP_BUILD=1 (already done),
# DEMO_NO_UPSTREAM=1 (never forward to a collector found on localhost:4318),
# DEMO_BACKEND (unset: bpf for the node entry - a cltagent --bpf beside
# athos tags each request's own packets - else libclt's auto choice;
# empty: auto, hopopts as root).
set -u
cd "$(dirname "$0")/.." || exit 1
TOP=$PWD
BUILD=${BUILD:-build}
# make gets the build folder as given: a target path with spaces (a checkout
# under "/home/me/my projects") is more than make can name.
MAKE_BUILD=$BUILD
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
ENTRY=${DEMO_ENTRY:-node}
BACKEND=${DEMO_BACKEND-$([ "$ENTRY" = node ] && echo bpf)}
OUT=${DEMO_OUT:-$TOP/demo/out}
case $OUT in /*) ;; *) OUT=$TOP/$OUT ;; esac
P=${DEMO_PREFIX:-clt-}
NS_C=${P}client NS_A=${P}athos NS_P=${P}porthos NS_R=${P}aramis
# athos preloads a copy of the shim from here: LD_PRELOAD splits its value at
# spaces and colons, so the build folder itself may not be preloadable.
STAGE=/run/clt-demo-${P%-}
ALL_NS="$NS_C $NS_A $NS_P $NS_R"
ATHOS_PORT=15123
UI_PORT=15124
ATHOS_ADDR=db00::1
ARAMIS_ADDR=db02::2
CLT_DOMAIN_DEMO=db01::/16,db02::/16
NODE_NAMES="--node-name 1=athos --node-name 2=porthos --node-name 3=aramis"
LOGIN_URL="http://[$ATHOS_ADDR]:$ATHOS_PORT/api/login"
ATHOS_WHAT="Node.js + OpenTelemetry SDK"
[ "${DEMO_ENTRY:-node}" = nginx ] && ATHOS_WHAT="nginx, no OpenTelemetry"
[ "${DEMO_ENTRY:-node}" = legacy ] && ATHOS_WHAT="legacy Python, no tracing code; CLT_TRACING=inject"
SUBTITLE="client → athos (IOAM node 1; $ATHOS_WHAT; under libcltshim.so) → porthos (node 2, router) → aramis (node 3, login server + cltagent)"

# shellcheck source=tests/lib/topo.sh
. "$TOP/tests/lib/topo.sh"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

# Stop what an earlier run left: our own processes by pid file, then
# anything still inside our namespaces, then the namespaces.
demo_down() {
	local f pid ns pids=()
	for f in "$OUT"/pids/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		case $pid in '' | *[!0-9]*) ;; *) kill "$pid" 2>/dev/null && pids+=("$pid") ;; esac
		rm -f "$f"
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 1 30); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
	done
	for ns in $ALL_NS; do
		[ -e "/run/netns/$ns" ] || continue
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
		sleep 0.2
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$STAGE"
}

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "demo: needs root (network namespaces, IOAM sysctls, CAP_NET_RAW for the shim): run 'sudo make demo'" >&2
		exit 77
	fi
	topo_require_root >/dev/null || exit $?
}

prepare() {
	if [ -z "${DEMO_SKIP_DEPS:-}" ]; then
		say "checking dependencies (scripts/deps.sh demo)"
		scripts/deps.sh demo || die "missing dependencies"
		if [ "$ENTRY" = node ] && [ ! -d demo/athos/node_modules/@opentelemetry/sdk-trace-node ]; then
			say "installing the OpenTelemetry SDK for athos (npm ci)"
			(cd demo/athos && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
		fi
	fi
	if [ -z "${DEMO_SKIP_BUILD:-}" ]; then
		say "building (make all)"
		make --no-print-directory BUILD="$MAKE_BUILD" all >"$OUT/logs/build.log" 2>&1 ||
			{ tail -20 "$OUT/logs/build.log"; die "build failed (log: $OUT/logs/build.log)"; }
	fi
	[ -f "$BUILD/libcltshim.so" ] || die "$BUILD/libcltshim.so is missing"
	[ -x "$BUILD/cltagent" ] || die "$BUILD/cltagent is missing"
	mkdir -p -m 0755 "$STAGE" && cp -f "$BUILD/libcltshim.so" "$STAGE/libcltshim.so" ||
		die "cannot copy the shim into $STAGE"
}

topology() {
	say "topology: $NS_C -- $NS_A (node 1) -- $NS_P (node 2, router) -- $NS_R (node 3)"
	topo_add_ns "$NS_C" 0 && topo_add_ns "$NS_A" 1 && topo_add_ns "$NS_P" 2 &&
		topo_add_ns "$NS_R" 3 || die "cannot create namespaces"
	# Each link is created directly between two namespaces: no root-namespace names.
	ip -n "$NS_A" link add eth1 type veth peer name eth0 netns "$NS_C" &&
		ip -n "$NS_A" link add eth0 type veth peer name eth0 netns "$NS_P" &&
		ip -n "$NS_P" link add eth1 type veth peer name eth0 netns "$NS_R" ||
		die "cannot create links"
	ip -n "$NS_C" addr add db00::2/64 dev eth0 nodad
	ip -n "$NS_A" addr add db00::1/64 dev eth1 nodad
	ip -n "$NS_A" addr add db01::1/64 dev eth0 nodad
	ip -n "$NS_P" addr add db01::2/64 dev eth0 nodad
	ip -n "$NS_P" addr add db02::1/64 dev eth1 nodad
	ip -n "$NS_R" addr add db02::2/64 dev eth0 nodad
	local ns dev
	for ns in "$NS_C:eth0" "$NS_A:eth0" "$NS_A:eth1" "$NS_P:eth0" "$NS_P:eth1" "$NS_R:eth0"; do
		dev=${ns#*:}
		ip -n "${ns%%:*}" link set "$dev" up
	done
	ip netns exec "$NS_P" sysctl -qw net.ipv6.conf.all.forwarding=1
	ip -n "$NS_A" -6 route add db02::/64 via db01::2
	ip -n "$NS_R" -6 route add db01::/64 via db02::1
	# IOAM: porthos and aramis fill the trace on their ingress from athos.
	# Both directions: athos's and porthos's ingress from aramis's side
	# carry the responses' IOAM (the return path).
	topo_ioam_if "$NS_A" eth0 11 1
	topo_ioam_if "$NS_A" eth1 12 0
	topo_ioam_if "$NS_P" eth0 21 1
	topo_ioam_if "$NS_P" eth1 22 1
	topo_ioam_if "$NS_R" eth0 31 1
	for _ in $(seq 1 50); do
		ip netns exec "$NS_A" ping -6 -c1 -W1 -q "$ARAMIS_ADDR" >/dev/null 2>&1 &&
			ip netns exec "$NS_C" ping -6 -c1 -W1 -q "$ATHOS_ADDR" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "athos cannot reach aramis"
}

# bg NAME NS CMD...: start CMD inside namespace NS (or "-" for here), log
# to logs/NAME.log, remember its pid. "ip netns exec" execs CMD, so the pid
# is CMD's own.
bg() {
	local name=$1 ns=$2
	shift 2
	if [ "$ns" = - ]; then
		"$@" >"$OUT/logs/$name.log" 2>&1 &
	else
		ip netns exec "$ns" "$@" >"$OUT/logs/$name.log" 2>&1 &
	fi
	echo $! >"$OUT/pids/$name.pid"
}

pid_of() { cat "$OUT/pids/$1.pid" 2>/dev/null; }

# stop NAME [SECONDS]: SIGTERM (programs flush on it), wait, then SIGKILL.
stop() {
	local pid
	pid=$(pid_of "$1") || return 0
	kill "$pid" 2>/dev/null || { rm -f "$OUT/pids/$1.pid"; return 0; }
	for _ in $(seq 1 $((${2:-10} * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$OUT/pids/$1.pid"
}

alive_or_die() {
	kill -0 "$(pid_of "$1")" 2>/dev/null && return 0
	sed 's/^/    | /' "$OUT/logs/$1.log" | tail -20
	die "$1 did not start (log: $OUT/logs/$1.log)"
}

nginx_conf() {
	mkdir -p "$OUT/nginx/tmp"
	cat >"$OUT/nginx/nginx.conf" <<EOF
# Generated by demo/demo.sh: athos as a plain reverse proxy. Paths are quoted:
# the checkout may be under a folder whose name has a space. No tracing in
# it; the client's traceparent header passes through, and the shim in the
# worker tags the upstream connection with it. Workers run as root because
# the sticky hop-by-hop option needs CAP_NET_RAW.
user root;
worker_processes 1;
daemon off;
pid "$OUT/nginx/nginx.pid";
error_log "$OUT/logs/nginx-error.log" notice;
events { worker_connections 256; }
http {
	access_log "$OUT/logs/nginx-access.log";
	client_body_temp_path "$OUT/nginx/tmp/body";
	proxy_temp_path "$OUT/nginx/tmp/proxy";
	fastcgi_temp_path "$OUT/nginx/tmp/fastcgi";
	uwsgi_temp_path "$OUT/nginx/tmp/uwsgi";
	scgi_temp_path "$OUT/nginx/tmp/scgi";
	default_type text/html;
	server {
		listen [::]:$ATHOS_PORT ipv6only=off;
		location = /api/login {
			proxy_pass http://[$ARAMIS_ADDR]:80/login;
			proxy_read_timeout 30s;
		}
		location / {
			root "$TOP/demo/athos";
			index app_login.html;
		}
	}
}
EOF
}

start_services() {
	local collector_ns="$NS_C $NS_A $NS_R" extra=() ns
	local args=(--out "$OUT/spans.jsonl" --phases "$OUT/phases.txt" --ready "$OUT/collector.ready"
		--subtitle "$SUBTITLE")
	for ns in $collector_ns; do args+=(--ns "$ns"); done
	[ -n "${DEMO_NO_UPSTREAM:-}" ] && args+=(--no-upstream)
	if [ "$1" = up ]; then
		extra=(--forward "$ATHOS_PORT=$NS_A:[::1]:$ATHOS_PORT" --ui-port "$UI_PORT")
	fi
	rm -f "$OUT/collector.ready"
	say "collector: OTLP/HTTP on [::1]:4318 inside $NS_C, $NS_A and $NS_R"
	bg collector - python3 -u demo/collector.py "${args[@]}" "${extra[@]}"
	for _ in $(seq 1 50); do
		[ -f "$OUT/collector.ready" ] && break
		kill -0 "$(pid_of collector)" 2>/dev/null || break
		sleep 0.1
	done
	alive_or_die collector
	sed 's/^collector: /    /' "$OUT/logs/collector.log" | grep -v listening

	# aramis under the shim too (no tracing code, CLT_TRACING off): its
	# responses carry each request's IDs with the response flag, so the
	# agent beside athos sees the way back hop by hop.
	say "aramis: login server on [$ARAMIS_ADDR]:80 under the shim (responses tagged, CLT_TAG_RESPONSES)"
	bg aramis "$NS_R" env LD_PRELOAD="$STAGE/libcltshim.so" CLT_DOMAIN="$CLT_DOMAIN_DEMO" \
		CLT_LOG=info python3 -u demo/aramis/server.py --port 80
	# A congested request's last packets (ACK, FIN) come a second after its
	# first: a longer idle timeout keeps them in the request's one span.
	# athos runs as root and tags its own sockets, so the agent serves no
	# tag socket (the machine-wide default path stays free).
	say "aramis: cltagent sidecar ($NODE_NAMES --idle-timeout 3s)"
	# shellcheck disable=SC2086
	bg agent "$NS_R" env OTEL_SERVICE_NAME=cltagent \
		OTEL_EXPORTER_OTLP_ENDPOINT="http://localhost:4318" \
		"$BUILD/cltagent" $NODE_NAMES --idle-timeout 3s --tag-socket none --output "$OUT/agent.jsonl"
	topo_wait_port "$NS_R" 80 10 || die "aramis did not start"

	local shim=(env LD_PRELOAD="$STAGE/libcltshim.so" CLT_DOMAIN="$CLT_DOMAIN_DEMO" CLT_LOG=info)
	if [ "$BACKEND" = bpf ]; then
		# The bpf backend: a second cltagent, beside athos, loads the tc
		# program on athos's interfaces and hands athos its slot array over
		# a private tag socket; each login's network span then covers its
		# own request packets, from athos's egress time on.
		say "athos: cltagent --bpf (tc egress program, tag socket $STAGE/tag.sock)"
		rm -f "$STAGE/tag.sock" "$OUT/athos-agent.ready"
		bg athos_agent "$NS_A" "$BUILD/cltagent" --bpf --tag-socket "$STAGE/tag.sock" \
			--output /dev/null --ready-file "$OUT/athos-agent.ready"
		for _ in $(seq 1 50); do
			[ -f "$OUT/athos-agent.ready" ] && break
			kill -0 "$(pid_of athos_agent)" 2>/dev/null || break
			sleep 0.1
		done
		alive_or_die athos_agent
		shim+=(CLT_BACKEND=bpf CLT_AGENT_SOCKET="$STAGE/tag.sock")
	elif [ -n "$BACKEND" ]; then
		shim+=(CLT_BACKEND="$BACKEND")
	fi
	if [ "$ENTRY" = legacy ]; then
		# No tracer in the service: the shim makes its spans and hands them
		# to a cltagent beside it over a private tag socket; that agent
		# exports them to the collector inside athos, like Node's SDK does.
		say "athos: cltagent for the shim's spans (tag socket $STAGE/tag.sock)"
		rm -f "$STAGE/tag.sock" "$OUT/athos-agent.ready"
		# It also exports the network spans of aramis's responses arriving at athos.
		# shellcheck disable=SC2086
		bg athos_agent "$NS_A" env OTEL_SERVICE_NAME=cltagent \
			OTEL_EXPORTER_OTLP_ENDPOINT="http://localhost:4318" \
			"$BUILD/cltagent" $NODE_NAMES --idle-timeout 3s --tag-socket "$STAGE/tag.sock" \
			--batch-timeout 100ms --output "$OUT/athos-agent.jsonl" \
			--ready-file "$OUT/athos-agent.ready"
		for _ in $(seq 1 50); do
			[ -f "$OUT/athos-agent.ready" ] && break
			kill -0 "$(pid_of athos_agent)" 2>/dev/null || break
			sleep 0.1
		done
		alive_or_die athos_agent
		say "athos: legacy Python login API (no tracing code) under the shim, CLT_TRACING=inject"
		bg athos "$NS_A" "${shim[@]}" CLT_TRACING=inject CLT_AGENT_SOCKET="$STAGE/tag.sock" \
			OTEL_SERVICE_NAME=athos python3 -u "$TOP/demo/legacy/server.py" \
			--port "$ATHOS_PORT" --aramis "$ARAMIS_ADDR"
	elif [ "$ENTRY" = nginx ]; then
		say "athos: nginx reverse proxy (no OpenTelemetry) under the shim, CLT_DOMAIN=$CLT_DOMAIN_DEMO"
		nginx_conf
		bg athos "$NS_A" "${shim[@]}" nginx -c "$OUT/nginx/nginx.conf" -p "$OUT/nginx"
	else
		say "athos: Node.js + OpenTelemetry SDK under the shim, CLT_DOMAIN=$CLT_DOMAIN_DEMO"
		bg athos "$NS_A" "${shim[@]}" OTEL_SERVICE_NAME=athos \
			OTEL_EXPORTER_OTLP_ENDPOINT="http://[::1]:4318" ARAMIS_HOST="$ARAMIS_ADDR" \
			ATHOS_PORT=$ATHOS_PORT node --require "$TOP/demo/athos/tracing.js" \
			"$TOP/demo/athos/server.js"
	fi
	topo_wait_port "$NS_A" "$ATHOS_PORT" 15 || { cat "$OUT/logs/athos.log"; die "athos did not start"; }
	# The return path's spans: an agent on athos exports the network spans of
	# what arrives there (aramis's responses). The legacy entry's agent
	# beside athos does it already.
	if [ "$ENTRY" != legacy ]; then
		say "athos: cltagent for the responses arriving from aramis ($NODE_NAMES --idle-timeout 3s)"
		# shellcheck disable=SC2086
		bg athos_net "$NS_A" env OTEL_SERVICE_NAME=cltagent \
			OTEL_EXPORTER_OTLP_ENDPOINT="http://localhost:4318" \
			"$BUILD/cltagent" $NODE_NAMES --idle-timeout 3s --tag-socket none \
			--output "$OUT/athos-net.jsonl"
	fi
	alive_or_die agent
	alive_or_die athos
}

phase() { echo "$(date +%s%N) $*" >>"$OUT/phases.txt"; }

# The legacy entry's client is untraced (as plain curl): the trace starts at athos.
LOGIN_ARGS=()
[ "$ENTRY" = legacy ] && LOGIN_ARGS=(--no-traceparent)
login() { # user password
	ip netns exec "$NS_C" python3 demo/login.py "${LOGIN_ARGS[@]}" "$LOGIN_URL" "$1" "$2" |
		sed 's/^/    /'
}

# congest / uncongest: 1000 ms on porthos's egress towards aramis (eth1,
# the request path) or towards athos (eth0, the return path). netem where
# the kernel has it (as the original demo); otherwise the same delay in
# user space (demo/delayline.py), since a kernel without sch_netem has no
# other way to hold packets back.
congest() { # [dev towards]
	local dev=${1:-eth1} towards=${2:-aramis}
	CONGESTED_DEV=$dev
	if ip netns exec "$NS_P" tc qdisc add dev "$dev" root netem delay 1000ms 2>/dev/null; then
		say "congestion: tc qdisc add dev $dev root netem delay 1000ms (on porthos, towards $towards)"
		CONGESTION=netem
		return 0
	fi
	say "congestion: 1000 ms delay on porthos $dev (towards $towards); this kernel has no netem, using demo/delayline.py"
	rm -f "$OUT/delayline.ready"
	bg delayline "$NS_P" python3 -u demo/delayline.py "$dev" 1000 --ready "$OUT/delayline.ready"
	for _ in $(seq 1 50); do
		[ -f "$OUT/delayline.ready" ] && break
		kill -0 "$(pid_of delayline)" 2>/dev/null || break
		sleep 0.1
	done
	alive_or_die delayline
	CONGESTION=delayline
}

uncongest() {
	case ${CONGESTION:-} in
	netem) ip netns exec "$NS_P" tc qdisc del dev "${CONGESTED_DEV:-eth1}" root ;;
	delayline) stop delayline 4 ;;
	esac
	CONGESTION=
}

experiment() {
	say "uncongested: one login that succeeds, one that fails"
	phase "uncongested"
	login clt clt
	login alice wrong-password
	congest
	phase "congested: +1000 ms on porthos→aramis"
	say "3 concurrent logins through the congested router"
	local pids=()
	login clt clt &
	pids+=($!)
	login bob secret &
	pids+=($!)
	login clt clt &
	pids+=($!)
	wait "${pids[@]}"
	# Let the last packets (ACKs, FINs) through the delay before lifting it.
	sleep 1.5
	uncongest
	# The return path only: the requests cross porthos quietly, aramis's
	# responses wait 1 s on porthos's interface towards athos.
	congest eth0 athos
	phase "return congested: +1000 ms on porthos→athos"
	say "2 concurrent logins with only the return path congested"
	pids=()
	login clt clt &
	pids+=($!)
	login carol secret &
	pids+=($!)
	wait "${pids[@]}"
	sleep 1.5
	uncongest
}

finish() {
	say "stopping athos and cltagent (SIGTERM: both export what they hold)"
	stop athos 10
	stop athos_agent 5
	stop athos_net 10
	stop agent 10
	stop aramis 2
	sleep 0.3
	stop collector 5
	sed -n 's/^collector: /    /p' "$OUT/logs/collector.log" | tail -1
	[ -s "$OUT/spans.jsonl" ] || die "no spans were collected (logs: $OUT/logs/)"
	say "traces (one waterfall per login)"
	echo
	python3 demo/waterfall.py "$OUT/spans.jsonl" --phases "$OUT/phases.txt" \
		--subtitle "$SUBTITLE" --html "$OUT/traces.html" || die "waterfall failed"
	echo "Open the HTML view: file://$OUT/traces.html"
	if grep -q "Jaeger (an OTLP" "$OUT/logs/collector.log"; then
		echo "The same traces are in Jaeger: http://localhost:16686"
	fi
}

cmd=${1:-run}
case $cmd in
down)
	need_root
	demo_down
	rm -rf "$OUT/pids"
	echo "demo: stopped"
	exit 0
	;;
run | up) ;;
*) echo "usage: demo.sh [run|up|down]" >&2; exit 2 ;;
esac
case $ENTRY in node | nginx | legacy) ;; *) die "DEMO_ENTRY must be node, nginx or legacy" ;; esac

need_root
demo_down
rm -rf "$OUT/logs" "$OUT/pids" "$OUT/nginx" "$OUT/spans.jsonl" "$OUT/agent.jsonl" \
	"$OUT/phases.txt" "$OUT/traces.html" "$OUT/athos-agent.jsonl" "$OUT/athos-net.jsonl"
mkdir -p "$OUT/logs" "$OUT/pids"
: >"$OUT/phases.txt"
start=$SECONDS
prepare
# From here on, every exit tears everything down (topo_add_ns sets the trap).
trap 'demo_down' EXIT
trap 'exit 130' INT TERM
topology
trap 'demo_down' EXIT
start_services "$cmd"

if [ "$cmd" = up ]; then
	trap - EXIT INT TERM
	phase "interactive"
	cat <<EOF

The demo is running (entry: $ENTRY).
  Login page:  http://localhost:$ATHOS_PORT/app_login.html   (only clt / clt succeeds)
  Traces:      http://localhost:$UI_PORT/   (refreshes itself)
EOF
	grep -q "Jaeger (an OTLP" "$OUT/logs/collector.log" && echo "  Jaeger:      http://localhost:16686"
	cat <<EOF
  From the shell: ip netns exec $NS_C python3 demo/login.py $LOGIN_URL clt clt
  Congest the router: ip netns exec $NS_P tc qdisc add dev eth1 root netem delay 1000ms
                      (no netem? ip netns exec $NS_P python3 demo/delayline.py eth1 1000)
  Stop it all: make demo-down
EOF
	exit 0
fi

experiment
finish
echo "demo: done in $((SECONDS - start)) s; tearing down"
