#!/usr/bin/env bash
# e2e_untouched.sh - programs the shim must leave alone, run under it with
# traceparents wherever a header or look-alike text fits: HTTP over IPv4,
# UDP datagrams that look like HTTP requests, HTTPS whose request has no
# traceparent (a TLS stream whose ciphertext must never be read as HTTP;
# traced HTTPS is shim_tls's), and a binary TCP protocol. Every transfer must be
# byte-identical (sha256), every program must succeed without a word from
# the shim, and a capture on the router must hold no packet with a
# hop-by-hop header (nor any IPv4 option). A traced plain-HTTP request at
# the end proves the capture and the agent would have seen a tag.
set -u
. "$(dirname "$0")/../lib/e2e.sh"
topo_require_root
e2e_require_cmd curl curl
e2e_require_cmd openssl openssl
e2e_require_cmd tcpdump tcpdump
e2e_require_cmd "$E2E_PY" python3
e2e_require_clt
e2e_setup untouched
e2e_add_ipv4
echo "curl: $(curl --version | head -1 | cut -d' ' -f1-2); $(openssl version | cut -d' ' -f1-2); $("$E2E_PY" --version 2>&1)"

e2e_origin 8080
ip netns exec "$TOPO_S" "$E2E_PY" "$E2E_TOP/tests/lib/echo.py" serve --tcp 9000 --udp 9001 \
	--ready "$E2E_W/echo.ready" 2>"$E2E_W/echo.stderr" &
E2E_PIDS+=($!)
e2e_wait_file "$E2E_W/echo.ready" 10 || fail "echo server did not start"
mkdir -p "$E2E_W/www"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=clt.test \
	-keyout "$E2E_W/key.pem" -out "$E2E_W/cert.pem" 2>"$E2E_W/openssl-req.stderr" ||
	fail "cannot make a test certificate: $(cat "$E2E_W/openssl-req.stderr")"
head -c 300000 /dev/urandom >"$E2E_W/www/blob.bin"
(cd "$E2E_W/www" && exec ip netns exec "$TOPO_S" openssl s_server -quiet -WWW -accept '[::]:8443' \
	-cert "$E2E_W/cert.pem" -key "$E2E_W/key.pem" </dev/null >"$E2E_W/s_server.stdout" 2>"$E2E_W/s_server.stderr") &
E2E_PIDS+=($!)
topo_wait_port "$TOPO_S" 8443 || fail "openssl s_server did not start: $(cat "$E2E_W/s_server.stderr")"
e2e_agent_start

