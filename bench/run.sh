#!/usr/bin/env bash
# run.sh - make bench: the shim's overhead and the agent's throughput,
# measured side by side on this machine, written as a table to
# bench/results/latest.md (and printed).
#
#   BUILD=build bench/run.sh            full run (about 5 minutes)
#   BENCH_QUICK=1 bench/run.sh          short smoke run
#   BENCH_ONLY="percall http" ...       a subset: http https percall ingest offline export
#                                       threads baseline upload spans bpf retpath (BENCH_ROWS= is the same)
#   BASELINE=<commit> ...               also build that commit's shim and alternate
#                                       it with this one (section "baseline")
#   BENCH_RESULTS=DIR                   write raw.tsv, meta.txt, latest.md there
#
# Every comparison alternates its variants within one run (round 1: A B,
# round 2: B A, ...) so that a change in the machine's load hits all of
# them; bench/report.py takes medians, min-max spread, and the per-round
# ratios to the baseline. Load generators run on CPU 0, servers and the
# agent on CPU 1. Needs root: network namespaces, IOAM sysctls,
# IPV6_HOPOPTS, IOAM netlink events.
set -u
cd "$(dirname "$0")/.."
TOP=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
QUICK=${BENCH_QUICK:-}
[ "$QUICK" = 0 ] && QUICK=
ONLY=${BENCH_ONLY:-${BENCH_ROWS:-http https percall ingest offline export threads upload spans bpf retpath}}
BASELINE=${BASELINE:-}
# BASELINE given and no subset asked for: the comparison runs too.
[ -n "$BASELINE" ] && [ -z "${BENCH_ONLY:-}${BENCH_ROWS:-}" ] && ONLY="$ONLY baseline"
RES=${BENCH_RESULTS:-$TOP/bench/results}
RAW=$RES/raw.tsv
META=$RES/meta.txt
SHIM=${BENCH_SHIM:-$BUILD/libcltshim.so}
AGENT=$BUILD/cltagent
TOOLS=$BUILD/bench

if [ -n "$QUICK" ]; then
	ROUNDS=3 HTTP_SECS=1 PERCALL_ROUNDS=4 PERCALL_ITERS=20000
	INGEST_RATES="50000 200000" INGEST_SECS=1
	OFFLINE_REQ=20000 OFFLINE_EV=5 EXPORT_REQ=20000 MEM_REQ=20000 AGENT_ROUNDS=2
	THREADS_ROUNDS=2 THREADS_MS=500
else
	ROUNDS=8 HTTP_SECS=3 PERCALL_ROUNDS=10 PERCALL_ITERS=100000
	INGEST_RATES="50000 100000 150000 200000 250000 300000 350000 400000" INGEST_SECS=3
	OFFLINE_REQ=100000 OFFLINE_EV=10 EXPORT_REQ=100000 MEM_REQ=100000 AGENT_ROUNDS=3
	THREADS_ROUNDS=4 THREADS_MS=2000
fi
HTTP_CONNS=8

# shellcheck source=../tests/lib/topo.sh
source "$TOP/tests/lib/topo.sh"
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root (network namespaces, IOAM, IPV6_HOPOPTS); run 'sudo make bench'" >&2
	exit 1
fi
[ -e /proc/sys/net/ipv6/ioam6_id ] || { echo "bench: this kernel has no IOAM6" >&2; exit 1; }

CPU_A=0 CPU_B=1
[ "$(nproc)" -lt 2 ] && CPU_B=0
INGEST_CPUS=$CPU_A,$CPU_B
[ "$CPU_A" = "$CPU_B" ] && INGEST_CPUS=$CPU_A
TMP=$(mktemp -d /dev/shm/clt-bench.XXXXXX 2>/dev/null || mktemp -d)
BG_PIDS=()
# LD_PRELOAD splits its value at spaces and colons: preload a copy of the
# shim from $TMP, so a checkout under any path can be measured.
if [ -z "${BENCH_SHIM:-}" ] && [ -f "$SHIM" ]; then
	cp "$SHIM" "$TMP/libcltshim.so" && SHIM=$TMP/libcltshim.so
fi

bench_cleanup() {
	local p
	for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	topo_cleanup
	rm -rf "$TMP"
}
trap bench_cleanup EXIT

# topo_single installs its own EXIT trap; put ours back (it calls topo's).
# TCP uses cubic inside: BBR (a common host default) paces even on
# loopback, so a write() sometimes transmits at once and sometimes only
# queues for the pacing timer, and per-call figures become bimodal.
bench_ns() { # name
	topo_single "$1" || { echo "bench: cannot build namespace $1" >&2; exit 1; }
	trap bench_cleanup EXIT
	ip netns exec "$1" sysctl -qw net.ipv4.tcp_congestion_control=cubic 2>/dev/null || true
}

rec() { # section metric variant round value
	printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RAW"
}

note() { # key value...
	local k=$1
	shift
	printf '%s\t%s\n' "$k" "$*" >>"$META"
}

load_note() { # when
	note "load.$1" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# Sum of on-CPU nanoseconds of every thread of PID (/proc/PID/task/*/schedstat).
cpu_ns() {
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'
}

# On-CPU microseconds of every thread of PID.
proc_cpu_us() {
	cpu_ns "$1" | awk '{printf "%.3f", $1 / 1000}'
}

# rstat OUT CMD...: run CMD; write "user_s sys_s maxrss_kb wall_s rc" to OUT.
rstat() {
	local out=$1
	shift
	python3 - "$out" "$@" <<'EOF'
import resource, subprocess, sys, time
t = time.monotonic()
rc = subprocess.call(sys.argv[2:])
wall = time.monotonic() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write("%f %f %d %f %d\n" % (r.ru_utime, r.ru_stime, r.ru_maxrss, wall, rc))
EOF
}

# Two variants in alternating order: round 1 "a b", round 2 "b a", ...
order2() { # round a b
	if [ $(($1 % 2)) -eq 1 ]; then echo "$2 $3"; else echo "$3 $2"; fi
}

# N variants rotated by one position per round.
order_rot() { # round v1 v2 ...
	local r=$1
	shift
	local v=("$@") i out=""
	for i in "${!v[@]}"; do out="$out ${v[$(((i + r) % ${#v[@]}))]}"; done
	echo "$out"
}

have_shim() {
	[ -f "$SHIM" ] || { echo "bench: $SHIM not built: shim benchmarks skipped" >&2; return 1; }
}

have_agent() {
	[ -x "$AGENT" ] || { echo "bench: $AGENT not built: agent benchmarks skipped" >&2; return 1; }
}

# nginx, one worker on CPU_B, answering 200 "ok" on [::1]:PORT inside NS.
bench_nginx() { # ns port dir
	local ns=$1 port=$2 ng=$3
	mkdir -p "$ng"
	cat >"$ng/nginx.conf" <<EOF
worker_processes 1;
master_process off;
daemon off;
pid $ng/nginx.pid;
error_log $ng/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $ng;
	proxy_temp_path $ng;
	fastcgi_temp_path $ng;
	uwsgi_temp_path $ng;
	scgi_temp_path $ng;
	keepalive_requests 1000000000;
	server { listen [::1]:$port; location / { return 200 "ok\n"; } }
}
EOF
	# NGINX_ENV: e.g. the shim (the spans row); exec all the way, so $! is nginx itself.
	ip netns exec "$ns" env "${NGINX_ENV[@]}" taskset -c "$CPU_B" nginx -p "$ng" \
		-e "$ng/error.log" -c "$ng/nginx.conf" >"$ng/out" 2>&1 &
	NGINX_PID=$!
	BG_PIDS+=($!)
	disown
	topo_wait_port "$ns" "$port" || { cat "$ng/out" "$ng/error.log" >&2; return 1; }
}

