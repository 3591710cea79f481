#!/usr/bin/env python3
"""waterfall.py - the demo's own trace view: one waterfall per trace.

Reads OTLP JSON lines (what demo/collector.py writes) and prints, for each
trace, its spans as an indented tree with start offsets, durations and bars
scaled to the trace: application spans, the network spans cltagent made from
the kernel's IOAM events - the request's and, when the server tags its
responses, the response's ("network (response)", hops marked ↩) - and one
row per IOAM node on the path. A hop whose
delay is large is flagged, so a congested link stands out at a glance.
With --html it also writes the same waterfalls as one self-contained page.

  waterfall.py SPANS.jsonl [--phases FILE] [--html OUT.html] [--color]

The phases file (written by demo.sh) has lines "EPOCH_NS LABEL"; each trace is
labelled with the last phase that began before it.
"""
import argparse
import html
import urllib.parse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
from otlp_receiver import load_spans  # noqa: E402

SLOW_HOP_NS = 100 * 1000 * 1000  # a hop this slow is flagged as congested
BAR = 40


def load_phases(path):
    phases = []
    if not path:
        return phases
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(" ", 1)
                if len(parts) == 2 and parts[0].isdigit():
                    phases.append((int(parts[0]), parts[1]))
    except FileNotFoundError:
        pass
    phases.sort()
    return phases


def span_kind(s):
    if "ioam.node.id" in s["attrs"]:
        return "hop"
    if any(k.startswith("ioam.") or k.startswith("clt.") for k in s["attrs"]):
        return "network"
    return "app"


def hop_name(s):
    a = s["attrs"]
    name = a.get("ioam.node.name") or s["name"]
    if "ioam.node.id" in a and str(a["ioam.node.id"]) not in str(name):
        name = "%s (node %s)" % (name, a["ioam.node.id"])
    return name


def app_label(s):
    """HTTP instrumentations name spans by method only: add where it went."""
    a = s["attrs"]
    label = s["name"]
    path = a.get("url.path") or a.get("http.target") or a.get("http.route")
    if not path and a.get("url.full"):
        path = urllib.parse.urlsplit(str(a["url.full"])).path
    host = a.get("network.peer.address") or a.get("server.address") or a.get("net.peer.name")
    if s["kind"] == 3 and host and path:  # client
        label += " %s%s" % ("[%s]" % host if ":" in str(host) else host, path)
    elif path and str(path) not in label:
        label += " " + str(path)
    kind = {2: "server", 3: "client"}.get(s["kind"])
    if kind and kind not in label:
        label += " (%s)" % kind
    return label


def build_traces(spans, phases=()):
    """Group spans into traces: a list of dicts, oldest first."""
    by_trace = {}
    for s in spans:
        if s["traceId"]:
            by_trace.setdefault(s["traceId"], {})[s["spanId"]] = s
    traces = []
    for tid, smap in by_trace.items():
        children = {}
        roots = []
        for s in smap.values():
            p = s["parentSpanId"]
            if p and p in smap:
                children.setdefault(p, []).append(s)
            else:
                roots.append(s)
        rows = []

        def walk(s, depth, prev_hop, at=None):
            kind = span_kind(s)
            row = {"span": s, "depth": depth, "kind": kind, "label": app_label(s),
                   "service": s["service"], "slow": False, "start": s["start"],
                   "dur": max(s["end"] - s["start"], 0), "delay": None}
            if kind == "hop":
                # cltagent's hop span covers the request's packets at that node;
                # the one-way delay from the previous node is in ioam.delay.*.
                # Show it as a packet's journey: each hop starts where the last
                # one arrived and lasts the average delay.
                a = s["attrs"]
                # A response's hops (ioam.direction) are the way back.
                row["label"] = "%s %s%s" % (
                    "hop ↩" if a.get("ioam.direction") == "response" else "hop",
                    prev_hop + " → " if prev_hop else "→ ", hop_name(s))
                if "ioam.delay.avg_ns" in a:
                    row["delay"] = (a.get("ioam.delay.min_ns", 0), a["ioam.delay.avg_ns"],
                                    a.get("ioam.delay.max_ns", 0))
                    row["dur"] = row["delay"][1]
                else:
                    row["dur"] = 0
                row["start"] = at[0] if at else s["start"]
                if at:
                    at[0] += row["dur"]
                row["slow"] = row["dur"] >= SLOW_HOP_NS
            rows.append(row)
            prev = None
            cursor = [s["start"]]
            for c in sorted(children.get(s["spanId"], []),
                            key=lambda x: (x["attrs"].get("ioam.hop.index", 0), x["start"])):
                walk(c, depth + 1, prev, cursor)
                if span_kind(c) == "hop":
                    prev = c["attrs"].get("ioam.node.name") or c["name"]

        for r in sorted(roots, key=lambda x: x["start"]):
            if r["parentSpanId"]:
                # The parent was never exported (e.g. a client without a tracer).
                rows.append({"span": None, "depth": 0, "kind": "missing",
                             "label": "(span %s, not exported)" % r["parentSpanId"],
                             "service": "", "slow": False})
                walk(r, 1, None)
            else:
                walk(r, 0, None)
        start = min(s["start"] for s in smap.values())
        end = max(s["end"] for s in smap.values())
        user = result = None
        for s in smap.values():
            user = user or s["attrs"].get("login.username")
            result = result or s["attrs"].get("login.result")
        phase = ""
        for t, label in phases:
            if t <= start:
                phase = label
        traces.append({"trace_id": tid, "start": start, "end": end, "rows": rows,
                       "user": user, "result": result, "phase": phase,
                       "slow": any(r["slow"] for r in rows),
                       "hops": [r for r in rows if r["kind"] == "hop"]})
    traces.sort(key=lambda t: t["start"])
    return traces


