"""Run the benchmark suite against gearmand and geartool side by side.

    python benchmarks/run.py [--quick] [--only a,b] [--baseline gearmand] [--candidate geartool]

Each workload starts a fresh server of each kind on a free loopback port, drives it with the
compiled load generator (benchmarks/loadgen/*.c) and stops it by PID. Foreground round trips (b)
keep both servers up and alternate between them in slices (harness/interleave.py). Ratios are
candidate / baseline. JSON and a Markdown table are written to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # run as a script: make `benchmarks` importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import build, cpus, interleave, report  # noqa: E402
from benchmarks.harness.servers import TARGETS, geartool_code, versions  # noqa: E402
from benchmarks.harness.workloads import FULL, QUICK, WORKLOADS, Sizes, describe  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small counts: a smoke run in ~1 min")
    p.add_argument("--only", default="", help="comma-separated workloads, e.g. a,b (default all)")
    p.add_argument("--baseline", default="gearmand", choices=TARGETS)
    p.add_argument("--candidate", default="geartool", choices=TARGETS)
    p.add_argument("--repeat", type=int, default=1,
                   help="run each workload N times per server (alternating) and keep the best: "
                        "other load on the machine only ever makes a run worse (b: N rounds of "
                        "slices, all pooled)")
    p.add_argument("--no-interleave", action="store_true",
                   help="run b like the others, one server at a time, instead of in slices "
                        "alternating between them (see harness/interleave.py)")
    p.add_argument("--no-pin", action="store_true",
                   help="let the kernel place the server and the load generator (by default "
                        "each gets its own CPU: see harness/cpus.py)")
    p.add_argument("--out", type=Path, default=RESULTS, help="directory for JSON and Markdown")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        p.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    args.names = [n for n in WORKLOADS if n in names]
    if not 1 <= args.repeat <= 20:
        p.error("--repeat must be 1..20")
    return args


# Which figure decides the best of repeated runs, and whether larger is better.
PRIMARY = {"a": ("rate", True), "b": ("rate", True), "c": ("rate", True),
           "d": ("rss_per_conn_bytes", False), "e": ("rss_per_job_bytes", False),
           "f": ("rate", True), "g": ("rate", True), "h": ("submit_ms", False)}


def _derive(res: dict[str, Any]) -> dict[str, Any]:
    """Add server CPU per job: unlike a rate, it barely moves when other work shares the CPUs."""
    cpu, jobs = res.get("server_cpu_s"), res.get("jobs")
    if isinstance(cpu, (int, float)) and isinstance(jobs, int) and jobs > 0 and cpu > 0:
        res["server_cpu_us_per_job"] = 1e6 * cpu / jobs
    return res


# A run's headline figures: printed after each repetition, and kept for every repetition beside
# the best one, so that a run's spread (how far a noisy spell moved it) can be read afterwards.
_FIGURES = ("rate", "p50_ms", "p99_ms", "rss_per_conn_bytes", "rss_per_job_bytes",
            "round_p50_ms", "server_cpu_us_per_job", "help_ms", "submit_ms")


def _best(wl: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[-1]
    key, higher = PRIMARY[wl]
    best = (max if higher else min)(ok, key=lambda r: r.get(key, 0))
    if len(runs) == 1:
        return best
    each = [{k: r[k] for k in (*_FIGURES, "error") if k in r} for r in runs]
    return {**best, "runs": len(runs), "each": each}


def _summary(res: dict[str, Any]) -> str:
    if "error" in res:
        return f"ERROR {res['error']}"
    bits = []
    for key in _FIGURES:
        if key in res:
            digits = (1 if key in ("help_ms", "submit_ms") else 3 if "ms" in key
                      else 2 if "cpu_us" in key else 0)
            bits.append(f"{key}={res[key]:,.{digits}f}")
    if "kill9" in res:
        bits.append(f"kill9_lost={res['kill9']['lost']}")
    if "loadgen_cpu_s" in res and res.get("elapsed_s"):
        bits.append(f"loadgen_cpu={100 * res['loadgen_cpu_s'] / res['elapsed_s']:.0f}%")
    return " ".join(bits)


def _repeated(wl: str, binary: Path, kinds: list[tuple[str, str]], sizes: Sizes,
              repeat: int) -> tuple[dict[str, dict[str, Any]], int]:
    """Run workload ``wl`` ``repeat`` times per server, alternating servers; keep each one's
    best run. Returns the results by server name and the number of failed runs."""
    title, fn = WORKLOADS[wl]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in kinds}
    failures = 0
    for _ in range(repeat):
        for name, kind in kinds:
            t0 = time.monotonic()
            try:
                res = _derive(fn(binary, kind, sizes))
            except (build.LoadgenError, RuntimeError, OSError) as exc:
                res = {"error": build.error_text(exc)}
                failures += 1
            if "kill9" in res and res["kill9"]["lost"] and kind == "geartool":
                failures += 1
            runs[name].append(res)
            print(f"[{wl}] {title:40s} {name:10s} {_summary(res)}  "
                  f"({time.monotonic() - t0:.1f} s)", flush=True)
    return {name: _best(wl, r) for name, r in runs.items()}, failures


def _interleaved(binary: Path, kinds: list[tuple[str, str]], sizes: Sizes,
                 repeat: int) -> tuple[dict[str, dict[str, Any]], int]:
    """Workload b in slices alternating between the servers (harness/interleave.py): each
    repetition is a round of slices, and every round's jobs are pooled per server."""
    title = WORKLOADS["b"][0]
    fg = {"clients": sizes.fg_clients, "workers": sizes.fg_workers, "depth": sizes.fg_depth}
    t0 = time.monotonic()

    def progress(_: int, pools: dict[str, interleave.Pool]) -> None:
        nonlocal t0
        for name, pool in pools.items():
            res = _derive(pool.figures())
            print(f"[b] {title:40s} {name:10s} {_summary(res)} "
                  f"({len(pool.slice_rates)} slices, {time.monotonic() - t0:.1f} s)", flush=True)
        t0 = time.monotonic()

    try:
        rounds = interleave.run(binary, kinds, sizes.fg_jobs, sizes.fg_slices, repeat, fg,
                                sizes.timeout, progress)
    except (RuntimeError, OSError) as exc:  # a server did not start
        return {name: {"error": build.error_text(exc)} for name, _ in kinds}, len(kinds)
    results = {name: _derive(interleave.pooled(pools)) for name, pools in rounds.items()}
    return results, sum(1 for res in results.values() if "error" in res)