# --- 1. HTTP client overhead: wrk -> nginx on [::1], IOAM on lo ----------
bench_http() {
	have_shim || return 0
	command -v wrk >/dev/null && command -v nginx >/dev/null ||
		{ echo "bench: wrk or nginx missing: HTTP benchmark skipped" >&2; return 0; }
	local ns="bn$$h" port=8080 ng=$TMP/nginx r v out
	bench_ns "$ns"
	bench_nginx "$ns" "$port" "$ng" || return 1

	# Check that the shimmed variant really tags: count hop-by-hop packets.
	ip netns exec "$ns" timeout 5 tcpdump -i lo -nn -c 200 -w /dev/null 'ip6[6] == 0' \
		>"$TMP/td.out" 2>&1 &
	local td=$!
	sleep 0.5
	http_wrk "$ns" "$port" shim_tp 0 1 >/dev/null
	wait "$td"
	local tagged
	tagged=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$TMP/td.out")
	note http.tagged_packets_seen "${tagged:-0}"
	echo "bench: http: shim + traceparent: ${tagged:-0} IOAM-tagged packets seen in a 1 s probe"

	load_note http
	for r in $(seq 1 "$ROUNDS"); do
		for v in $(order_rot "$r" base shim base_tp shim_same shim_tp); do
			http_wrk "$ns" "$port" "$v" "$r" "$HTTP_SECS" || return 1
		done
	done
	note http.setup "wrk -t1 -c$HTTP_CONNS -d${HTTP_SECS}s (CPU $CPU_A) -> nginx 1 worker (CPU $CPU_B), [::1], IOAM on lo, $ROUNDS rounds"
}

http_wrk() { # ns port variant round seconds [section [scheme]]
	local ns=$1 port=$2 v=$3 r=$4 secs=$5 sec=${6:-http} scheme=${7:-http}
	local script=$TOP/bench/wrk_plain.lua out line
	local env=()
	case $v in
	shim* | hop*) env=(LD_PRELOAD="$SHIM" CLT_BACKEND=hopopts) ;;
	old*) env=(LD_PRELOAD="$BASE_SHIM" CLT_BACKEND=hopopts) ;; # section "baseline"
	bpf*) env=(LD_PRELOAD="$SHIM" CLT_BACKEND=bpf CLT_AGENT_SOCKET="$BPF_TAG") ;; # section "bpf"
	esac
	case $v in *_tp | *_same) script=$TOP/bench/wrk_tp.lua ;; esac
	case $v in *_same) env+=(BENCH_TP_SAME=1) ;; esac
	rstat "$TMP/wrk.rstat" ip netns exec "$ns" env "${env[@]}" taskset -c "$CPU_A" wrk -t1 \
		-c"$HTTP_CONNS" -d"${secs}s" -s "$script" "$scheme://[::1]:$port/" >"$TMP/wrk.out" 2>&1
	out=$(cat "$TMP/wrk.out")
	line=$(grep '^WRK ' <<<"$out")
	if [ -z "$line" ]; then
		echo "bench: wrk ($v) failed:" >&2
		echo "$out" >&2
		return 1
	fi
	[ "$r" = 0 ] && return 0
	# WRK requests N duration_us D p50_us P p99_us Q errors E
	local u s
	read -r u s _ <"$TMP/wrk.rstat"
	set -- $line
	rec "$sec" cpu_us "$v" "$r" "$(awk -v n="$3" -v u="$u" -v s="$s" 'BEGIN {printf "%.3f", (u + s) * 1e6 / n}')"
	rec "$sec" rps "$v" "$r" "$(awk -v n="$3" -v d="$5" 'BEGIN {printf "%.0f", n * 1e6 / d}')"
	rec "$sec" p50_us "$v" "$r" "$7"
	rec "$sec" p99_us "$v" "$r" "$9"
	rec "$sec" errors "$v" "$r" "${11}"
	printf 'bench: %s round %s %-8s %s\n' "$sec" "$r" "$v" "$line"
}

# --- 1b. HTTPS client overhead: wrk -> nginx over TLS on [::1] -----------
# The same nginx answers clear HTTP and HTTPS; a new traceparent per
# request, with and without the shim, over both, alternated: the shim's
# TLS path is what its cost over HTTPS adds to its cost over clear HTTP.
bench_https() {
	have_shim || return 0
	command -v wrk >/dev/null && command -v nginx >/dev/null && command -v openssl >/dev/null ||
		{ echo "bench: wrk, nginx or openssl missing: HTTPS benchmark skipped" >&2; return 0; }
	local ns="bn$$s" ng=$TMP/nginx-tls r v
	bench_ns "$ns"
	mkdir -p "$ng"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj /CN=localhost -keyout "$ng/key.pem" -out "$ng/cert.pem" 2>/dev/null ||
		{ echo "bench: https: cannot make a certificate" >&2; return 1; }
	cat >"$ng/nginx.conf" <<EOF
worker_processes 1;
master_process off;
daemon off;
pid $ng/nginx.pid;
error_log $ng/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $ng;
	proxy_temp_path $ng;
	fastcgi_temp_path $ng;
	uwsgi_temp_path $ng;
	scgi_temp_path $ng;
	keepalive_requests 1000000000;
	server { listen [::1]:8080; location / { return 200 "ok\n"; } }
	server {
		listen [::1]:8443 ssl;
		ssl_certificate $ng/cert.pem;
		ssl_certificate_key $ng/key.pem;
		location / { return 200 "ok\n"; }
	}
}
EOF
	ip netns exec "$ns" taskset -c "$CPU_B" nginx -p "$ng" -e "$ng/error.log" \
		-c "$ng/nginx.conf" >"$ng/out" 2>&1 &
	BG_PIDS+=($!)
	disown
	topo_wait_port "$ns" 8443 || { cat "$ng/out" "$ng/error.log" >&2; return 1; }
	http_wrk "$ns" 8443 shim_tp 0 1 https https >/dev/null || return 1
	load_note https
	for r in $(seq 1 "$ROUNDS"); do
		for v in $(order_rot "$r" base_tp shim_tp); do
			http_wrk "$ns" 8443 "$v" "$r" "$HTTP_SECS" https https || return 1
			http_wrk "$ns" 8080 "$v" "$r" "$HTTP_SECS" https_clear http || return 1
		done
	done
	note https.setup "wrk -t1 -c$HTTP_CONNS -d${HTTP_SECS}s (CPU $CPU_A) -> nginx 1 worker (CPU $CPU_B) over TLS and over clear HTTP, [::1], IOAM on lo, new traceparent per request, $ROUNDS rounds"
}

