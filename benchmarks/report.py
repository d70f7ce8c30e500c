#!/usr/bin/env python3
"""Turns Google Benchmark JSON files into benchmarks/RESULTS.md.

Every number is the median over the repetitions of one run, and every ratio compares two
cases of that same run. The targets come from the benchmark issue; each is reported as met
or missed. When README.md holds the markers `<!-- benchmarks:begin -->` and
`<!-- benchmarks:end -->`, the summary table is copied between them too.

Usage: report.py --out RESULTS.md [--readme README.md] [--compiler TEXT] [--note TEXT] JSON...
Standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import sys

UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


class Results:
    """The median (and spread) of each benchmark, keyed by its run name."""

    def __init__(self, paths):
        self.rows = {}
        self.contexts = []
        for path in paths:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            self.contexts.append(data.get("context", {}))
            for b in data.get("benchmarks", []):
                if b.get("run_type") != "aggregate":
                    continue
                row = self.rows.setdefault(b["run_name"], {})
                row[b["aggregate_name"]] = b
                if b.get("error_occurred"):
                    row["error"] = b.get("error_message", "failed")

    def has(self, name):
        return name in self.rows and "median" in self.rows[name]

    def agg(self, name, which="median"):
        return self.rows[name][which]

    def time_ns(self, name, clock="real_time"):
        b = self.agg(name)
        return b[clock] * UNIT_NS[b.get("time_unit", "ns")]

    def counter(self, name, key, which="median"):
        return float(self.agg(name, which).get(key, float("nan")))

    def cv(self, name, clock="real_time"):
        try:
            return float(self.agg(name, "cv")[clock])
        except KeyError:
            return float("nan")


def fmt_time(ns):
    if ns != ns:  # NaN
        return "n/a"
    if ns < 1e3:
        return f"{ns:.1f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns / 1e6:.2f} ms"


def fmt_ratio(r):
    return f"{r:.2f}x"


def verdict(ok):
    return "**met**" if ok else "**missed**"


class Report:
    def __init__(self, results):
        self.r = results
        self.sections = []
        self.targets = []  # (target, measured, met)
        self.missing = []

    def need(self, *names):
        absent = [n for n in names if not self.r.has(n)]
        self.missing += absent
        return not absent

    def table(self, title, intro, header, rows):
        lines = [f"### {title}", ""]
        if intro:
            lines += [intro, ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---" for _ in header) + "|")
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
        self.sections.append("\n".join(lines))

    def spread(self, name, clock):
        cv = self.r.cv(name, clock)
        return "n/a" if cv != cv else f"{cv * 100:.1f}%"

    def happy(self):
        base, case = "happy/direct", "happy/connect"
        if not self.need(base, case):
            return
        clock = "cpu_time"
        d, c = self.r.time_ns(base, clock), self.r.time_ns(case, clock)
        allocs = self.r.counter(case, "allocs_per_op")
        rows = [
            ["no-op connector, called directly", fmt_time(d), "", f"{self.r.counter(base, 'allocs_per_op'):g}", self.spread(base, clock)],
            ["through `dual_credential::connect()`", fmt_time(c), f"+{c - d:.1f} ns", f"{allocs:g}", self.spread(case, clock)],
        ]
        self.table("1. Happy path", "CPU time per connect, one thread.",
                   ["case", "median", "added", "allocations per connect", "spread (CV)"], rows)
        self.targets.append(("1. at most 15 ns added", f"+{c - d:.1f} ns", c - d <= 15.0))
        self.targets.append(("1. no allocation per connect", f"{allocs:g}", allocs == 0))

    def window(self):
        base, sticky, not_sticky = "window/happy", "window/sticky", "window/not_sticky"
        if not self.need(base, sticky, not_sticky):
            return
        clock = "cpu_time"
        h = self.r.time_ns(base, clock)
        rows = []
        for name, label in ((base, "happy path (CURRENT accepted)"),
                            (sticky, "window, sticky (NEXT tried first)"),
                            (not_sticky, "window, not sticky (CURRENT refused every time)")):
            t = self.r.time_ns(name, clock)
            rows.append([label, fmt_time(t), fmt_ratio(t / h),
                         f"{self.r.counter(name, 'allocs_per_op'):g}", self.spread(name, clock)])
        self.table("2. Rotation window", "CURRENT refused, NEXT accepted; a connector that compares "
                   "the password, refusing with a detail string as a driver does. CPU time per connect.",
                   ["case", "median", "vs happy path", "allocations per connect", "spread (CV)"], rows)
        ratio = self.r.time_ns(sticky, clock) / h
        self.targets.append(("2. sticky window at most 1.05x the happy path", fmt_ratio(ratio), ratio <= 1.05))

    def threads(self):
        rows = []
        ratios = {}
        for kind, label in (("connect", "through `connect()`"), ("direct", "no-op connector alone")):
            names = [f"threads/{kind}/real_time/threads:{n}" for n in (1, 2, 4)]
            if not self.need(*names):
                return
            ips = [self.r.counter(n, "items_per_second") for n in names]
            for n, name, v in zip((1, 2, 4), names, ips):
                rows.append([label, n, f"{v / 1e6:.1f} M/s", fmt_ratio(v / ips[0]), self.spread(name, "real_time")])
            ratios[kind] = ips[1] / ips[0]
        self.table("3. Threads", "Total connects per second across threads (real time), one shared "
                   "`dual_credential`. The no-op connector alone shows what the machine itself "
                   "scales to.", ["case", "threads", "throughput", "vs 1 thread", "spread (CV)"], rows)
        note = f"{fmt_ratio(ratios['connect'])} (machine: {fmt_ratio(ratios['direct'])})"
        self.targets.append(("3. 2 threads at least 1.8x the throughput of 1", note, ratios["connect"] >= 1.8))

    def storm(self):
        name = "storm/64_threads/real_time"
        if not self.need(name):
            return
        mean = self.r.counter(name, "loads_per_storm", "mean")
        worst = self.r.counter(name, "max_loads_per_storm", "mean")
        failed = self.r.counter(name, "failed_connects", "mean")
        rows = [["64 threads refused at once", fmt_time(self.r.time_ns(name)),
                 f"{self.r.counter(name, 'loads_per_storm'):g}", f"{mean:g}", f"{worst:g}", f"{failed:g}"]]
        self.table("4. Reload storm", "Each storm: 64 threads, all refused before any reload starts (a "
                   "latch in the connector), then one shared reload finds the new password.",
                   ["case", "median time per storm", "loads per storm (median)", "(mean)",
                    "most in one storm (mean over repetitions)", "failed connects"], rows)
        ok = mean == 1.0 and worst == 1.0 and failed == 0.0
        self.targets.append(("4. exactly 1 provider load per storm", f"{mean:g} (worst storm: {worst:g})", ok))

    def backend(self, prefix, title, intro, cases, target_case):
        base = f"{prefix}/plain/real_time"
        names = [f"{prefix}/{c}/real_time" for c, _ in cases]
        if not self.need(base, *names):
            return
        b = self.r.time_ns(base)
        rows = [["plain client library (baseline)", fmt_time(b), "1.00x", self.spread(base, "real_time")]]
        for (c, label), name in zip(cases, names):
            t = self.r.time_ns(name)
            rows.append([label, fmt_time(t), fmt_ratio(t / b), self.spread(name, "real_time")])
        self.table(title, intro, ["case", "median", "vs plain", "spread (CV)"], rows)
        if target_case:
            ratio = self.r.time_ns(f"{prefix}/{target_case}/real_time") / b
            self.targets.append((f"5. {prefix}: first fallback on the same connection at most 1.3x a plain connect",
                                 fmt_ratio(ratio), ratio <= 1.3))

    def providers(self):
        cases = [("provider/static", "static (a copy in memory)", "cpu_time"),
                 ("provider/env", "environment variables", "cpu_time"),
                 ("provider/file_dotenv", "dotenv file", "cpu_time"),
                 ("provider/file_directory", "directory of files (Kubernetes layout)", "cpu_time"),
                 ("provider/vault/real_time", "Vault KV v2 over libcurl (Python test server)", "real_time")]
        rows = []
        for name, label, clock in cases:
            if self.need(name):
                rows.append([label, fmt_time(self.r.time_ns(name, clock)),
                             "CPU" if clock == "cpu_time" else "wall", self.spread(name, clock)])
        if rows:
            self.table("7. Provider loads", "One `load()`.", ["provider", "median", "clock", "spread (CV)"], rows)

    def secrets(self):
        kinds = (("heap", "heap (the default)"), ("dont_dump", "own pages, `MADV_DONTDUMP`"))
        rows = []
        for op in ("construct", "copy"):
            names = [f"secret/{op}/{k}" for k, _ in kinds]
            if not self.need(*names):
                return
            heap = self.r.time_ns(names[0], "cpu_time")
            for name, (_, label) in zip(names, kinds):
                t = self.r.time_ns(name, "cpu_time")
                rows.append([op, label, fmt_time(t), fmt_ratio(t / heap),
                             f"{self.r.counter(name, 'allocs_per_op'):g}", self.spread(name, "cpu_time")])
        self.table("8. Secret storage", "A 28-byte secret's storage made and freed, or copied from "
                   "another; CPU time. `DUALCRED_SECRET_DONTDUMP=1` keeps secrets out of core dumps "
                   "with pages of their own (an `mmap`, `madvise` and `munmap` each, which the "
                   "allocation counter does not see). Connects make no secret; a provider load "
                   "makes one or two.",
                   ["operation", "storage", "median", "vs heap", "heap allocations", "spread (CV)"], rows)

    def rate(self, name):
        return self.r.counter(name, "items_per_second")

    def async_connects(self):
        bare, happy = "async/bare", "async/happy"
        loop, blocking = "pg/async_loop/real_time", "pg/blocking/real_time/threads:2"
        if self.need(bare, happy):
            b, h = self.r.time_ns(bare, "cpu_time"), self.r.time_ns(happy, "cpu_time")
            self.table("9. Async connects", "`async_connect` on a connector that completes at "
                       "once, against the same connector's bare async call; CPU time per connect, "
                       "one loop thread.", ["case", "median", "vs bare", "spread (CV)"],
                       [["bare async connector", fmt_time(b), "1.00x", self.spread(bare, "cpu_time")],
                        ["through `async_connect`", fmt_time(h), fmt_ratio(h / b),
                         self.spread(happy, "cpu_time")]])
        if self.need(loop, blocking):
            a, k = self.rate(loop), self.rate(blocking)
            self.table("10. PostgreSQL logins per second", "Real SCRAM logins on loopback: "
                       "coroutines on one loop thread against blocking `connect()` on two threads.",
                       ["case", "logins per second", "vs blocking", "spread (CV)"],
                       [["blocking, 2 threads", f"{k:.0f}", "1.00x", self.spread(blocking, "real_time")],
                        ["async, 1 loop thread", f"{a:.0f}", fmt_ratio(a / k),
                         self.spread(loop, "real_time")]])
        one, two = "redis_asio/blocking/real_time", "redis_asio/blocking/real_time/threads:2"
        cases = [(one, "blocking, 1 thread"), (two, "blocking, 2 threads"),
                 ("redis_asio/async_one/real_time", "async, one at a time"),
                 ("redis_asio/async_in_flight/16/real_time", "async, 16 in flight"),
                 ("redis_asio/async_in_flight/128/real_time", "async, 128 in flight")]
        if self.need(*(n for n, _ in cases)):
            base = self.rate(one)
            self.table("11. Redis logins per second", "Connect, `AUTH`, close on loopback; the "
                       "async cases on one loop thread.",
                       ["case", "logins per second", "vs blocking, 1 thread", "spread (CV)"],
                       [[label, f"{self.rate(n):.0f}", fmt_ratio(self.rate(n) / base),
                         self.spread(n, "real_time")] for n, label in cases])

    def pool(self):
        rows = []
        for threads in (1, 4):
            free = f"pool/free_list/real_time/threads:{threads}"
            pool = f"pool/borrow/real_time/threads:{threads}"
            if not self.need(free, pool):
                return
            f, b = self.r.time_ns(free), self.r.time_ns(pool)
            rows.append([threads, fmt_time(f), fmt_time(b), fmt_ratio(b / f), self.spread(pool, "real_time")])
        tags = [("tag/connect/untagged", "connect, no tag"), ("tag/connect/tagged", "connect with its tag"),
                ("tag/holds_same_set", "`holds(tag)`, same set"), ("tag/holds_rotated", "`holds(tag)`, after a rotation")]
        self.table("12. Connection pool", "A borrow and its return (pool of 4, a connection always "
                   "idle), against a mutex-guarded free list doing the same; wall time per pair.",
                   ["threads", "free list", "pool", "pool vs free list", "spread (CV)"], rows)
        if self.need(*(n for n, _ in tags)):
            base = self.r.time_ns(tags[0][0], "cpu_time")
            self.table("13. Credential tags", "CPU time per call.", ["case", "median", "vs untagged connect", "spread (CV)"],
                       [[label, fmt_time(self.r.time_ns(n, "cpu_time")),
                         fmt_ratio(self.r.time_ns(n, "cpu_time") / base), self.spread(n, "cpu_time")]
                        for n, label in tags])

    def fleet(self):
        rows = []
        for delay in (0, 10):
            for n in (10, 100, 1000):
                at_once = f"fleet/concurrent/{n}/{delay}/real_time"
                one_by_one = f"fleet/sequential/{n}/{delay}/real_time"
                if not self.need(at_once, one_by_one):
                    return
                c, q = self.r.time_ns(at_once), self.r.time_ns(one_by_one)
                rows.append([n, f"{delay} ms", fmt_time(c), fmt_time(q), fmt_ratio(q / c)])
        self.table("14. Fleet check", "One round of the fleet check over simulated instances on loopback "
                   "(one Python process serving them all, answering after the delay), every "
                   "instance asked at once against one after another; wall time per round.",
                   ["instances", "answer delay", "at once", "one after another", "speed-up"], rows)

    def build(self):
        self.happy()
        self.window()
        self.threads()
        self.storm()
        self.backend("redis", "5. Redis on loopback",
                     "Connect, log in, close; wall time per connect.",
                     [("happy", "dualcred, happy path"),
                      ("window_sticky", "dualcred, window, sticky"),
                      ("first_fallback", "dualcred, first fallback: AUTH refused, AUTH again on the same connection"),
                      ("reconnect", "dualcred, fallback through a new connection")],
                     "first_fallback")
        self.backend("pg", "6. PostgreSQL on loopback",
                     "Connect, log in (SCRAM-SHA-256), close; wall time per connect. PostgreSQL "
                     "ends the connection after a refused login, so its fallback is always a reconnect.",
                     [("happy", "dualcred, happy path"),
                      ("window_sticky", "dualcred, window, sticky"),
                      ("first_fallback", "dualcred, first fallback (a new connection)")],
                     None)
        self.providers()
        self.secrets()
        self.async_connects()
        self.pool()
        self.fleet()


def machine(contexts):
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ctx = contexts[0] if contexts else {}
    mhz = ctx.get("mhz_per_cpu")
    loads = [c.get("load_avg", []) for c in contexts if c.get("load_avg")]
    return {
        "cpu": f"{model}, {os.cpu_count()} CPUs" + (f" at {mhz} MHz" if mhz else ""),
        "os": f"{platform.system()} {platform.release()}",
        "load": loads,
        "library_build_type": ctx.get("library_build_type", "unknown"),
    }


def render(report, info, compiler, notes, repetitions):
    lines = ["# Benchmark results", "",
             "Written by `benchmarks/run` (do not edit by hand). Medians over "
             f"{repetitions} repetitions; every ratio compares two cases of the same run.", "",
             f"- Date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
             f"- Machine: {info['cpu']}, {info['os']}",
             f"- Compiler: {compiler}, release build (`-O3 -DNDEBUG`)",
             f"- Google Benchmark library build type: {info['library_build_type']} "
             "(Debian's package; its DEBUG warning concerns the library, not the code measured)"]
    if info["load"]:
        first, last = info["load"][0], info["load"][-1]
        lines.append(f"- Load average (1, 5, 15 min) at the start: {', '.join(f'{x:.2f}' for x in first)}; "
                     f"at the end: {', '.join(f'{x:.2f}' for x in last)}")
        if max(max(l[0] for l in info["load"]), 0) > 0.5 * (os.cpu_count() or 1):
            lines.append("- **The machine was busy during the run** (load average above half the CPU "
                         "count): absolute times are inflated and spreads wide; ratios within one "
                         "run are the more trustworthy numbers.")
    for n in notes:
        lines.append(f"- {n}")
    lines += ["", "## Targets", "", "| target | measured | |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {verdict(ok)} |" for t, m, ok in report.targets]
    lines += ["", "What limits each target, from profiling: "
              "[README.md](README.md#what-limits-the-targets-profiled)."]
    if report.missing:
        lines += ["", "Not measured in this run (binary not built or case failed): " +
                  ", ".join(f"`{m}`" for m in sorted(set(report.missing)))]
    lines += ["", "## All cases", ""]
    lines += [s + "\n" for s in report.sections]
    return "\n".join(lines).rstrip() + "\n"


def summary_table(report):
    lines = ["| target | measured | |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {verdict(ok)} |" for t, m, ok in report.targets]
    return "\n".join(lines) + "\n\nDetails, machine and method: [benchmarks/RESULTS.md](benchmarks/RESULTS.md).\n"


def update_readme(path, table):
    begin, end = "<!-- benchmarks:begin -->", "<!-- benchmarks:end -->"
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return False
    if begin not in text or end not in text:
        return False
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(head + begin + "\n" + table + end + tail)
    return True


def kept_sections(path):
    """What the previous file held from `<!-- kept:begin -->` on: hand-written sections
    (benchmarks/compare runs, the refresh latency table) that a new run does not replace."""
    marker = "<!-- kept:begin -->"
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return ""
    return "\n" + marker + text.split(marker, 1)[1] if marker in text else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--readme")
    ap.add_argument("--compiler", default="unknown")
    ap.add_argument("--repetitions", default="?")
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("json", nargs="+")
    args = ap.parse_args()

    results = Results([p for p in args.json if os.path.getsize(p) > 0])
    report = Report(results)
    report.build()
    text = render(report, machine(results.contexts), args.compiler, args.note, args.repetitions)
    text += kept_sections(args.out)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    if args.readme and update_readme(args.readme, summary_table(report)):
        print(f"updated the table in {args.readme}")
    print(f"wrote {args.out}")
    for t, m, ok in report.targets:
        print(f"  {'met   ' if ok else 'MISSED'} {t}: {m}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