def run(argv: list[str] | None = None) -> int:
    """Run the selected workloads; return 0 when every run passed its reply checks."""
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    binary = build.build()
    placement = cpus.choose(not args.no_pin)
    cpus.use(placement)
    # sanity: candidate == baseline compares a server with itself, run it twice under one name
    kinds = [(args.baseline, args.baseline)]
    cand_name = args.candidate if args.candidate != args.baseline else f"{args.candidate}#2"
    kinds.append((cand_name, args.candidate))
    results: dict[str, dict[str, Any]] = {}
    failures = 0
    found = versions()  # before the first server starts, to compare with the state at the end
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"note: load average is {load:.2f} before the run; other work on this machine "
              "lowers rates (server CPU per job is the steadier figure)", flush=True)
    for wl in args.names:
        if wl == "b" and not args.no_interleave:
            results[wl], failed = _interleaved(binary, kinds, sizes, args.repeat)
        else:
            results[wl], failed = _repeated(wl, binary, kinds, sizes, args.repeat)
        failures += failed
    # A compiled module's source edited mid-run makes every later server start run the Python
    # sources (see geartool/_compiled.py): such a run mixes two builds and proves nothing.
    code_after = geartool_code()
    if code_after != found["geartool_code"]:
        print(f"error: geartool's code changed during the run ({found['geartool_code']} at the "
              f"start, {code_after} at the end): the figures mix two builds", flush=True)
        found["geartool_code"] += f" then {code_after}"
        failures += 1
    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "mode": "quick" if args.quick else "full", "cpus": os.cpu_count(),
            "load_before": round(load, 2), "repeat": args.repeat,
            "placement": placement.describe() if placement else "unpinned",
            **found, "sizes": describe(sizes)}
    if "b" in args.names:
        meta["b"] = ("one server at a time" if args.no_interleave else
                     f"interleaved, {sizes.fg_slices} slices per repetition")
    table = report.rows(results, args.baseline, cand_name)
    md = report.markdown(table, results, args.baseline, cand_name, meta)
    print()
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    doc = {"meta": meta, "baseline": args.baseline, "candidate": cand_name,
           "results": results, "table": table}
    for stem in (stamp, "latest"):
        (args.out / f"{stem}.json").write_text(json.dumps(doc, indent=2) + "\n")
        (args.out / f"{stem}.md").write_text(md)
    print(f"saved {args.out / (stamp + '.json')} and .md")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(run())