# --- 2. per-call cost of write() ----------------------------------------
bench_percall() {
	have_shim || return 0
	local ns="bn$$p" port=9000 r v out
	bench_ns "$ns"
	ip netns exec "$ns" taskset -c "$CPU_A" "$TOOLS/percall" sink "$port" >"$TMP/sink.out" 2>&1 &
	BG_PIDS+=($!)
	disown
	topo_wait_port "$ns" "$port" || return 1
	# The agent backend: a private tag socket, and a rate limit far above
	# what one writer asks for, so that every context change is served.
	local tag=$TMP/tag.sock apid variants="base shim"
	if have_agent; then
		ip netns exec "$ns" taskset -c "$CPU_B" "$AGENT" --source netlink --output /dev/null \
			--tag-socket "$tag" --tag-rate 1000000 >"$TMP/tagagent.out" 2>&1 &
		apid=$!
		BG_PIDS+=("$apid")
		for _ in $(seq 1 50); do [ -S "$tag" ] && break; sleep 0.1; done
		if [ -S "$tag" ]; then
			variants="base shim agent"
		else
			echo "bench: the agent's tag socket did not appear: agent backend skipped" >&2
		fi
	fi
	load_note percall
	for r in $(seq 1 "$PERCALL_ROUNDS"); do
		for v in $(order_rot "$r" $variants); do
			local env=() cases=""
			case $v in
			shim) env=(LD_PRELOAD="$SHIM" CLT_BACKEND=hopopts) ;;
			agent)
				env=(LD_PRELOAD="$SHIM" CLT_BACKEND=agent CLT_AGENT_SOCKET="$tag" CLT_LOG=warn)
				cases=same_ctx,new_ctx
				;;
			esac
			out=$(ip netns exec "$ns" env "${env[@]}" taskset -c "$CPU_A" \
				"$TOOLS/percall" run "$port" "$PERCALL_ITERS" $cases 2>"$TMP/percall.err") ||
				{ echo "bench: percall ($v) failed: $out $(cat "$TMP/percall.err")" >&2; return 1; }
			# A warning from the shim means a write went untagged (agent
			# timeout or error): such a round would time the fallback.
			if [ -s "$TMP/percall.err" ]; then
				echo "bench: percall ($v) round $r: $(head -3 "$TMP/percall.err")" >&2
				rec percall_warn all "$v" "$r" 1
			fi
			while read -r c cpu wall wmed; do
				rec percall "$c" "$v" "$r" "$cpu"
				rec percall_wall "$c" "$v" "$r" "$wall"
				rec percall_wmed "$c" "$v" "$r" "$wmed"
			done <<<"$out"
			echo "bench: percall round $r $v: $(echo $out)"
		done
	done
	if [ -n "${apid:-}" ]; then
		kill -TERM "$apid" 2>/dev/null
		wait "$apid" 2>/dev/null
		note percall.agent_cpu "$CPU_B"
		note percall.agent_stats "$(grep 'tag requests=' "$TMP/tagagent.out" | tail -1 | sed 's/^cltagent: //')"
	fi
	note percall.setup "$PERCALL_ITERS write() calls of about 100 octets per case in 20 blocks (CPU $CPU_A), sink on the same CPU, $PERCALL_ROUNDS rounds"
}

# --- 3. agent ingest: kernel IOAM events at increasing rates -------------
agent_stat() { # stats-file key: the number after "key" in the agent's last stats line
	grep 'stats events=' "$1" | tail -1 | tr ',=:' '   ' |
		awk -v k="$2" '{for (i = 1; i < NF; i++) if ($i == k) {print $(i + 1); exit}}'
}

bench_ingest() {
	have_agent || return 0
	local ns="bn$$i" port=9999 rate pid k0 k1 c0 c1 hwm out sent achieved events
	bench_ns "$ns"
	load_note ingest
	for rate in $INGEST_RATES; do
		ip netns exec "$ns" taskset -c "$CPU_B" "$AGENT" --source netlink --output /dev/null \
			>"$TMP/agent.out" 2>&1 &
		pid=$!
		BG_PIDS+=("$pid")
		sleep 1 # subscribed
		kill -0 "$pid" 2>/dev/null || { echo "bench: agent died:" >&2; cat "$TMP/agent.out" >&2; return 1; }
		k0=$(ip netns exec "$ns" awk '$1 == "Ip6InReceives" {print $2}' /proc/net/snmp6)
		c0=$(cpu_ns "$pid")
		# One sending thread per CPU, claiming batches from one schedule:
		# a single core cannot offer 200,000 events/s (it pays for the
		# kernel's receive path, IOAM and the netlink event included).
		rstat "$TMP/gen.rstat" ip netns exec "$ns" "$TOOLS/udpgen" "$port" "$rate" \
			"$INGEST_SECS" 100 "$INGEST_CPUS" >"$TMP/gen.out"
		out=$(cat "$TMP/gen.out")
		sleep 1 # let the agent drain its socket
		k1=$(ip netns exec "$ns" awk '$1 == "Ip6InReceives" {print $2}' /proc/net/snmp6)
		c1=$(cpu_ns "$pid")
		hwm=$(awk '/^VmHWM/ {print $2}' /proc/"$pid"/status)
		kill -TERM "$pid"
		wait "$pid"
		set -- $out
		sent=$3 achieved=${9%.*}
		events=$(agent_stat "$TMP/agent.out" events)
		rec ingest target "$rate" 1 "$rate"
		rec ingest achieved "$rate" 1 "$achieved"
		rec ingest kernel "$rate" 1 "$((k1 - k0))"
		rec ingest agent "$rate" 1 "${events:-0}"
		rec ingest enobufs "$rate" 1 "$(agent_stat "$TMP/agent.out" loss)"
		rec ingest cpu_ns "$rate" 1 "$((c1 - c0))"
		rec ingest hwm_kb "$rate" 1 "$hwm"
		read -r u s _ <"$TMP/gen.rstat"
		rec ingest gen_cpu_ns "$rate" 1 "$(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.0f", (u + s) * 1e9}')"
		echo "bench: ingest $rate/s: $out; kernel $((k1 - k0)); agent: $(grep 'stats events=' "$TMP/agent.out" | tail -1)"
	done
	note ingest.cpus "$INGEST_CPUS"
	note ingest.setup "udpgen, one sending thread on each of CPUs $INGEST_CPUS -> [::1] with the hopopts header, sendmmsg batches of 32 ($INGEST_SECS s per rate); cltagent --source netlink --output /dev/null (CPU $CPU_B)"
}

