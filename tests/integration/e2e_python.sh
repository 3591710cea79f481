#!/usr/bin/env bash
# e2e_python.sh - Python under the shim, end to end: http.client on one
# kept-alive connection (three traced requests and one without
# traceparent) and urllib (a connection per request, two traced, one not).
# The agent must export exactly one network span per traced request, under
# that request's own parent, and nothing for the untraced ones.
set -u
. "$(dirname "$0")/../lib/e2e.sh"
topo_require_root
e2e_require_cmd "$E2E_PY" python3
e2e_require_clt
e2e_setup python
echo "python: $("$E2E_PY" --version 2>&1)"

e2e_origin 8080
e2e_agent_start
tps=()
for i in 1 2 3 4 5; do tps+=("$(e2e_tp)"); done

cat >"$E2E_W/client.py" <<'PY'
import http.client, sys, urllib.request
host, tps = sys.argv[1], sys.argv[2:]
# http.client: one connection, kept alive across four requests.
c = http.client.HTTPConnection(host, 8080, timeout=10)
for path, tp in (("/hc/1", tps[0]), ("/hc/2", tps[1]), ("/hc/3", None), ("/hc/4", tps[2])):
    c.request("GET", path, headers={"traceparent": tp} if tp else {})
    r = c.getresponse()
    r.read()
    assert r.status == 200, (path, r.status)
c.close()
# urllib: a new connection per request.
for path, tp in (("/ul/1", tps[3]), ("/ul/2", None), ("/ul/3", tps[4])):
    req = urllib.request.Request("http://[%s]:8080%s" % (host, path),
                                 headers={"traceparent": tp} if tp else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200, (path, r.status)
        r.read()
print("python client: 7 requests answered 200")
PY
e2e_say "http.client keep-alive (tp1, tp2, none, tp3) and urllib (tp4, none, tp5)"
e2e_shim "$TOPO_C" "$E2E_PY" "$E2E_W/client.py" "$TOPO_S_ADDR" "${tps[@]}" 2>"$E2E_W/python.stderr" ||
	fail "the Python client failed: $(tail -5 "$E2E_W/python.stderr")"
read -r nreq nconn <<<"$(e2e_origin_conns 8080 /hc/)"
echo "origin: http.client $nreq requests over $nconn connection(s)"
[ "$nreq" -eq 4 ] && [ "$nconn" -eq 1 ] || fail "expected 4 http.client requests over 1 kept-alive connection"
read -r nreq nconn <<<"$(e2e_origin_conns 8080 /ul/)"
echo "origin: urllib $nreq requests over $nconn connection(s)"
[ "$nreq" -eq 3 ] || fail "expected 3 urllib requests"

e2e_agent_stop
e2e_check --origin "$E2E_W/origin.8080.jsonl" --expect "${tps[@]}" --min-requests 5 ||
	fail "the exported spans do not match the requests"
e2e_no_shim_errors "$E2E_W/python.stderr"
echo "PASS: Python http.client keep-alive and urllib: 5 traced requests -> 5 network spans; untraced -> none"