def fmt_dur(ns):
    if ns >= 1000 * 1000 * 1000:
        return "%.3f s" % (ns / 1e9)
    if ns >= 1000 * 1000:
        return "%.1f ms" % (ns / 1e6)
    return "%.0f µs" % (ns / 1e3)


def dur_text(r):
    if r["kind"] == "hop" and r["delay"] is None:
        return "—"  # first IOAM node: no earlier timestamp to measure from
    return fmt_dur(r["dur"])


def trace_title(i, t):
    title = "trace %d" % (i + 1)
    if t["user"] is not None:
        title = "login %d: user %r → %s" % (i + 1, t["user"], t["result"] or "?")
    if t["phase"]:
        title += "   [%s]" % t["phase"]
    return title


def render_text(traces, color=False):
    def c(code, s):
        return "\033[%sm%s\033[0m" % (code, s) if color else s

    out = []
    for i, t in enumerate(traces):
        total = max(t["end"] - t["start"], 1)
        out.append(c("1", trace_title(i, t)) + "   trace-id %s   %s" % (t["trace_id"],
                                                                        fmt_dur(total)))
        out.append("  %-44s %-9s %10s %10s  %s" % ("span", "service", "start", "duration", ""))
        for r in t["rows"]:
            s = r["span"]
            label = "  " * r["depth"] + r["label"]
            if s is None:
                out.append("  " + c("2", label))
                continue
            off = r["start"] - t["start"]
            dur = r["dur"]
            a = int(off * BAR / total)
            b = max(1, int(round(dur * BAR / total)))
            a = min(a, BAR - 1)
            b = min(b, BAR - a)
            bar = "|" + " " * a + ("█" * b) + " " * (BAR - a - b) + "|"
            line = "  %-44s %-9s %10s %10s  " % (label[:44], r["service"][:9], fmt_dur(off),
                                                dur_text(r))
            if r["kind"] == "hop":
                bar = c("31;1" if r["slow"] else "36", bar)
            elif r["kind"] == "network":
                bar = c("34", bar)
            line += bar
            if r["slow"]:
                line += c("31;1", "  ◀ congestion")
            out.append(line)
        out.append("")
    return "\n".join(out)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;background:#f6f7f9;color:#1d2330}