# --- 4. offline decode + aggregate + encode from a capture file ----------
bench_offline() {
	have_agent || return 0
	local pcap=$TMP/offline.pcap r
	"$TOOLS/pcapgen" "$pcap" "$OFFLINE_REQ" "$OFFLINE_EV" 2 >/dev/null || return 1
	load_note offline
	for r in $(seq 1 "$AGENT_ROUNDS"); do
		rstat "$TMP/rstat" taskset -c "$CPU_B" "$AGENT" --source "pcap:$pcap" \
			--output /dev/null >"$TMP/agent.out" 2>&1
		read -r u s m w rc <"$TMP/rstat"
		rec offline events all "$r" "$(agent_stat "$TMP/agent.out" events)"
		rec offline cpu_s all "$r" "$(awk -v u="$u" -v s="$s" 'BEGIN {print u + s}')"
		rec offline wall_s all "$r" "$w"
		echo "bench: offline round $r: rc $rc user $u sys $s wall $w; $(grep 'stats events=' "$TMP/agent.out" | tail -1)"
	done
	note offline.setup "$((OFFLINE_REQ * OFFLINE_EV)) packets ($OFFLINE_REQ requests x $OFFLINE_EV), 2 nodes filled, 1000 requests in flight at a time; cltagent --source pcap:FILE --output /dev/null, default settings (CPU $CPU_B)"
	rm -f "$pcap"
}

# --- 5. export to a discarding OTLP/HTTP receiver; memory held ----------
bench_export() {
	have_agent || return 0
	local ns="bn$$e" port=4318 pcap=$TMP/export.pcap r sink out
	bench_ns "$ns"
	"$TOOLS/pcapgen" "$pcap" "$EXPORT_REQ" 1 2 >/dev/null || return 1
	load_note export
	for r in $(seq 1 "$AGENT_ROUNDS"); do
		ip netns exec "$ns" taskset -c "$CPU_A" "$TOOLS/httpsink" "$port" >"$TMP/sink.out" 2>&1 &
		sink=$!
		topo_wait_port "$ns" "$port" || return 1
		rstat "$TMP/rstat" ip netns exec "$ns" taskset -c "$CPU_B" "$AGENT" \
			--source "pcap:$pcap" --endpoint "http://[::1]:$port/v1/traces" \
			>"$TMP/agent.out" 2>&1
		kill -TERM "$sink"
		wait "$sink"
		read -r u s m w rc <"$TMP/rstat"
		out=$(cat "$TMP/sink.out")
		set -- $out
		rec export spans all "$r" "$7"
		rec export requests all "$r" "$3"
		rec export wall_s all "$r" "$w"
		rec export cpu_s all "$r" "$(awk -v u="$u" -v s="$s" 'BEGIN {print u + s}')"
		echo "bench: export round $r: rc $rc wall $w; $out; agent: $(grep 'stats events=' "$TMP/agent.out" | tail -1)"
	done
	note export.setup "$EXPORT_REQ requests (one packet each) from a capture, posted to a discarding HTTP/1.1 receiver (CPU $CPU_A); agent on CPU $CPU_B"

	# Peak memory with MEM_REQ requests held at once versus one request.
	local big=$TMP/mem.pcap small=$TMP/one.pcap hold="--idle-timeout 10m --max-age 10m"
	"$TOOLS/pcapgen" "$big" "$MEM_REQ" 1 2 >/dev/null || return 1
	"$TOOLS/pcapgen" "$small" 1 1 2 >/dev/null || return 1
	for r in $(seq 1 "$AGENT_ROUNDS"); do
		for v in $(order2 "$r" one held); do
			local f=$small max=1
			[ "$v" = held ] && f=$big max=$MEM_REQ
			# shellcheck disable=SC2086
			rstat "$TMP/rstat" "$AGENT" --source "pcap:$f" --output /dev/null $hold \
				--max-requests "$max" >"$TMP/agent.out" 2>&1
			read -r u s m w rc <"$TMP/rstat"
			rec memory maxrss_kb "$v" "$r" "$m"
		done
	done
	note memory.requests "$MEM_REQ"
	note memory.setup "peak RSS (ru_maxrss) holding $MEM_REQ requests (capture, idle timeout 10 min, --max-requests $MEM_REQ) minus holding 1 (--max-requests 1), so that memory reserved per slot counts"
	rm -f "$pcap" "$big" "$small"
}

