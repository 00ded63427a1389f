"""Workload b, interleaved: both servers stay up and the load generator alternates between them
in short slices, whose jobs are pooled per server.

Why not one long run per server, as for the other workloads: this machine's speed changes for
seconds at a time, for every process on it. In back-to-back runs gearmand did 54,000 and 69,000
round trips/s, and either server's rate can step by a fifth in the middle of a run. A rate
averages such a step out, but a p99 reads the slowest 1 % of a run (about 30 ms of it), so with
a few seconds per server it compared the machine's spells as much as the servers. Slices of a
few tenths of a second, in ABBA order, put both servers through the same spells.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import build
from benchmarks.harness.servers import Server

# Loadgen figures that add up over slices (CPU times, syscall counts).
_SUMMED = ("loadgen_cpu_s", "loadgen_cpu_user_s", "loadgen_cpu_sys_s", "server_cpu_s",
           "server_cpu_user_s", "server_cpu_sys_s", "server_read_syscalls",
           "server_write_syscalls")


def percentile(ordered: list[float], p: float) -> float:
    """The load generator's own definition (nearest rank), so that pooled figures match it."""
    if not ordered:
        return 0.0
    return ordered[int(p * (len(ordered) - 1) + 0.5)]


@dataclass
class Pool:
    """The jobs of one server's slices: latencies in seconds and the summed loadgen figures."""

    latencies: list[float] = field(default_factory=list)
    jobs: int = 0
    elapsed: float = 0.0
    sums: dict[str, float] = field(default_factory=dict)
    slice_rates: list[float] = field(default_factory=list)
    rss_before_kb: int | None = None
    rss_after_kb: int | None = None
    error: str | None = None

    def add(self, res: dict[str, Any], latencies: list[float]) -> None:
        """One slice: the loadgen's JSON and its latency log."""
        self.latencies += latencies
        self.jobs += int(res["jobs"])
        self.elapsed += float(res["elapsed_s"])
        for key in _SUMMED:
            if isinstance(res.get(key), (int, float)):
                self.sums[key] = self.sums.get(key, 0.0) + res[key]
        self.slice_rates.append(float(res["rate"]))
        if self.rss_before_kb is None:
            self.rss_before_kb = res.get("server_rss_before_kb")
        self.rss_after_kb = res.get("server_rss_after_kb")

    def merge(self, other: Pool) -> None:
        self.latencies += other.latencies
        self.jobs += other.jobs
        self.elapsed += other.elapsed
        for key, value in other.sums.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.slice_rates += other.slice_rates
        if self.rss_before_kb is None:
            self.rss_before_kb = other.rss_before_kb
        self.rss_after_kb = other.rss_after_kb or self.rss_after_kb
        self.error = self.error or other.error

    def figures(self) -> dict[str, Any]:
        """The pooled result, with the keys of a single foreground loadgen run."""
        if self.error or not self.jobs:
            return {"error": self.error or "no jobs ran"}
        ordered = sorted(self.latencies)
        return {"ok": True, "mode": "fg", "jobs": self.jobs, "rate": self.jobs / self.elapsed,
                "p50_ms": 1e3 * percentile(ordered, 0.5), "p99_ms": 1e3 * percentile(ordered, 0.99),
                "max_ms": 1e3 * ordered[-1], "elapsed_s": self.elapsed, **self.sums,
                "server_rss_before_kb": self.rss_before_kb,
                "server_rss_after_kb": self.rss_after_kb,
                "slices": len(self.slice_rates),
                "slice_rates": [round(r) for r in self.slice_rates]}


def _latencies(path: Path) -> list[float]:
    """The second column of a latency log: one job's latency in seconds per line."""
    with path.open() as f:
        return [float(line.split()[1]) for line in f if line.strip()]


def run_round(binary: Path, kinds: list[tuple[str, str]], servers: dict[str, Server],
              jobs: int, slices: int, fg: dict[str, int], timeout: float) -> dict[str, Pool]:
    """``slices`` slices of ``jobs // slices`` jobs per server, in ABBA order (each server goes
    first in half of them). A server whose slice fails is not driven again in this round."""
    pools = {name: Pool() for name, _ in kinds}
    per_slice = max(1, jobs // slices)
    with tempfile.TemporaryDirectory(prefix="geartool-bench-b-") as tmp:
        log = Path(tmp) / "latency.txt"
        for i in range(slices):
            for name, _ in (kinds if i % 2 == 0 else kinds[::-1]):
                pool, srv = pools[name], servers[name]
                if pool.error:
                    continue
                try:
                    res = build.run(binary, "fg", srv.port, pid=srv.pid, count=per_slice,
                                    duration=timeout, timeout=timeout, latency_log=log, **fg)
                    pool.add(res, _latencies(log))
                except (build.LoadgenError, OSError, ValueError, IndexError) as exc:
                    pool.error = build.error_text(exc)
    return pools


def run(binary: Path, kinds: list[tuple[str, str]], jobs: int, slices: int, rounds: int,
        fg: dict[str, int], timeout: float,
        progress: Callable[[int, dict[str, Pool]], None] | None = None) -> dict[str, list[Pool]]:
    """Start one server of each kind, run ``rounds`` rounds of slices against them, stop them.
    Returns each server's pool per round (pool them all for the headline figures)."""
    out: dict[str, list[Pool]] = {name: [] for name, _ in kinds}
    with contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(Server(kind)) for name, kind in kinds}
        for r in range(rounds):
            pools = run_round(binary, kinds, servers, jobs, slices, fg, timeout)
            for name, pool in pools.items():
                out[name].append(pool)
            if progress:
                progress(r, pools)
    return out


def pooled(rounds: list[Pool]) -> dict[str, Any]:
    """Every round's jobs as one result, with each round's own figures under ``each``."""
    total = Pool()
    for pool in rounds:
        total.merge(pool)
    res = total.figures()
    if len(rounds) > 1:
        res["runs"] = len(rounds)
        res["each"] = [{k: v for k, v in p.figures().items()
                        if k in ("rate", "p50_ms", "p99_ms", "error")} for p in rounds]
    return res
