#!/usr/bin/env bash
# e2e_nginx.sh - nginx (Debian package) as a legacy reverse proxy under the
# shim: clients send requests with their own traceparent to nginx, nginx
# forwards the header upstream over kept-alive upstream connections, and
# the shim in nginx's worker tags each upstream request with its own IDs.
# The agent must export one network span per traced request, under that
# request's parent, including requests that reuse an upstream connection
# opened for another trace; an untraced request in between gets none.
set -u
. "$(dirname "$0")/../lib/e2e.sh"
topo_require_root
e2e_require_cmd nginx nginx-light
e2e_require_cmd curl curl
e2e_require_clt
e2e_setup nginx
echo "nginx: $(nginx -v 2>&1 | sed 's/.*: //')"

e2e_origin 8080
e2e_agent_start
mkdir -p "$E2E_W/nginx-tmp"
sed -e "s|@W@|$E2E_W|g" -e "s|@ORIGIN@|$TOPO_S_ADDR|g" "$E2E_TOP/tests/lib/nginx.conf.in" >"$E2E_W/nginx.conf"
e2e_shim "$TOPO_C" nginx -t -q -c "$E2E_W/nginx.conf" -p "$E2E_W" 2>"$E2E_W/nginx-t.stderr" ||
	fail "nginx rejects the configuration: $(cat "$E2E_W/nginx-t.stderr")"
e2e_shim "$TOPO_C" nginx -c "$E2E_W/nginx.conf" -p "$E2E_W" 2>"$E2E_W/nginx.stderr" &
E2E_PIDS+=($!)
topo_wait_port "$TOPO_C" 8000 || fail "nginx did not start: $(cat "$E2E_W/nginx.stderr" "$E2E_W/nginx.error.log" 2>/dev/null)"

e2e_say "eight requests through nginx, one client connection each: 7 traced, the 4th untraced"
tps=()
for i in 1 2 3 4 5 6 7 8; do
	tp=
	if [ "$i" -ne 4 ]; then tp=$(e2e_tp); tps+=("$tp"); fi
	# The client itself is not under the shim: only nginx is.
	code=$(ip netns exec "$TOPO_C" curl -sS -m 10 -o /dev/null -w '%{http_code}' \
		${tp:+-H "traceparent: $tp"} "http://[::1]:8000/ngx/$i" 2>>"$E2E_W/curl.stderr")
	[ "$code" = 200 ] || fail "request $i through nginx answered '$code': $(tail -3 "$E2E_W/nginx.error.log" 2>/dev/null)"
done
e2e_say "then four concurrent traced requests (the worker spreads them over its upstream connections)"
for i in 1 2 3 4; do tps+=("$(e2e_tp)"); done
curls=()
for i in 0 1 2 3; do
	ip netns exec "$TOPO_C" curl -sS -o /dev/null -m 10 -H "traceparent: ${tps[$((7 + i))]}" \
		"http://[::1]:8000/ngx/c$i" 2>>"$E2E_W/curl.stderr" &
	curls+=($!)
done
wait_rc=0
for j in "${curls[@]}"; do wait "$j" || wait_rc=1; done
[ $wait_rc -eq 0 ] || fail "a concurrent request through nginx failed: $(cat "$E2E_W/curl.stderr")"

read -r nreq nconn <<<"$(e2e_origin_conns 8080 /ngx/)"
echo "origin: $nreq requests from nginx over $nconn upstream connection(s)"
[ "$nreq" -eq 12 ] || fail "expected 12 requests at the origin"
[ "$nconn" -lt 8 ] || fail "nginx did not reuse its upstream connections ($nconn for 12 requests)"

e2e_agent_stop
e2e_check --origin "$E2E_W/origin.8080.jsonl" --expect "${tps[@]}" --min-requests 11 ||
	fail "the exported spans do not match the requests"
e2e_no_shim_errors "$E2E_W/nginx.stderr" "$E2E_W/nginx.error.log"
echo "PASS: nginx reverse proxy with upstream keep-alive ($nconn connections for 12 requests): 11 traced -> 11 network spans; untraced -> none"