# --- 6. writer threads through the agent backend -------------------------
# 1 and 8 threads, each its own IPv6 TCP socket to a sink on [::1] (IOAM on
# lo), a new traceparent on every request, CLT_BACKEND=agent with a
# private --tag-socket: how the shim's request path scales with threads
# when every request is one round trip to cltagent.
bench_threads() {
	have_shim || return 0
	have_agent || return 0
	local ns="bn$$t" port=9100 tag=$TMP/thr-tag.sock apid r v n out
	bench_ns "$ns"
	ip netns exec "$ns" taskset -c "$CPU_A" "$TOOLS/percall" sink "$port" >"$TMP/thr-sink.out" 2>&1 &
	BG_PIDS+=($!)
	disown
	topo_wait_port "$ns" "$port" || return 1
	ip netns exec "$ns" taskset -c "$CPU_B" "$AGENT" --source netlink --output /dev/null \
		--tag-socket "$tag" --tag-rate 1000000 >"$TMP/thr-agent.out" 2>&1 &
	apid=$!
	BG_PIDS+=("$apid")
	for _ in $(seq 1 50); do [ -S "$tag" ] && break; sleep 0.1; done
	[ -S "$tag" ] || { echo "bench: threads: the agent's tag socket did not appear" >&2; return 1; }
	load_note threads
	for r in $(seq 1 "$THREADS_ROUNDS"); do
		for v in $(order2 "$r" t1 t8); do
			n=${v#t}
			out=$(ip netns exec "$ns" env LD_PRELOAD="$SHIM" CLT_BACKEND=agent \
				CLT_AGENT_SOCKET="$tag" CLT_LOG=warn taskset -c "$CPU_A" \
				"$TOOLS/percall" threads "$port" "$n" "$THREADS_MS" 2>"$TMP/thr.err") ||
				{ echo "bench: threads ($v) failed: $out $(cat "$TMP/thr.err")" >&2; return 1; }
			if [ -s "$TMP/thr.err" ]; then
				echo "bench: threads ($v) round $r: $(head -3 "$TMP/thr.err")" >&2
				rec threads_warn all "$v" "$r" 1
			fi
			# threads N REQUESTS WALL_NS REQ_PER_S
			set -- $out
			rec threads rps "$v" "$r" "$5"
			echo "bench: threads round $r $v: $out"
		done
	done
	kill -TERM "$apid" 2>/dev/null
	wait "$apid" 2>/dev/null
	note threads.agent_stats "$(grep 'tag requests=' "$TMP/thr-agent.out" | tail -1 | sed 's/^cltagent: //')"
	note threads.setup "percall threads: 1 and 8 writer threads (CPU $CPU_A), each its own IPv6 TCP socket to a sink on [::1] (CPU $CPU_A), IOAM on lo, a new traceparent per request, CLT_BACKEND=agent, cltagent with a private --tag-socket and --tag-rate 1000000 (CPU $CPU_B), $THREADS_MS ms per run, $THREADS_ROUNDS rounds"
}

# --- 7. this shim against BASELINE=<commit>'s ----------------------------
# The baseline's tree is exported with git archive (no worktree is
# registered in the repository) and built in the scratch directory; its
# shim then alternates with this one, round by round, in the per-call and
# the HTTP benchmarks.
BASE_SHIM=
baseline_build() {
	local dir=$TMP/baseline rev
	rev=$(git -C "$TOP" rev-parse --verify --quiet "$BASELINE^{commit}") ||
		{ echo "bench: BASELINE=$BASELINE is not a commit" >&2; return 1; }
	mkdir -p "$dir"
	git -C "$TOP" archive "$rev" | tar -x -C "$dir" || return 1
	echo "bench: building the baseline shim ($(git -C "$TOP" rev-parse --short "$rev"))"
	make -C "$dir" -j2 BUILD=build build/libcltshim.so >"$TMP/baseline-build.log" 2>&1 ||
		{ echo "bench: the baseline does not build:" >&2; tail -20 "$TMP/baseline-build.log" >&2; return 1; }
	BASE_SHIM=$dir/build/libcltshim.so
	note baseline.commit "$(git -C "$TOP" rev-parse --short "$rev")"
}

baseline_percall() { # ns port variant round
	local ns=$1 port=$2 v=$3 r=$4 lib=$SHIM out c cpu wall wmed
	[ "$v" = old ] && lib=$BASE_SHIM
	out=$(ip netns exec "$ns" env LD_PRELOAD="$lib" CLT_BACKEND=hopopts taskset -c "$CPU_A" \
		"$TOOLS/percall" run "$port" "$PERCALL_ITERS" 2>"$TMP/bl-percall.err") ||
		{ echo "bench: baseline percall ($v) failed: $out $(cat "$TMP/bl-percall.err")" >&2; return 1; }
	while read -r c cpu wall wmed; do
		rec baseline_percall "$c" "$v" "$r" "$cpu"
	done <<<"$out"
	echo "bench: baseline percall round $r $v: $(echo $out)"
}

baseline_http() { # ns
	local ns=$1 port=8081 ng=$TMP/bl-nginx r v
	bench_nginx "$ns" "$port" "$ng" || return 1
	# The variants named old* preload BASE_SHIM (http_wrk).
	for r in $(seq 1 "$ROUNDS"); do
		for v in $(order_rot "$r" shim old shim_tp old_tp); do
			http_wrk "$ns" "$port" "$v" "$r" "$HTTP_SECS" baseline_http || return 1
		done
	done
}

bench_baseline() {
	[ -n "$BASELINE" ] || { echo "bench: baseline: set BASELINE=<commit>" >&2; return 0; }
	have_shim || return 0
	baseline_build || return 1
	local ns="bn$$b" port=9200 r v
	bench_ns "$ns"
	ip netns exec "$ns" taskset -c "$CPU_A" "$TOOLS/percall" sink "$port" >"$TMP/bl-sink.out" 2>&1 &
	BG_PIDS+=($!)
	disown
	topo_wait_port "$ns" "$port" || return 1
	load_note baseline
	for r in $(seq 1 "$PERCALL_ROUNDS"); do
		for v in $(order2 "$r" shim old); do
			baseline_percall "$ns" "$port" "$v" "$r" || return 1
		done
	done
	if command -v wrk >/dev/null && command -v nginx >/dev/null; then
		baseline_http "$ns" || return 1
	else
		echo "bench: wrk or nginx missing: baseline HTTP rows skipped" >&2
	fi
	note baseline.setup "the shim of this tree and BASELINE's, alternated round by round: per-call ($PERCALL_ITERS write() calls per case, $PERCALL_ROUNDS rounds, CLT_BACKEND=hopopts) and HTTP (wrk -t1 -c$HTTP_CONNS -d${HTTP_SECS}s to nginx, $ROUNDS rounds)"
}

# --- 8. Tagged uploads: 16 MiB POST, tagged vs untagged, ::1 and a veth path ---
# Wall time of one POST (connect to answer, measured in the client), three
# variants rotated per round: no shim, shim without traceparent (the clamp
# only), shim with a traceparent (every packet carries the option).
bench_upload() {
	have_shim || return 0
	local ns="bn$$u" mb=16 r v path host cns t tp
	bench_ns "$ns"
	topo_three "bn$$v" || { echo "bench: cannot build the veth path" >&2; return 1; }
	trap bench_cleanup EXIT
	for t in "$TOPO_C" "$TOPO_R" "$TOPO_S"; do
		ip netns exec "$t" sysctl -qw net.ipv4.tcp_congestion_control=cubic 2>/dev/null || true
	done
	cat >"$TMP/sink.py" <<EOF
import sys
sys.path.insert(0, "$TOP/tests/lib")
import shim_fixture as f
f.Server6(("::", int(sys.argv[1])), f.Handler).serve_forever()
EOF
	cat >"$TMP/post.py" <<'EOF'
import hashlib, http.client, sys, time
host, port, path, tp = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
body = open(path, "rb").read()
t = time.monotonic()
c = http.client.HTTPConnection(host, port, timeout=60)
c.putrequest("POST", "/up")
if tp != "-":
    c.putheader("traceparent", tp)
c.putheader("Content-Length", str(len(body)))
c.endheaders(body)
ok = c.getresponse().read().decode().strip() == hashlib.sha256(body).hexdigest()
print("%.6f" % (time.monotonic() - t) if ok else "bad")
EOF
	head -c $((mb << 20)) /dev/urandom >"$TMP/body"
	taskset -c "$CPU_B" ip netns exec "$ns" python3 "$TMP/sink.py" 8080 >/dev/null 2>&1 &
	BG_PIDS+=($!)
	taskset -c "$CPU_B" ip netns exec "$TOPO_S" python3 "$TMP/sink.py" 8080 >/dev/null 2>&1 &
	BG_PIDS+=($!)
	topo_wait_port "$ns" 8080 && topo_wait_port "$TOPO_S" 8080 || return 1
	load_note upload
	for path in lo veth; do
		if [ $path = lo ]; then cns=$ns host=::1; else cns=$TOPO_C host=$TOPO_S_ADDR; fi
		for r in $(seq 1 $((ROUNDS * 2))); do
			for v in $(order_rot "$r" base shim shim_tp); do
				local pre=() tp=-
				[ $v != base ] && pre=(LD_PRELOAD="$SHIM")
				[ $v = shim_tp ] && tp=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
				t=$(taskset -c "$CPU_A" ip netns exec "$cns" env "${pre[@]}" python3 "$TMP/post.py" \
					"$host" 8080 "$TMP/body" "$tp")
				if [ -z "$t" ] || [ "$t" = bad ]; then
					echo "bench: upload $path $v failed" >&2
					continue
				fi
				rec "upload_$path" wall_s "$v" "$r" "$t"
			done
		done
	done
	note upload.setup "one POST of $mb MiB (Python http.client, one send; the fixture server hashes it), wall time from connect to answer in the client; ::1 at loopback's MTU 65536, and client -- router -- server over veth at MTU 1500 (IOAM on the router's and the server's ingress); $((ROUNDS * 2)) rounds, variants rotated"
	rm -f "$TMP/body"
}

# --- 10. the bpf backend: cltagent --bpf's tc program -------------------
# HTTP (wrk -> nginx on [::1]) with a new traceparent per request on bpf
# and on hopopts, and the same traceparent on bpf; the per-call cost of a
# context change on bpf, as root and as nobody, beside the agent backend
# (as nobody); a 200 MB upload over one connection, bpf vs hopopts vs none.
bench_bpf() {
	have_shim && have_agent || return 0
	command -v wrk >/dev/null && command -v nginx >/dev/null ||
		{ echo "bench: wrk or nginx missing: bpf benchmark skipped" >&2; return 0; }
	local ns="bn$$b" port=8080 ng=$TMP/nginx_b r v out apid
	BPF_TAG=$TMP/bpf/tag.sock
	mkdir -p -m 0755 "$TMP/bpf"
	chmod 0711 "$TMP"
	bench_ns "$ns"
	ip netns exec "$ns" taskset -c "$CPU_B" "$AGENT" --source netlink --output /dev/null --bpf \
		--tag-socket "$BPF_TAG" --tag-group nogroup --tag-rate 1000000 >"$TMP/bpfagent.out" 2>&1 &
	apid=$!
	BG_PIDS+=("$apid")
	for _ in $(seq 1 50); do [ -S "$BPF_TAG" ] && break; sleep 0.1; done
	[ -S "$BPF_TAG" ] || { echo "bench: cltagent --bpf did not start: $(cat "$TMP/bpfagent.out")" >&2; return 1; }
	bench_nginx "$ns" "$port" "$ng" || return 1
	load_note bpf
	# The agent shares CPU $CPU_B with nginx and reads every IOAM event:
	# its CPU per request, beside the client's, shows what a new trace per
	# request costs there (one request and span each, against one for all).
	local t0 t1 n hz
	hz=$(getconf CLK_TCK)
	for r in $(seq 1 "$ROUNDS"); do
		for v in $(order_rot "$r" base_tp hop_tp bpf_same bpf_tp); do
			t0=$(awk '{print $14 + $15}' "/proc/$apid/stat")
			http_wrk "$ns" "$port" "$v" "$r" "$HTTP_SECS" bpf_http || return 1
			t1=$(awk '{print $14 + $15}' "/proc/$apid/stat")
			n=$(awk '/^WRK / {print $3}' "$TMP/wrk.out")
			rec bpf_http agent_us "$v" "$r" \
				"$(awk -v a="$t0" -v b="$t1" -v n="$n" -v hz="$hz" 'BEGIN {printf "%.3f", (b - a) * 1e6 / hz / n}')"
		done
	done
	# Per call: a context change, as root (bpf, hopopts) and as nobody (bpf, agent).
	local pport=9001 nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)
	local shim_n percall_n
	# nobody reaches them through $TMP (mode 0711).
	shim_n=$SHIM percall_n=$TMP/bpf/percall
	cp "$TOOLS/percall" "$percall_n" && chmod 0755 "$percall_n" && chmod 0644 "$shim_n" || return 1
	ip netns exec "$ns" taskset -c "$CPU_A" "$TOOLS/percall" sink "$pport" >"$TMP/sink_b.out" 2>&1 &
	BG_PIDS+=($!)
	disown
	topo_wait_port "$ns" "$pport" || return 1
	for r in $(seq 1 "$PERCALL_ROUNDS"); do
		for v in $(order_rot "$r" hop bpf bpf_nobody agent_nobody); do
			local run=() env=(LD_PRELOAD="$shim_n" CLT_LOG=warn CLT_AGENT_SOCKET="$BPF_TAG")
			case $v in
			hop) env+=(CLT_BACKEND=hopopts) ;;
			bpf) env+=(CLT_BACKEND=bpf) ;;
			bpf_nobody) env+=(CLT_BACKEND=bpf); run=("${nobody[@]}") ;;
			agent_nobody) env+=(CLT_BACKEND=agent); run=("${nobody[@]}") ;;
			esac
			out=$(ip netns exec "$ns" "${run[@]}" env "${env[@]}" taskset -c "$CPU_A" \
				"$percall_n" run "$pport" "$PERCALL_ITERS" same_ctx,new_ctx 2>"$TMP/percall_b.err") ||
				{ echo "bench: bpf percall ($v) failed: $out $(cat "$TMP/percall_b.err")" >&2; return 1; }
			[ -s "$TMP/percall_b.err" ] && echo "bench: bpf percall ($v): $(head -2 "$TMP/percall_b.err")" >&2
			while read -r c cpu wall wmed; do
				rec bpf_percall "$c" "$v" "$r" "$cpu"
				rec bpf_percall_wmed "$c" "$v" "$r" "$wmed"
			done <<<"$out"
			echo "bench: bpf percall round $r $v: $(echo $out)"
		done
	done
	# Bulk: 200 MB over one tagged connection (one send), CPU and MB/s of the client.
	local mb=${BPF_BULK_MB:-200}
	[ -n "$QUICK" ] && mb=50
	cat >"$TMP/bulk_sink.py" <<'PY'
