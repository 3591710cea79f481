#!/usr/bin/env python3
"""report.py RAW META - turn bench/run.sh's raw samples into the Markdown
table the README quotes: every figure as median (min-max) over the rounds,
ratios taken round by round against the baseline measured in the same
round, each next to its target with PASS or MISS.

RAW lines: section, metric, variant, round, value (tab-separated).
META lines: key, value.
"""
import statistics
import sys
from collections import defaultdict


def load(raw_path, meta_path):
    raw = defaultdict(dict)  # (section, metric, variant) -> {round: value}
    with open(raw_path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 5:
                continue
            sec, metric, variant, rnd, value = parts
            try:
                raw[(sec, metric, variant)][rnd] = float(value)
            except ValueError:
                pass
    meta = {}
    with open(meta_path) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            meta[k] = v
    return raw, meta


def spread(values, fmt):
    """median (min-max), or a dash when there is nothing."""
    if not values:
        return "—"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt(med)
    return "%s (%s–%s)" % (fmt(med), fmt(min(values)), fmt(max(values)))


def ratios(a, b):
    """Per-round a/b for the rounds both have."""
    return [a[r] / b[r] for r in a if r in b and b[r]]


def f_int(v):
    return "{:,.0f}".format(v)


def f_3(v):
    return "%.3f" % v


def f_1(v):
    return "%.1f" % v


def verdict(values, target, higher_is_better=True):
    if not values:
        return "not run"
    med = statistics.median(values)
    ok = med >= target if higher_is_better else med <= target
    return "PASS" if ok else "**MISS**"


class Report:
    def __init__(self, raw, meta):
        self.raw, self.meta = raw, meta
        self.summary = []  # (figure, measured, target, verdict)
        self.details = []  # markdown blocks

    def get(self, sec, metric, variant):
        return self.raw.get((sec, metric, variant), {})

    def http(self):
        rps = {v: self.get("http", "rps", v) for v in ("base", "shim", "base_tp", "shim_tp")}
        if not any(rps.values()):
            return
        r_plain = ratios(rps["shim"], rps["base"])
        r_tp = ratios(rps["shim_tp"], rps["base_tp"])
        r_tp_static = ratios(rps["shim_tp"], rps["base"])
        self.summary.append(("HTTP req/s, shim without traceparent ÷ no shim",
                             spread(r_plain, f_3), "≥ 0.99", verdict(r_plain, 0.99)))
        self.summary.append(("HTTP req/s, shim with a new traceparent per request ÷ no shim",
                             spread(r_tp, f_3), "≥ 0.95", verdict(r_tp, 0.95)))
        cpu_all = {v: self.get("http", "cpu_us", v) for v in rps}
        self.summary.append(("HTTP client CPU per request (wrk, user+sys), shim without "
                             "traceparent ÷ no shim", spread(ratios(cpu_all["shim"],
                                                                    cpu_all["base"]), f_3),
                             "—", "less load-sensitive"))
        self.summary.append(("HTTP client CPU per request, shim with a new traceparent ÷ "
                             "no shim", spread(ratios(cpu_all["shim_tp"], cpu_all["base_tp"]),
                                               f_3), "—", "less load-sensitive"))
        rows = ["| variant | req/s | p50 µs | p99 µs | req/s ÷ baseline | wrk CPU µs/req | "
                "CPU ÷ baseline |", "|---|---|---|---|---|---|---|"]
        cpu = {v: self.get("http", "cpu_us", v) for v in rps}
        base_of = {"base": "base", "shim": "base", "base_tp": "base_tp", "shim_tp": "base_tp"}
        names = {"base": "no shim", "shim": "shim, no traceparent",
                 "base_tp": "no shim, new traceparent per request",
                 "shim_tp": "shim, new traceparent per request"}
        rel = {"base": None, "shim": r_plain, "base_tp": None, "shim_tp": r_tp}
        for v in ("base", "shim", "base_tp", "shim_tp"):
            p50 = list(self.get("http", "p50_us", v).values())
            p99 = list(self.get("http", "p99_us", v).values())
            c_rel = ratios(cpu[v], cpu[base_of[v]])
            rows.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                names[v], spread(list(rps[v].values()), f_int), spread(p50, f_int),
                spread(p99, f_int), "baseline" if rel[v] is None else spread(rel[v], f_3),
                spread(list(cpu[v].values()), f_3),
                "baseline" if rel[v] is None else spread(c_rel, f_3)))
        errs = sum(sum(self.get("http", "errors", v).values()) for v in rps)
        text = ("**1. HTTP client overhead** — %s. The traceparent variants are compared with "
                "a baseline that builds the same per-request header in wrk's Lua without the "
                "shim (shim with new traceparents ÷ static no-shim baseline: %s). "
                "IOAM-tagged packets seen in the probe before the rounds: %s. wrk errors: %d.\n\n"
                % (self.meta.get("http.setup", ""), spread(r_tp_static, f_3),
                   self.meta.get("http.tagged_packets_seen", "?"), errs))
        self.details.append(text + "\n".join(rows))

    def percall(self):
        cases = [("file", "regular file", True), ("untracked", "untracked socket (IPv4 TCP)", True),
                 ("body", "tracked socket, body octets", False),
                 ("same_ctx", "request, unchanged traceparent", False),
                 ("new_ctx", "request, new traceparent", False)]
        if not any(self.get("percall", c, "base") for c, _, _ in cases):
            return
        rows = ["| write() on | no shim CPU ns/call | shim CPU ns/call | shim ÷ no shim | "
                "fastest-block wall ratio | target |", "|---|---|---|---|---|---|"]
        for c, label, targeted in cases:
            base, shim = self.get("percall", c, "base"), self.get("percall", c, "shim")
            r = ratios(shim, base)
            r_med = ratios(self.get("percall_wall", c, "shim"),
                           self.get("percall_wall", c, "base"))
            tgt = "≤ 1.05" if targeted else "—"
            rows.append("| %s | %s | %s | %s | %s | %s |" % (
                label, spread(list(base.values()), f_1), spread(list(shim.values()), f_1),
                spread(r, f_3), spread(r_med, f_3), tgt + (" " + verdict(r, 1.05, False) if targeted else "")))
            if targeted:
                self.summary.append(("write() on %s, shim ÷ no shim" % label, spread(r, f_3),
                                     "≤ 1.05", verdict(r, 1.05, False)))
        self.details.append("**2. Per-call cost of write()** — %s. A round's figure is the "
                            "writer thread's CPU time per call in its median block (time "
                            "spent preempted by other work is not counted; the kernel's work "
                            "in the writer's context, loopback delivery included, is). The "
                            "ratio of the fastest blocks' wall time is shown beside it. On "
                            "loopback the receiving node's IOAM work (filling the trace, the "
                            "event) also runs in the writer's context, so tracked rows "
                            "include the receiver's share.\n\n" %
                            self.meta.get("percall.setup", "") + "\n".join(rows))

    def ingest(self):
        rates = sorted({int(v) for (s, m, v) in self.raw if s == "ingest" and m == "target"})
        if not rates:
            return
        rows = ["| target ev/s | sent ev/s | kernel events | agent events | lost | ENOBUFS | "
                "agent CPU ns/event | agent VmHWM KiB |", "|---|---|---|---|---|---|---|---|"]
        best, best_cpu, hwm_max = None, None, 0
        for rate in rates:
            g = lambda m: self.get("ingest", m, str(rate)).get("1")
            kern, agent, enob = g("kernel") or 0, g("agent") or 0, g("enobufs") or 0
            cpu, hwm, ach = g("cpu_ns"), g("hwm_kb") or 0, g("achieved") or 0
            lost = kern - agent
            per_ev = cpu / agent if cpu and agent else None
            hwm_max = max(hwm_max, hwm)
            rows.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                f_int(rate), f_int(ach), f_int(kern), f_int(agent), f_int(lost), f_int(enob),
                f_int(per_ev) if per_ev else "—", f_int(hwm)))
            if kern > 0 and lost <= 0 and enob == 0 and (best is None or ach > best):
                best, best_cpu = ach, per_ev
        lossy = [r for r in rates
                 if (self.get("ingest", "kernel", str(r)).get("1") or 0) -
                 (self.get("ingest", "agent", str(r)).get("1") or 0) > 0 or
                 (self.get("ingest", "enobufs", str(r)).get("1") or 0) > 0]
        sent_max = max((self.get("ingest", "achieved", str(r)).get("1") or 0) for r in rates)
        if best is None:
            measured, result = "loss at every rate", "**MISS**"
        else:
            measured = "%s ev/s; agent CPU %s ns/event (one core: ~%s ev/s)" % (
                f_int(best), f_int(best_cpu or 0),
                f_int(1e9 / best_cpu) if best_cpu else "?")
            if best >= 200000:
                result = "PASS"
            elif lossy:
                result = "**MISS**"
            else:
                result = "not shown: no loss, generator peaked at %s ev/s" % f_int(sent_max)
        self.summary.append(("agent ingest: highest kernel event rate with zero loss",
                             measured, "≥ 200,000 ev/s", result))
        note = ""
        if not lossy and sent_max < 200000:
            note = (" The agent lost nothing at any rate: the generator (the sending process "
                    "pays for the kernel's IOAM processing and its netlink event delivery) "
                    "peaked at %s ev/s on its core." % f_int(sent_max))
        self.details.append(
            "**3. Agent ingest** — %s. Lost = kernel events (IPv6 packets received in the "
            "namespace, each one IOAM event) − events the agent counted. Largest VmHWM: %s KiB.%s"
            "\n\n" % (self.meta.get("ingest.setup", ""), f_int(hwm_max), note) + "\n".join(rows))

    def offline(self):
        ev, cpu = self.get("offline", "events", "all"), self.get("offline", "cpu_s", "all")
        if not ev:
            return
        rate = [ev[r] / cpu[r] for r in ev if cpu.get(r)]
        self.summary.append(("offline decode + aggregate + encode, events per CPU-second",
                             spread(rate, f_int), "≥ 1,000,000", verdict(rate, 1e6)))
        wall = self.get("offline", "wall_s", "all")
        self.details.append("**4. Offline decode + aggregate + encode** — %s. Events counted: "
                            "%s; wall time %s s." % (self.meta.get("offline.setup", ""),
                                                     spread(list(ev.values()), f_int),
                                                     spread(list(wall.values()), f_3)))

    def export(self):
        spans, wall = self.get("export", "spans", "all"), self.get("export", "wall_s", "all")
        if spans:
            rate = [spans[r] / wall[r] for r in spans if wall.get(r)]
            self.summary.append(("export: spans/s posted as OTLP/HTTP JSON (capture to receiver)",
                                 spread(rate, f_int), "≥ 100,000", verdict(rate, 1e5)))
            cpu = self.get("export", "cpu_s", "all")
            posts = self.get("export", "requests", "all")
            self.details.append("**5. Export** — %s. Spans received: %s in %s POSTs; agent wall "
                                "%s s, CPU %s s (spans/s counts the whole run: reading the "
                                "capture, aggregating, encoding, posting)." % (
                                    self.meta.get("export.setup", ""),
                                    spread(list(spans.values()), f_int),
                                    spread(list(posts.values()), f_int),
                                    spread(list(wall.values()), f_3),
                                    spread(list(cpu.values()), f_3)))
        held, one = self.get("memory", "maxrss_kb", "held"), self.get("memory", "maxrss_kb", "one")
        if held and one:
            n = int(self.meta.get("memory.requests", "100000"))
            setup = self.meta.get("memory.setup", "")
            per = [(held[r] - one[r]) * 1024 / n for r in held if r in one]
            self.summary.append(("agent memory per held request (peak RSS, %s held)" % f_int(n),
                                 spread(per, f_int) + " B", "≤ 1,024 B",
                                 verdict(per, 1024, False)))
            self.details.append("**Memory** — %s: peak RSS %s KiB holding them, %s KiB "
                                "holding one." % (setup, spread(list(held.values()), f_int),
                                                  spread(list(one.values()), f_int)))

    def render(self):
        m = self.meta
        out = ["Run %s (%s mode, commit %s, %s s): %s; %s. Load average (1/5/15 min) at start "
               "%s, at end %s; the machine was shared with other work during the run." % (
                   m.get("date", "?"), m.get("mode", "?"), m.get("commit", "?"),
                   m.get("duration_s", "?"), m.get("machine", "?"), m.get("kernel", "?"),
                   m.get("load.start", "?"), m.get("load.end", "?")),
               "",
               "| figure | measured: median (min–max) | target | |",
               "|---|---|---|---|"]
        for fig, meas, tgt, v in self.summary:
            out.append("| %s | %s | %s | %s |" % (fig, meas, tgt, v))
        loads = ["%s %s" % (k[5:], v) for k, v in m.items()
                 if k.startswith("load.") and k not in ("load.start", "load.end")]
        out += ["", "Load average when each benchmark started: " + "; ".join(loads) + "."]
        for d in self.details:
            out += ["", d]
        return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: report.py RAW META")
    raw, meta = load(sys.argv[1], sys.argv[2])
    rep = Report(raw, meta)
    rep.http()
    rep.percall()
    rep.ingest()
    rep.offline()
    rep.export()
    sys.stdout.write(rep.render())


if __name__ == "__main__":
    main()