h1{font-size:22px;margin:0 0 4px} p.sub{color:#5b6475;margin:0 0 20px}
.trace{background:#fff;border:1px solid #dde1e8;border-radius:8px;margin:0 0 18px;padding:12px 16px}
.trace.slow{border-color:#e0a3a3}
.head{display:flex;gap:14px;align-items:baseline;flex-wrap:wrap;margin-bottom:8px}
.head b{font-size:16px} .tid{font-family:ui-monospace,monospace;color:#8a93a5;font-size:12px}
.ok{color:#1a7f37;font-weight:600} .failed{color:#b42318;font-weight:600}
.phase{background:#eef1f6;border-radius:10px;padding:1px 9px;font-size:12px;color:#44506a}
.phase.cong{background:#fde8e8;color:#9b1c1c}
table{width:100%;border-collapse:collapse;font-size:13px}
td{padding:3px 6px;white-space:nowrap} td.lbl{width:34%} td.svc{width:8%;color:#5b6475}
td.num{width:8%;text-align:right;font-variant-numeric:tabular-nums;color:#44506a}
td.bar{width:42%} .track{position:relative;height:14px;background:#f0f2f5;border-radius:3px}
.b{position:absolute;top:0;height:14px;border-radius:3px;min-width:2px}
.app .b{background:#4f7fd9} .network .b{background:#7b61c9} .hop .b{background:#2aa198}
.hop.slow .b{background:#d92d20} .hop.slow td{color:#b42318;font-weight:600}
.missing td{color:#8a93a5;font-style:italic}
.flag{color:#d92d20;font-weight:700;margin-left:6px}
"""


def render_html(traces, refresh=None, title="CLT login demo: traces", subtitle=""):
    e = html.escape
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             "<title>%s</title><style>%s</style>" % (e(title), CSS)]
    if refresh:
        parts.append("<meta http-equiv='refresh' content='%d'>" % refresh)
    parts.append("</head><body><h1>%s</h1>" % e(title))
    if subtitle:
        parts.append("<p class='sub'>%s</p>" % e(subtitle))
    parts.append("<p class='sub'>Application spans (OpenTelemetry), the network spans of both "
                 "directions (the request's, and the response's: <i>network (response)</i>, "
                 "hops marked ↩) and one row per IOAM node with its one-way delay from the "
                 "previous node, from cltagent. %d trace(s).</p>" % len(traces))
    for i, t in enumerate(traces):
        total = max(t["end"] - t["start"], 1)
        cls = "trace slow" if t["slow"] else "trace"
        parts.append("<div class='%s' id='trace-%d'><div class='head'>" % (cls, i + 1))
        if t["user"] is not None:
            res = t["result"] or "?"
            parts.append("<b>login %d: user &lsquo;%s&rsquo;</b> <span class='%s'>%s</span>"
                         % (i + 1, e(str(t["user"])), "ok" if res == "OK" else "failed", e(res)))
        else:
            parts.append("<b>trace %d</b>" % (i + 1))
        if t["phase"]:
            pc = "phase cong" if "congested" in t["phase"] else "phase"
            parts.append("<span class='%s'>%s</span>" % (pc, e(t["phase"])))
        parts.append("<span>%s</span><span class='tid'>%s</span></div>"
                     % (e(fmt_dur(total)), e(t["trace_id"])))
        parts.append("<table>")
        for r in t["rows"]:
            s = r["span"]
            pad = "padding-left:%dpx" % (6 + 18 * r["depth"])
            if s is None:
                parts.append("<tr class='missing'><td class='lbl' style='%s'>%s</td>"
                             "<td></td><td></td><td></td><td></td></tr>" % (pad, e(r["label"])))
                continue
            off = r["start"] - t["start"]
            dur = r["dur"]
            left = 100.0 * off / total
            width = max(100.0 * dur / total, 0.2)
            width = min(width, 100.0 - left)
            cls = r["kind"] + (" slow" if r["slow"] else "")
            flag = "<span class='flag'>◀ congestion</span>" if r["slow"] else ""
            tip = ""
            if r["delay"]:
                tip = " title='one-way delay from the previous node: min %s, avg %s, max %s'" % (
                    fmt_dur(r["delay"][0]), fmt_dur(r["delay"][1]), fmt_dur(r["delay"][2]))
            parts.append("<tr class='%s'%s><td class='lbl' style='%s'>%s%s</td>"
                         "<td class='svc'>%s</td><td class='num'>+%s</td><td class='num'>%s</td>"
                         "<td class='bar'><div class='track'><div class='b' "
                         "style='left:%.3f%%;width:%.3f%%'></div></div></td></tr>"
                         % (cls, tip, pad, e(r["label"]), flag, e(r["service"]), e(fmt_dur(off)),
                            e(dur_text(r)), left, width))
        parts.append("</table></div>")
    if not traces:
        parts.append("<p>No traces yet.</p>")
    parts.append("</body></html>\n")
    return "".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("spans")
    ap.add_argument("--phases")
    ap.add_argument("--html")
    ap.add_argument("--color", action="store_true", help="ANSI colours (default: when a tty)")
    ap.add_argument("--subtitle", default="", help="a line under the HTML page's title")
    a = ap.parse_args()
    traces = build_traces(load_spans(a.spans), load_phases(a.phases))
    if not traces:
        print("waterfall: no spans in %s" % a.spans, file=sys.stderr)
        return 1
    print(render_text(traces, color=a.color or sys.stdout.isatty()))
    if a.html:
        with open(a.html, "w") as f:
            f.write(render_html(traces, subtitle=a.subtitle))
        print("waterfall: wrote %s" % a.html)
    return 0


if __name__ == "__main__":
    sys.exit(main())
