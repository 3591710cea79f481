#!/usr/bin/env bash
# trace_nginx.sh - SERVER spans of an event-loop server: nginx (one
# worker, every connection on one thread) under libcltshim.so with
# CLT_TRACING=spans. 8 concurrent keep-alive clients, each request with
# its own traceparent: one SERVER span per request, each under exactly
# its own request's parent (none under another's), for a fixed answer, a
# static file sent with sendfile, and a proxied request (nginx forwards
# the client's traceparent upstream: its SERVER span's parent is the
# client's span).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/topo.sh
topo_require_root
. tests/lib/harness.sh
need_programs nginx
. tests/lib/shim_common.sh
. tests/lib/agent_helpers.sh
nginx_traced "tng$$" nginx-edge
head -c 3000 /dev/urandom | base64 >"$W/www/file.txt"

# 8 clients at once, 15 requests each on one keep-alive connection, each its own traceparent.
ip netns exec "$NS" python3 - "$AG_TMP/sent.txt" <<'PY' || fail "clients failed"
import http.client, sys, threading
paths = ["/fixed", "/file.txt", "/proxy/hello"]
out, lock = [], threading.Lock()
def client(n):
    c = http.client.HTTPConnection("::1", 8000, timeout=10)
    for i in range(15):
        tid, sid = "%08x%024x" % (0xabc00000 + n, i + 1), "%016x" % ((n << 8) + i + 1)
        p = paths[i % 3]
        c.request("GET", p + "?n=%d&i=%d" % (n, i), headers={"traceparent": "00-%s-%s-01" % (tid, sid)})
        r = c.getresponse(); r.read()
        assert r.status == 200, (p, r.status)
        with lock: out.append("%s %s %s" % (tid, sid, p))
    c.close()
ts = [threading.Thread(target=client, args=(n,)) for n in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
open(sys.argv[1], "w").write("\n".join(out) + "\n")
assert len(out) == 120
PY
check "120 requests answered" [ "$(wc -l <"$AG_TMP/sent.txt")" = 120 ]
nginx_traced_stop nginx-edge 120
python3 - "$AG_TMP/spans.txt" "$AG_TMP/sent.txt" <<'PY'
import json, sys
sp = [json.loads(l) for l in open(sys.argv[1])]
sp = [s for s in sp if s["resource"]["service.name"] == "nginx-edge"]
sent = {l.split()[0]: l.split() for l in open(sys.argv[2]) if l.strip()}
fails = 0
def check(what, ok):
    global fails
    print(("ok   - " if ok else "FAIL - ") + what)
    fails += not ok
check("one SERVER span per request (120), got %d" % len(sp), len(sp) == 120)
wrong = [s for s in sp if s["traceId"] not in sent or s.get("parentSpanId") != sent[s["traceId"]][1]]
check("every span under its own request's parent (%d wrong)" % len(wrong), not wrong)
paths = {s["traceId"]: s["attrs"].get("url.path") for s in sp}
check("url.path is the request's", all(paths.get(t) == v[2] for t, v in sent.items()))
check("all SERVER, status 200, GET", all(s["kind"] == 2 and s["attrs"].get("http.response.status_code") == "200" and s["name"] == "GET" for s in sp))
check("span ends after it starts", all(int(s["endTimeUnixNano"]) >= int(s["startTimeUnixNano"]) for s in sp))
sys.exit(1 if fails else 0)
PY
rc=$?
[ $rc -eq 0 ] || fails=$((fails + 1))
summary
