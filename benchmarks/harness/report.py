"""Turn raw loadgen results into comparison rows, ratios against the issue's targets, and a
Markdown report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    """One compared figure: where it lives in a workload result and what the target is."""

    workload: str
    key: str
    label: str
    higher_is_better: bool
    target: float  # required candidate/baseline ratio (>= when higher is better, else <=)
    digits: int = 0
    # The target is the candidate's own value (in the metric's unit), not a ratio: the issue
    # sets absolute limits for the command-line tools. The ratio is still shown, for scale.
    absolute: bool = False
    unit: str = "x"  # how the target is written: a ratio, or the metric's own unit


CPU = "server_cpu_us_per_job"
METRICS = [
    Metric("a", "rate", "bg submits/s", True, 1.0),
    Metric("a", CPU, "bg server CPU µs/job", False, 1.0, 2),
    Metric("b", "rate", "fg round trips/s", True, 1.0),
    Metric("b", "p50_ms", "fg p50 latency ms", False, 1.0, 3),
    Metric("b", "p99_ms", "fg p99 latency ms", False, 1.0, 3),
    Metric("b", CPU, "fg server CPU µs/job", False, 1.0, 2),
    Metric("c", "rate", "drain jobs/s", True, 1.0),
    Metric("c", CPU, "drain server CPU µs/job", False, 1.0, 2),
    Metric("d", "rss_per_conn_bytes", "RSS bytes per idle connection", False, 1.0),
    Metric("e", "rss_per_job_bytes", "RSS bytes per queued job", False, 1.0),
    Metric("f", "rate", "durable bg submits/s", True, 100.0),
    Metric("g", "rate", "coalesced submits/s", True, 1.0),
    Metric("g", "round_p50_ms", "coalesce round p50 ms", False, 1.0, 3),
    Metric("g", CPU, "coalesce server CPU µs/submit", False, 1.0, 2),
    Metric("h", "help_ms", "--help ms (fresh process, median)", False, 150.0, 1, True, " ms"),
    Metric("h", "submit_ms", "submit round trip ms (warm server)", False, 250.0, 1, True,
           " ms"),
]


def _fmt(value: Any, digits: int) -> str:
    if value is None:
        return "n/a"
    if not isinstance(value, (int, float)):
        return str(value)
    return f"{value:,.{digits}f}"


def rows(results: dict[str, dict[str, Any]], baseline: str, candidate: str
         ) -> list[dict[str, Any]]:
    """One row per metric: both values, candidate/baseline ratio and whether the target is met."""
    out = []
    for m in METRICS:
        per = results.get(m.workload)
        if per is None:
            continue
        base, cand = per.get(baseline, {}), per.get(candidate, {})
        bv, cv = base.get(m.key), cand.get(m.key)
        ratio = met = None
        if isinstance(bv, (int, float)) and isinstance(cv, (int, float)) and bv > 0:
            ratio = cv / bv
        measured = cv if m.absolute else ratio
        if isinstance(measured, (int, float)):
            met = measured >= m.target if m.higher_is_better else measured <= m.target
        out.append({"workload": m.workload, "metric": m.label, "baseline": bv,
                    "candidate": cv, "ratio": ratio, "target": m.target,
                    "higher_is_better": m.higher_is_better, "met": met,
                    "unit": m.unit,
                    "baseline_error": base.get("error"), "candidate_error": cand.get("error"),
                    "digits": m.digits})
    return out


# Per-repetition figures shown under the table: a tail latency moves far more between
# repetitions than a rate, and the table shows one repetition per server.
_SPREAD = (("rate", "rate", 0), ("p99_ms", "p99 ms", 3), ("rss_per_conn_bytes", "B/conn", 0),
           ("rss_per_job_bytes", "B/job", 0), ("help_ms", "help ms", 1),
           ("submit_ms", "submit ms", 1))


def _repetitions(results: dict[str, dict[str, Any]]) -> list[str]:
    """One line per workload and server with each repetition's headline figures."""
    out = []
    for wl, per in results.items():
        for name, res in per.items():
            each = res.get("each")
            if not each:
                continue
            bits = []
            for key, label, digits in _SPREAD:
                values = [r.get(key) for r in each]
                if any(isinstance(v, (int, float)) for v in values):
                    bits.append(f"{label} " + " · ".join(
                        _fmt(v, digits) if isinstance(v, (int, float)) else "error"
                        for v in values))
            if bits:
                out.append(f"- {wl} {name}: " + "; ".join(bits))
    out += _slices(results)
    if not out:
        return []
    return ["", "Each repetition, in run order (the table shows each server's best one: by rate, "
            "by memory for d and e, by time for h; b pools all of its repetitions):", "", *out]


