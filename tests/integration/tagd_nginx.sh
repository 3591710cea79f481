#!/usr/bin/env bash
# tagd_nginx.sh - nginx as the legacy reverse proxy, with its usual
# unprivileged workers (user www-data, no capabilities), under the shim:
# the workers' upstream requests are tagged through cltagent's tag socket
# with the IDs of each request's traceparent, also when requests with
# different trace contexts share one kept-alive upstream connection.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
command -v nginx >/dev/null || { echo "SKIP: nginx not installed (nginx-light)"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
getent passwd www-data >/dev/null || { echo "SKIP: no www-data user"; exit 77; }
. tests/lib/shim_common.sh
AGENT=$PWD/$BUILD/cltagent
[ -x "$AGENT" ] || { echo "FAIL: $AGENT missing (make BUILD=$BUILD all tests)"; exit 1; }
shim_setup "td$$"
NGINX_PORT=8000

W=$TMP/w
mkdir -p "$W/tmp"
chmod 0711 "$TMP" "$W"
SOCK=$W/tag.sock
cat >"$W/nginx.conf" <<CONF
# Debian's stock worker user; nginx clears the workers' environment except
# for variables named by "env": the shim's settings must be named.
user www-data;
worker_processes 2;
env CLT_AGENT_SOCKET;
env CLT_LOG;
env CLT_LOG_FILE;
pid $W/nginx.pid;
error_log $W/error.log warn;
daemon off;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $W/tmp/body;
	proxy_temp_path $W/tmp/proxy;
	fastcgi_temp_path $W/tmp/fastcgi;
	uwsgi_temp_path $W/tmp/uwsgi;
	scgi_temp_path $W/tmp/scgi;
	upstream origin { server [::1]:$SHIM_PORT; keepalive 4; }
	server {
		listen [::1]:$NGINX_PORT;
		location / {
			proxy_pass http://origin;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
CONF

ip netns exec "$NS" "$AGENT" -o "$TMP/spans.jsonl" --tag-socket "$SOCK" --tag-group www-data \
	2>"$TMP/agent.log" &
AGENT_PID=$!
for i in $(seq 1 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { echo "FAIL: agent did not start: $(cat "$TMP/agent.log")"; exit 1; }

ip netns exec "$NS" env LD_PRELOAD="$SHIM" CLT_AGENT_SOCKET="$SOCK" CLT_LOG=info CLT_LOG_FILE="$W/shim.log" \
	nginx -c "$W/nginx.conf" -p "$W" 2>"$W/nginx.stderr" &
NGINX_PID=$!
topo_wait_port "$NS" "$NGINX_PORT" || { echo "FAIL: nginx did not start: $(cat "$W/nginx.stderr" "$W/error.log")"; exit 1; }
# The workers exist, and have dropped to their user, some time after the
# port listens: wait (at most 20 s) until both of the configured workers
# run as someone other than root, rather than sleeping.
for i in $(seq 1 200); do
	[ "$(ps -o user= --ppid "$NGINX_PID" | grep -cv '^root')" -ge 2 ] && break
	sleep 0.1
done
workers=$(ps -o user= --ppid "$NGINX_PID" | sort -u | tr '\n' ' ')
check "nginx workers run as www-data ($workers)" [ "$workers" = "www-data " ]
wpid=$(pgrep -P "$NGINX_PID" | head -1)
capeff=$(awk '/CapEff/ {print $2}' /proc/"$wpid"/status)
check "a worker has no effective capability (CapEff=$capeff)" [ "$capeff" = 0000000000000000 ]

events_start "$TMP/ev"
ids=()
ok=0
for i in 1 2 3 4 5 6; do
	t=$(printf '%08x' $((RANDOM * 32768 + RANDOM)))0000$(printf '%04x' $i)ab12cd34ef56ab78
	s=$(printf '%012x' $((RANDOM * 65536 + i)))$(printf '%04x' $i)
	ids+=("$t $s")
	code=$(ip netns exec "$NS" curl -s -o /dev/null -w '%{http_code}' -H "traceparent: 00-$t-$s-01" \
		"http://[::1]:$NGINX_PORT/r$i")
	[ "$code" = 200 ] && ok=$((ok + 1))
done
events_stop
check "six requests through nginx answered 200 ($ok)" [ $ok -eq 6 ]
missing=0
for p in "${ids[@]}"; do
	set -- $p
	[ "$(events_with "$1" "$2")" -ge 1 ] || { echo "# no event for $1 $2"; missing=$((missing + 1)); }
done
check "each upstream request's IOAM events carry its traceparent's IDs ($((6 - missing))/6)" [ $missing -eq 0 ]
check "every IOAM event is tagged ($(events_tagged)/$(events_all))" [ "$(events_tagged)" -eq "$(events_all)" -a "$(events_all)" -ge 6 ]
# nginx takes stderr over for its error log: the shim logs to a file.
cat "$W/shim.log" >"$W/all.log"
grep "clt-shim" "$W/all.log" | sed -e 's/.*clt-shim\[[0-9]*\]/# clt-shim/' | sort -u
check "the workers' shim picked the agent backend" grep -q "backend agent: " "$W/all.log"
check "no shim warnings" [ "$(grep -c 'clt-shim.*warn:' "$W/all.log")" -eq 0 ]

kill -TERM "$NGINX_PID"
wait "$NGINX_PID" 2>/dev/null
kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
grep "tag requests" "$TMP/agent.log" | sed 's/^/# /'
tagged=$(grep -o "tag requests.*" "$TMP/agent.log" | tail -1 | tr ' ' '\n' | sed -n 's/^tagged=//p')
check "the agent tagged once per request at least (tagged=$tagged)" [ "${tagged:-0}" -ge 6 ]

summary
