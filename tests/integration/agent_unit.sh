#!/usr/bin/env bash
# agent_unit.sh - the systemd unit agent/cltagent.service: systemd-analyze
# verify accepts it (skipped, loudly, without systemd-analyze), and the
# agent runs with exactly the rights the unit gives it - systemd is not
# PID 1 here, so setpriv applies the unit's AmbientCapabilities,
# CapabilityBoundingSet, NoNewPrivileges and an unprivileged uid (the
# unit's DynamicUser) - reads the kernel's IOAM events and exports a span
# for tagged traffic. cltagent --check then finds it and reports its
# capabilities ok.
set -u
. "$(dirname "$0")/../lib/topo.sh"
. "$(dirname "$0")/../lib/agent_helpers.sh"
. "$(dirname "$0")/../lib/stage.sh"
topo_require_root
ag_need_binaries
command -v setpriv >/dev/null || { echo "SKIP: setpriv (util-linux) not installed"; exit 77; }
UNIT_SRC=$AG_TOP/agent/cltagent.service
# The binary as an unprivileged user can run it, wherever the checkout is.
STAGED=$(stage_file "$AG_AGENT" cltagent) || ag_fail "cannot stage cltagent"
UNIT=$AG_TMP/cltagent.service
sed "s|@BINDIR@|$(dirname "$STAGED")|g" "$UNIT_SRC" >"$UNIT"

if command -v systemd-analyze >/dev/null; then
	# --man=no: the man page is installed with the unit, not here.
	if ! systemd-analyze verify --man=no "$UNIT" >"$AG_TMP/verify.log" 2>&1 || [ -s "$AG_TMP/verify.log" ]; then
		cat "$AG_TMP/verify.log"
		ag_fail "systemd-analyze verify rejects or warns about the unit"
	fi
	echo "checked: systemd-analyze verify accepts the unit, no warning"
else
	echo "SKIPPED CHECK (loudly): systemd-analyze is not installed: the unit is not verified (apt-get install systemd)"
fi

# unit_value KEY: the unit's value for KEY (the last assignment wins, as in systemd).
unit_value() { sed -n "s/^$1=//p" "$UNIT" | tail -1; }
# caps_arg "CAP_A CAP_B": "-all,+a,+b" for setpriv.
caps_arg() {
	local c out=-all
	for c in $1; do
		case $c in CAP_*) ;; *) ag_fail "unexpected capability '$c' in the unit" ;; esac
		c=${c#CAP_}
		out="$out,+$(echo "$c" | tr 'A-Z' 'a-z')"
	done
	echo "$out"
}
AMBIENT=$(unit_value AmbientCapabilities)
BOUNDING=$(unit_value CapabilityBoundingSet)
[ -n "$AMBIENT" ] && [ -n "$BOUNDING" ] || ag_fail "the unit names no AmbientCapabilities/CapabilityBoundingSet"
[ "$(unit_value DynamicUser)" = yes ] || ag_fail "the unit no longer sets DynamicUser=yes: adapt this test"
NNP=()
[ "$(unit_value NoNewPrivileges)" = yes ] && NNP=(--no-new-privs)
# ExecStart's own flags, without the environment file's $CLTAGENT_OPTS.
read -r -a EXEC <<<"$(unit_value ExecStart | sed 's/\$CLTAGENT_OPTS//')"
[ "${EXEC[0]}" = "$STAGED" ] || ag_fail "ExecStart does not start @BINDIR@/cltagent: ${EXEC[0]}"
AS_UNIT=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps="$(caps_arg "$AMBIENT")"
	--ambient-caps="$(caps_arg "$AMBIENT")" --bounding-set="$(caps_arg "$BOUNDING")" "${NNP[@]}")
echo "checked: the unit gives Ambient '$AMBIENT', Bounding '$BOUNDING'; running as: ${AS_UNIT[*]}"

topo_single "un$$" || ag_fail "topology"
trap ag_cleanup EXIT
NS=$TOPO_S
OUT=$AG_TMP/spans.jsonl
# The agent's ready file lives where its unprivileged user may write.
chmod 0711 "$AG_TMP"
mkdir -m 0777 "$AG_TMP/run"
READY=$AG_TMP/run/ready
ag_receiver "$NS" 4318 "$OUT"
ag_sink "$NS" ::1 8080 tcp
ip netns exec "$NS" "${AS_UNIT[@]}" "${EXEC[@]}" --tag-socket none -e "http://[::1]:4318/v1/traces" \
	--idle-timeout 200ms --batch-timeout 200ms --ready-file "$READY" 2>"$AG_TMP/agent.log" &
AG_PID=$!
AG_PIDS+=("$AG_PID")
ag_wait_file "$READY" "$AG_PID" "cltagent with the unit's rights" "$AG_TMP/agent.log"
PID=$(cat "$READY")
mask=0
for c in $AMBIENT; do
	case $c in
	CAP_NET_ADMIN) mask=$((mask | 1 << 12)) ;;
	CAP_NET_RAW) mask=$((mask | 1 << 13)) ;;
	CAP_BPF) mask=$((mask | 1 << 39)) ;; # --bpf
	*) ag_fail "this test knows no bit for $c" ;;
	esac
done
want=$(printf '%016x' "$mask")
eff=$(sed -n 's/^CapEff:\t//p' "/proc/$PID/status")
uid=$(awk '/^Uid:/ {print $3}' "/proc/$PID/status")
[ "$eff" = "$want" ] && [ "$uid" = 65534 ] || ag_fail "agent runs with CapEff=$eff uid=$uid, want $want uid 65534"
echo "checked: the agent runs as uid $uid with CapEff=$eff, exactly the unit's capabilities"

TRACE=4bf92f3577b34da6a3ce929d0e0e4736
CLT_BACKEND=hopopts ip netns exec "$NS" "$AG_SEND" -n 5 ::1 8080 "$TRACE" 00f067aa0ba902b7 || ag_fail "clt_send"
ag_wait_spans "$OUT" 1 10 || { cat "$AG_TMP/agent.log"; ag_fail "no span from the agent with the unit's rights"; }
PYTHONPATH=$AG_TOP/tests/lib python3 - "$OUT" "$TRACE" <<'PY' || ag_fail "span"
import sys
from otlp_receiver import load_spans
spans = [s for s in load_spans(sys.argv[1]) if s["traceId"] == sys.argv[2]]
assert spans, "no span with the request's trace-id"
print(f"checked: {len(spans)} spans with the request's trace-id from IOAM events read with the unit's rights")
PY

ip netns exec "$NS" "$AG_AGENT" --check --tag-socket none -e "http://[::1]:4318/v1/traces" \
	--ready-file "$READY" >"$AG_TMP/check.out" 2>&1 || { cat "$AG_TMP/check.out"; ag_fail "--check finds a problem"; }
grep -q "^ok      capabilities: agent pid $PID has CAP_NET_ADMIN" "$AG_TMP/check.out" ||
	{ cat "$AG_TMP/check.out"; ag_fail "--check on the unit's agent"; }
echo "checked: cltagent --check reports the running agent's capabilities ok"
ag_stop_agent
[ "$AG_RC" -eq 0 ] || { cat "$AG_TMP/agent.log"; ag_fail "agent exit status $AG_RC"; }
echo "PASS"
