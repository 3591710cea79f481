#!/usr/bin/env bash
# e2e_https.sh - HTTPS end to end: curl (OpenSSL) sends several requests
# over one kept-alive TLS connection (curl --next), each with its own
# traceparent, and one without; wget (GnuTLS) one more. The agent must
# export one network span per traced request, under that request's
# parent, and none for the untraced one. The origin's certificate is made
# here.
set -u
. "$(dirname "$0")/../lib/e2e.sh"
topo_require_root
e2e_require_cmd curl curl
e2e_require_cmd wget wget
e2e_require_cmd openssl openssl
e2e_require_clt
e2e_setup https
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=origin \
	-keyout "$E2E_W/key.pem" -out "$E2E_W/cert.pem" 2>"$E2E_W/openssl.stderr" ||
	fail "cannot make the origin's certificate"

E2E_ORIGIN_ARGS="--cert $E2E_W/cert.pem --key $E2E_W/key.pem" e2e_origin 8443
e2e_agent_start
url="https://[$TOPO_S_ADDR]:8443"

e2e_say "curl: four requests on one kept-alive TLS connection: tp1, tp2, none, tp3"
tp1=$(e2e_tp) tp2=$(e2e_tp) tp3=$(e2e_tp) tp4=$(e2e_tp)
c=(-k --http1.1 -sS -w '%{http_code} %{num_connects}\n' -o /dev/null)
out=$(e2e_shim "$TOPO_C" curl "${c[@]}" -H "traceparent: $tp1" "$url/ka/1" \
	--next "${c[@]}" -H "traceparent: $tp2" "$url/ka/2" \
	--next "${c[@]}" "$url/ka/3" \
	--next "${c[@]}" -H "traceparent: $tp3" "$url/ka/4" \
	2>"$E2E_W/curl-ka.stderr") || fail "curl failed: $(cat "$E2E_W/curl-ka.stderr")"
echo "curl status/new-connections per request: $(echo "$out" | tr '\n' ' ')"
[ "$(echo "$out" | grep -c '^200 ')" -eq 4 ] || fail "not every request answered 200"
read -r nreq nconn <<<"$(e2e_origin_conns 8443 /ka/)"
echo "origin: $nreq requests over $nconn connection(s)"
[ "$nreq" -eq 4 ] && [ "$nconn" -eq 1 ] || fail "expected 4 requests over 1 kept-alive connection"

e2e_say "wget (GnuTLS): one request, tp4"
e2e_shim "$TOPO_C" wget -q -O /dev/null --no-check-certificate --header "traceparent: $tp4" \
	"$url/wget/1" 2>"$E2E_W/wget.stderr" || fail "wget failed: $(cat "$E2E_W/wget.stderr")"

e2e_agent_stop
e2e_check --origin "$E2E_W/origin.8443.jsonl" --expect "$tp1" "$tp2" "$tp3" "$tp4" --min-requests 4 ||
	fail "the exported spans do not match the requests"
e2e_no_shim_errors "$E2E_W"/curl-*.stderr "$E2E_W"/wget.stderr
echo "PASS: HTTPS: 4 traced requests (curl keep-alive, wget) -> 4 network spans under their own parents; untraced -> none"