import socket, sys
l = socket.socket(socket.AF_INET6); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("::1", int(sys.argv[1]))); l.listen(8)
while True:
    c, _ = l.accept()
    n = 0
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        n += len(d)
    c.sendall(str(n).encode()); c.close()
PY
	cat >"$TMP/bulk.py" <<'PY'
import os, resource, socket, sys, time
port, mb, tp = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
body = b"x" * (mb * 1000000)
head = b"POST /up HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n" % (
    (b"traceparent: " + tp.encode() + b"\r\n") if tp != "-" else b"", len(body))
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
s = socket.create_connection(("::1", port))
s.sendall(head + body); s.shutdown(socket.SHUT_WR)
n = int(s.recv(64))
t, r1 = time.monotonic() - t0, resource.getrusage(resource.RUSAGE_SELF)
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
print("%.1f %.3f" % (mb / t, cpu) if n == len(head) + len(body) else "bad")
PY
	local bport=9002
	taskset -c "$CPU_B" ip netns exec "$ns" python3 "$TMP/bulk_sink.py" "$bport" >/dev/null 2>&1 &
	BG_PIDS+=($!)
	topo_wait_port "$ns" "$bport" || return 1
	for r in $(seq 1 "$ROUNDS"); do
		for v in $(order_rot "$r" base hop bpf); do
			local env=() tp=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
			case $v in
			base) tp=- ;;
			hop) env=(LD_PRELOAD="$SHIM" CLT_BACKEND=hopopts) ;;
			bpf) env=(LD_PRELOAD="$SHIM" CLT_BACKEND=bpf CLT_AGENT_SOCKET="$BPF_TAG") ;;
			esac
			out=$(taskset -c "$CPU_A" ip netns exec "$ns" env "${env[@]}" python3 "$TMP/bulk.py" \
				"$bport" "$mb" "$tp")
			[ -z "$out" ] || [ "$out" = bad ] && { echo "bench: bpf bulk $v failed" >&2; continue; }
			set -- $out
			rec bpf_bulk mbps "$v" "$r" "$1"
			rec bpf_bulk cpu_s "$v" "$r" "$2"
		done
	done
	kill -TERM "$apid" 2>/dev/null
	wait "$apid" 2>/dev/null
	note bpf.agent_stats "$(grep 'bpf tagged=' "$TMP/bpfagent.out" | tail -1 | sed 's/^cltagent: //')"
	note bpf.setup "wrk -t1 -c$HTTP_CONNS -d${HTTP_SECS}s (CPU $CPU_A) -> nginx 1 worker (CPU $CPU_B), [::1], IOAM on lo, cltagent --bpf on CPU $CPU_B; per call: $PERCALL_ITERS write() calls per case; bulk: one send of $mb MB over ::1 (MTU 65536) to a sink; $ROUNDS rounds (per call $PERCALL_ROUNDS), variants rotated"
}