def _slices(results: dict[str, dict[str, Any]]) -> list[str]:
    """The rate of each slice of an interleaved workload, in thousands per second: shows the
    machine's spells, which both servers went through."""
    out = []
    for wl, per in results.items():
        for name, res in per.items():
            rates = res.get("slice_rates")
            if rates:
                out.append(f"- {wl} {name}, each slice (k/s): " + " ".join(
                    f"{r / 1000:.0f}" for r in rates))
    return out


def markdown(table: list[dict[str, Any]], results: dict[str, dict[str, Any]],
             baseline: str, candidate: str, meta: dict[str, Any]) -> str:
    """The comparison table, the kill -9 check and the loadgen's own CPU, as Markdown."""
    lines = [f"# Benchmark: {candidate} vs {baseline}", "",
             " · ".join(f"{k}: {v}" for k, v in meta.items() if not isinstance(v, dict)), "",
             f"| wl | metric | {baseline} | {candidate} | ratio | target | met |",
             "|---|---|---:|---:|---:|---|---|"]
    for r in table:
        b = r["baseline_error"] and "error" or _fmt(r["baseline"], r["digits"])
        c = r["candidate_error"] and "error" or _fmt(r["candidate"], r["digits"])
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        sign = ">=" if r["higher_is_better"] else "<="
        met = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        target = f"{sign} {r['target']:g}{r['unit']}"
        lines.append(f"| {r['workload']} | {r['metric']} | {b} | {c} | {ratio} | "
                     f"{target} | {met} |")
    lines += _repetitions(results)
    kills = results.get("f", {})
    if kills:
        lines += ["", "Crash check (f): SIGKILL mid-stream, restart on the same file, drain.", "",
                  "| server | acked before kill | acked found after restart | lost |",
                  "|---|---:|---:|---:|"]
        for name, res in kills.items():
            k = res.get("kill9")
            if k:
                lines.append(f"| {name} | {k['acked_before_kill']:,} | "
                             f"{k['acked_found_after_restart']:,} | {k['lost']:,} |")
    lines += ["", "CPU over the timed span: the load generator's own (getrusage) and the server's "
              "(/proc/PID/stat), with the server's user/system split per job:", "",
              "| wl | server | elapsed s | loadgen CPU s | loadgen CPU % | server CPU % "
              "| server user µs/job | server sys µs/job |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    for wl, per in results.items():
        for name, res in per.items():
            if "error" in res:
                lines.append(f"| {wl} | {name} | error: {res['error']} | | | | | |")
                continue
            if "elapsed_s" not in res:  # h: no load generator, no server CPU
                continue
            el = res["elapsed_s"] or 1e-9
            srv = res.get("server_cpu_s")
            srv_pct = f"{100 * srv / el:.0f}" if isinstance(srv, (int, float)) else ""
            jobs = res.get("jobs") or res.get("connections") or 0
            per_job = ["", ""]
            for i, key in enumerate(("server_cpu_user_s", "server_cpu_sys_s")):
                v = res.get(key)
                if isinstance(v, (int, float)) and jobs:
                    per_job[i] = f"{1e6 * v / jobs:.2f}"
            lines.append(f"| {wl} | {name} | {el:.2f} | {res['loadgen_cpu_s']:.2f} | "
                         f"{100 * res['loadgen_cpu_s'] / el:.0f} | {srv_pct} | "
                         f"{per_job[0]} | {per_job[1]} |")
    return "\n".join(lines) + "\n"