sha() { sha256sum "$1" | cut -d' ' -f1; }
want_bytes=$("$E2E_PY" -c 'import hashlib, sys
sys.path.insert(0, sys.argv[1])
from origin_server import pattern
print(hashlib.sha256(pattern(300000)).hexdigest())' "$E2E_TOP/tests/lib")

e2e_capture_start "$TOPO_R" r0 "$E2E_W/untouched.pcap"
e2e_say "1. HTTP over IPv4 with a traceparent"
e2e_shim "$TOPO_C" curl -4 -sS -m 10 -o "$E2E_W/v4.bin" -H "traceparent: $(e2e_tp)" \
	"http://10.251.2.2:8080/bytes/300000" 2>"$E2E_W/v4.stderr" || fail "curl over IPv4 failed: $(cat "$E2E_W/v4.stderr")"
[ "$(sha "$E2E_W/v4.bin")" = "$want_bytes" ] || fail "IPv4: the body differs from what the origin sent"
echo "ok: IPv4 HTTP, 300000 octets, sha256 identical"

e2e_say "2. UDP datagrams that look like HTTP requests with a traceparent, over IPv6"
out=$(e2e_shim "$TOPO_C" "$E2E_PY" "$E2E_TOP/tests/lib/echo.py" udp "$TOPO_S_ADDR" 9001 20 2>"$E2E_W/udp.stderr") ||
	fail "UDP echo differs or failed: $out $(tail -3 "$E2E_W/udp.stderr")"
echo "ok: UDP, 20 datagrams echoed identical ($out)"

e2e_say "3. HTTPS over IPv6, no traceparent (openssl s_server)"
e2e_shim "$TOPO_C" curl -k -sS -m 10 -o "$E2E_W/tls.bin" \
	"https://[$TOPO_S_ADDR]:8443/blob.bin" 2>"$E2E_W/tls.stderr" || fail "curl over TLS failed: $(cat "$E2E_W/tls.stderr")"
[ "$(sha "$E2E_W/tls.bin")" = "$(sha "$E2E_W/www/blob.bin")" ] || fail "TLS: the file differs"
echo "ok: TLS, 300000 octets, sha256 identical"

e2e_say "4. a binary TCP protocol over IPv6, written in uneven chunks"
out=$(e2e_shim "$TOPO_C" "$E2E_PY" "$E2E_TOP/tests/lib/echo.py" tcp "$TOPO_S_ADDR" 9000 300000 2>"$E2E_W/tcp.stderr") ||
	fail "TCP echo differs or failed: $out $(tail -3 "$E2E_W/tcp.stderr")"
echo "ok: binary TCP stream echoed identical ($out)"
e2e_capture_stop

hbh=$(e2e_count_pcap "$E2E_W/untouched.pcap" "$E2E_HBH_FILTER")
v4opt=$(e2e_count_pcap "$E2E_W/untouched.pcap" 'ip and (ip[0] & 0xf) != 5')
n_v4=$(e2e_count_pcap "$E2E_W/untouched.pcap" 'ip and tcp port 8080')
n_udp=$(e2e_count_pcap "$E2E_W/untouched.pcap" 'ip6 and udp port 9001')
n_tls=$(e2e_count_pcap "$E2E_W/untouched.pcap" 'ip6 and tcp port 8443')
n_tcp=$(e2e_count_pcap "$E2E_W/untouched.pcap" 'ip6 and tcp port 9000')
echo "router capture: IPv4 HTTP $n_v4, UDP $n_udp, TLS $n_tls, binary TCP $n_tcp packets;" \
	"$hbh IPv6 packets with a hop-by-hop header, $v4opt IPv4 packets with options"
[ "$n_v4" -gt 0 ] && [ "$n_udp" -gt 0 ] && [ "$n_tls" -gt 0 ] && [ "$n_tcp" -gt 0 ] ||
	fail "the capture missed some of the traffic"
[ "$hbh" -eq 0 ] || fail "$hbh packets carried a hop-by-hop header"
[ "$v4opt" -eq 0 ] || fail "$v4opt IPv4 packets carried options"
echo "ok: no IOAM (no hop-by-hop header, no IPv4 option) on the wire"
e2e_no_shim_errors "$E2E_W"/v4.stderr "$E2E_W"/udp.stderr "$E2E_W"/tls.stderr "$E2E_W"/tcp.stderr

e2e_say "control: one traced plain-HTTP request over IPv6 is tagged"
e2e_capture_start "$TOPO_R" r0 "$E2E_W/control.pcap"
tp=$(e2e_tp)
e2e_shim "$TOPO_C" curl -sS -m 10 -o /dev/null -H "traceparent: $tp" "http://[$TOPO_S_ADDR]:8080/ctl" \
	2>"$E2E_W/ctl.stderr" || fail "the control request failed"
e2e_capture_stop
hbh=$(e2e_count_pcap "$E2E_W/control.pcap" "$E2E_HBH_FILTER")
echo "control capture: $hbh packets with a hop-by-hop header"
[ "$hbh" -gt 0 ] || fail "the control request was not tagged: the capture would not have seen a tag"
e2e_agent_stop
e2e_check --origin "$E2E_W/origin.8080.jsonl" --path-prefix /ctl --expect "$tp" ||
	fail "the agent's spans: only the control request may have a network span"
echo "PASS: IPv4, UDP, TLS and a binary protocol under the shim: byte-identical, no IOAM on the wire, no spans"