mkdir -p "$RES"
: >"$RAW"
: >"$META"
note machine "$(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM"
note kernel "$(uname -sr)"
note date "$(date -u '+%Y-%m-%d %H:%M UTC')"
note commit "$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)"
note mode "$([ -n "$QUICK" ] && echo quick || echo full)"
load_note start
start=$SECONDS
# --- 9. zero-code SERVER spans: nginx under the shim (CLT_TRACING=spans) ---
# Three nginx (one worker each, same CPU): without the shim, under it with
# CLT_TRACING=off, and under it with CLT_TRACING=spans sending a SERVER span
# per request to a cltagent; wrk rotates between them. Server CPU per
# request from the worker's on-CPU nanoseconds (schedstat: the tick-based
# utime+stime would be 10 ms coarse, a third of a microsecond per request
# over a run). spans - off is the cost of one span in the application.
bench_spans() {
	have_shim && have_agent || return 0
	command -v wrk >/dev/null && command -v nginx >/dev/null ||
		{ echo "bench: wrk or nginx missing: spans benchmark skipped" >&2; return 0; }
	[ -x "$TOOLS/spansgen" ] || { echo "bench: $TOOLS/spansgen missing (make bench-tools)" >&2; return 1; }
	local ns="bn$$s" r v tag=$TMP/spans-tag.sock line c0 c1 pid apid
	local -A port=([base]=8180 [off]=8182 [spans]=8181) npid=()
	bench_ns "$ns"
	ip netns exec "$ns" taskset -c "$CPU_A" "$AGENT" --source netlink --output /dev/null \
		--tag-socket "$tag" --stats-interval 0 >"$TMP/spans-agent.out" 2>&1 &
	apid=$!
	BG_PIDS+=("$apid")
	for _ in $(seq 1 50); do [ -S "$tag" ] && break; sleep 0.1; done
	for v in base off spans; do
		case $v in
		base) NGINX_ENV=() ;;
		off) NGINX_ENV=(LD_PRELOAD="$SHIM" CLT_TRACING=off CLT_AGENT_SOCKET="$tag") ;;
		spans) NGINX_ENV=(LD_PRELOAD="$SHIM" CLT_TRACING=spans CLT_AGENT_SOCKET="$tag") ;;
		esac
		bench_nginx "$ns" "${port[$v]}" "$TMP/nginx-$v" || return 1
		npid[$v]=$NGINX_PID
	done
	NGINX_ENV=()
	load_note spans
	for r in $(seq 1 "$ROUNDS"); do
		for v in $(order_rot "$r" base off spans); do
			pid=${npid[$v]}
			c0=$(cpu_ns "$pid")
			ip netns exec "$ns" taskset -c "$CPU_A" wrk -t1 -c"$HTTP_CONNS" -d"${HTTP_SECS}s" \
				-s "$TOP/bench/wrk_plain.lua" "http://[::1]:${port[$v]}/" >"$TMP/wrk.out" 2>&1
			c1=$(cpu_ns "$pid")
			line=$(grep '^WRK ' "$TMP/wrk.out") || { cat "$TMP/wrk.out" >&2; return 1; }
			set -- $line
			rec spans rps "$v" "$r" "$(awk -v n="$3" -v d="$5" 'BEGIN {printf "%.0f", n * 1e6 / d}')"
			rec spans srv_cpu_us "$v" "$r" "$(awk -v n="$3" -v a="$c0" -v b="$c1" 'BEGIN {printf "%.4f", (b - a) / 1000 / n}')"
			printf 'bench: spans round %s %-6s %s\n' "$r" "$v" "$line"
		done
	done
	kill -TERM "${npid[spans]}" "${npid[off]}" "${npid[base]}" 2>/dev/null
	sleep 0.5
	kill -TERM "$apid" 2>/dev/null
	wait "$apid" 2>/dev/null
	note spans.agent "$(grep 'shim spans records=' "$TMP/spans-agent.out" | tail -1 | sed 's/^cltagent: //')"
	# The agent's ingest of shim spans (bench/spansgen.c: batches of 64 SERVER records with
	# nine HTTP attributes, as the shim sends them), the agent alone on CPU $CPU_B:
	#   max:   as fast as one sender can write (SEQPACKET blocks it while the agent is
	#          behind: nothing is lost on the way), rate and queue bounds raised;
	#   paced: 200,000 records/s within the agent's default bounds (--span-rate 250000 per
	#          connection, --queue-size 256).
	# Loss = records sent - spans the agent exported; agent CPU per record from schedstat.
	local n=${SPANS_INGEST:-400000} paced_secs=3 mode args out
	[ -n "$QUICK" ] && paced_secs=1
	for mode in max paced; do
		rm -f "$tag"
		args=()
		[ "$mode" = max ] && args=(--span-rate 10000000 --queue-size 100000)
		ip netns exec "$ns" taskset -c "$CPU_B" "$AGENT" --source netlink --output /dev/null \
			--tag-socket "$tag" --stats-interval 0 "${args[@]}" >"$TMP/ingest-$mode.out" 2>&1 &
		apid=$!
		for _ in $(seq 1 50); do [ -S "$tag" ] && break; sleep 0.1; done
		c0=$(cpu_ns "$apid")
		if [ "$mode" = max ]; then
			out=$(ip netns exec "$ns" taskset -c "$CPU_A" "$TOOLS/spansgen" "$tag" "$n" 0)
		else
			out=$(ip netns exec "$ns" taskset -c "$CPU_A" "$TOOLS/spansgen" "$tag" $((200000 * paced_secs)) 200000)
		fi
		# Until the agent has read and exported all it was sent (its CPU stops moving).
		c1=$(cpu_ns "$apid")
		for _ in $(seq 1 20); do
			sleep 0.2
			[ "$(cpu_ns "$apid")" -lt $((c1 + 2000000)) ] && break
			c1=$(cpu_ns "$apid")
		done
		c1=$(cpu_ns "$apid")
		kill -TERM "$apid" 2>/dev/null
		wait "$apid" 2>/dev/null
		line=$(grep 'shim spans records=' "$TMP/ingest-$mode.out" | tail -1)
		local exported
		exported=$(grep 'stats events=' "$TMP/ingest-$mode.out" | tail -1 | grep -o ' spans=[0-9]*' | cut -d= -f2)
		set -- $out
		rec spans "ingest_${mode}_rate" all 1 "$(awk -v n="$3" -v t="$5" 'BEGIN {printf "%.0f", n / t}')"
		rec spans "ingest_${mode}_lost" all 1 "$(( $3 - ${exported:-0} ))"
		rec spans "ingest_${mode}_agent_ns" all 1 "$(awk -v n="$3" -v a="$c0" -v b="$c1" 'BEGIN {printf "%.0f", (b - a) / n}')"
		note "spans.ingest_$mode" "$3 records sent in $5 s (sender CPU $7 s); agent: ${line#cltagent: }; exported spans=${exported:-?}"
	done
	note spans.setup "wrk -t1 -c$HTTP_CONNS -d${HTTP_SECS}s (CPU $CPU_A) -> nginx 1 worker (CPU $CPU_B) without the shim, under it with CLT_TRACING=off, and with CLT_TRACING=spans sending to cltagent (CPU $CPU_A), $ROUNDS rounds, rotated"
}

