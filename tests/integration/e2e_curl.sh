#!/usr/bin/env bash
# e2e_curl.sh - curl under the shim, end to end: several requests over one
# kept-alive connection (curl --next), each with its own traceparent, and
# one without; the agent must export one network span per traced request,
# under that request's parent, and none for the untraced one. A separate
# connection without any traceparent must carry no IOAM option at all.
set -u
. "$(dirname "$0")/../lib/e2e.sh"
topo_require_root
e2e_require_cmd curl curl
e2e_require_cmd tcpdump tcpdump
e2e_require_clt
e2e_setup curl
echo "curl: $(curl --version | head -1 | cut -d' ' -f1-2)"

e2e_origin 8080
e2e_agent_start
url="http://[$TOPO_S_ADDR]:8080"

e2e_say "a connection without traceparent carries no hop-by-hop option"
e2e_capture_start "$TOPO_R" r0 "$E2E_W/plain.pcap"
e2e_shim "$TOPO_C" curl -sS -o /dev/null "$url/plain/1" --next -o /dev/null "$url/plain/2" \
	2>"$E2E_W/curl-plain.stderr" || fail "curl without traceparent failed"
e2e_capture_stop
hbh=$(e2e_count_pcap "$E2E_W/plain.pcap" "$E2E_HBH_FILTER")
all=$(e2e_count_pcap "$E2E_W/plain.pcap" 'ip6')
echo "captured $all IPv6 packets on the router, $hbh with a hop-by-hop header"
[ "$all" -gt 0 ] || fail "the capture saw no traffic"
[ "$hbh" -eq 0 ] || fail "untraced requests carried $hbh packets with a hop-by-hop header"

e2e_say "four requests on one kept-alive connection: tp1, tp2, none, tp3"
tp1=$(e2e_tp) tp2=$(e2e_tp) tp3=$(e2e_tp)
out=$(e2e_shim "$TOPO_C" curl -sS -w '%{http_code} %{num_connects}\n' -o /dev/null \
	-H "traceparent: $tp1" "$url/ka/1" \
	--next -w '%{http_code} %{num_connects}\n' -o /dev/null -H "traceparent: $tp2" "$url/ka/2" \
	--next -w '%{http_code} %{num_connects}\n' -o /dev/null "$url/ka/3" \
	--next -w '%{http_code} %{num_connects}\n' -o /dev/null -H "traceparent: $tp3" "$url/ka/4" \
	2>"$E2E_W/curl-ka.stderr") || fail "curl failed: $(cat "$E2E_W/curl-ka.stderr")"
echo "curl status/new-connections per request: $(echo "$out" | tr '\n' ' ')"
[ "$(echo "$out" | grep -c '^200 ')" -eq 4 ] || fail "not every request answered 200"
read -r nreq nconn <<<"$(e2e_origin_conns 8080 /ka/)"
echo "origin: $nreq requests over $nconn connection(s)"
[ "$nreq" -eq 4 ] && [ "$nconn" -eq 1 ] || fail "expected 4 requests over 1 kept-alive connection"

e2e_agent_stop
e2e_check --origin "$E2E_W/origin.8080.jsonl" --expect "$tp1" "$tp2" "$tp3" --min-requests 3 ||
	fail "the exported spans do not match the requests"
e2e_no_shim_errors "$E2E_W"/curl-*.stderr
echo "PASS: curl keep-alive: 3 traced requests -> 3 network spans under their own parents; untraced -> none"