# --- the return path: nginx under the shim, responses tagged or not ------
# Server CPU per request with CLT_TAG_RESPONSES=1 and =0 (wrk, a new
# traceparent per request: the server re-tags its socket for each
# response; and, =1 with the same traceparent on every request, what the
# tagged packets alone cost - on loopback the receiving node's IOAM work
# runs on the server's CPU), and a 16 MiB download's wall time, tagged /
# untagged.
retpath_nginx() { # ns port dir env...
	local ns=$1 port=$2 ng=$3
	shift 3
	mkdir -p "$ng"
	[ -f "$TMP/retpath.big" ] || head -c $((16 << 20)) /dev/urandom >"$TMP/retpath.big"
	cat >"$ng/nginx.conf" <<EOF
worker_processes 1;
master_process off;
daemon off;
pid $ng/nginx.pid;
error_log $ng/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $ng;
	proxy_temp_path $ng;
	fastcgi_temp_path $ng;
	uwsgi_temp_path $ng;
	scgi_temp_path $ng;
	keepalive_requests 1000000000;
	server {
		listen [::1]:$port;
		location = /big { alias $TMP/retpath.big; }
		location / { return 200 "ok\n"; }
	}
}
EOF
	ip netns exec "$ns" env LD_PRELOAD="$SHIM" "$@" taskset -c "$CPU_B" nginx -p "$ng" \
		-e "$ng/error.log" -c "$ng/nginx.conf" >"$ng/out" 2>&1 &
	NGINX_PID=$!
	BG_PIDS+=($!)
	disown
	topo_wait_port "$ns" "$port" || { cat "$ng/out" "$ng/error.log" >&2; return 1; }
}
bench_retpath() {
	have_shim || return 0
	command -v wrk >/dev/null && command -v nginx >/dev/null && command -v curl >/dev/null ||
		{ echo "bench: wrk, nginx or curl missing: retpath benchmark skipped" >&2; return 0; }
	local ns="bn$$p" r v pid c0 c1 line t
	local -A port=([resp_off]=8190 [resp_on]=8191 [resp_same]=8191) npid=()
	bench_ns "$ns"
	retpath_nginx "$ns" "${port[resp_off]}" "$TMP/nginx-rp-off" CLT_TAG_RESPONSES=0 || return 1
	npid[resp_off]=$NGINX_PID
	retpath_nginx "$ns" "${port[resp_on]}" "$TMP/nginx-rp-on" CLT_TAG_RESPONSES=1 || return 1
	npid[resp_on]=$NGINX_PID
	npid[resp_same]=$NGINX_PID
	load_note retpath
	for r in $(seq 1 "$ROUNDS"); do
		for v in $(order_rot "$r" resp_off resp_same resp_on); do
			pid=${npid[$v]}
			c0=$(proc_cpu_us "$pid")
			ip netns exec "$ns" env BENCH_TP_SAME=$([ $v = resp_same ] && echo 1 || echo 0) \
				taskset -c "$CPU_A" wrk -t1 -c"$HTTP_CONNS" -d"${HTTP_SECS}s" \
				-s "$TOP/bench/wrk_tp.lua" "http://[::1]:${port[$v]}/" >"$TMP/wrk.out" 2>&1
			c1=$(proc_cpu_us "$pid")
			line=$(grep '^WRK ' "$TMP/wrk.out") || { cat "$TMP/wrk.out" >&2; return 1; }
			set -- $line
			rec retpath srv_cpu_us "$v" "$r" "$(awk -v n="$3" -v a="$c0" -v b="$c1" 'BEGIN {printf "%.3f", (b - a) / n}')"
			rec retpath rps "$v" "$r" "$(awk -v n="$3" -v d="$5" 'BEGIN {printf "%.0f", n * 1e6 / d}')"
			printf 'bench: retpath round %s %-8s %s\n' "$r" "$v" "$line"
			# The download: the same traceparent, tagged by resp_on only.
			[ $v = resp_same ] && continue
			t=$(ip netns exec "$ns" taskset -c "$CPU_A" curl -s -o /dev/null -w '%{time_total}' \
				-H 'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' \
				"http://[::1]:${port[$v]}/big") || return 1
			rec retpath download_s "$v" "$r" "$t"
			printf 'bench: retpath round %s %-8s 16 MiB in %s s\n' "$r" "$v" "$t"
		done
	done
	kill -TERM "${npid[resp_on]}" "${npid[resp_off]}" 2>/dev/null
	note retpath.setup "wrk -t1 -c$HTTP_CONNS -d${HTTP_SECS}s, a new traceparent per request (CPU $CPU_A) -> nginx 1 worker (CPU $CPU_B) under the shim (CLT_TRACING=off, backend hopopts) with CLT_TAG_RESPONSES=0 / =1 (=1 also with the same traceparent on every request); then curl of a 16 MiB file with a traceparent over ::1, $ROUNDS rounds"
}

for b in $ONLY; do
	case $b in
	http | https | percall | ingest | offline | export | threads | baseline | upload | spans | bpf | retpath)
		echo "bench: == $b =="
		"bench_$b" || echo "bench: $b failed" >&2
		topo_cleanup
		trap bench_cleanup EXIT
		;;
	*) echo "bench: unknown benchmark '$b'" >&2 ;;
	esac
done
load_note end
note duration_s "$((SECONDS - start))"
python3 "$TOP/bench/report.py" "$RAW" "$META" >"$RES/latest.md"
echo
cat "$RES/latest.md"
