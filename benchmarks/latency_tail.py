"""Where a foreground run's slow jobs fall in time: spread out, or bunched in stalls.

    loadgen fg --port P ... --latency-log lat.txt
    python benchmarks/latency_tail.py lat.txt [--fraction 0.02] [--window-ms 10]

Reads the load generator's latency log (per job: seconds since the timed span began, latency in
seconds, client) and reports p50/p95/p99, then how the slowest ``fraction`` of jobs spread over
time windows and over clients. A stall (of either server, the load generator or the machine)
slows every job in flight at once, so its jobs share a few windows; a slow path that some jobs
take would spread over all of them, or over one client.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Tail:
    jobs: int
    p50: float
    p95: float
    p99: float
    threshold: float  # latency above which a job is in the tail
    windows: int  # time windows in the run
    tail_windows: Counter[int]  # window number -> tail jobs in it
    by_client: dict[int, float]  # client -> share of its jobs in the tail


def analyse(rows: list[tuple[float, float, int]], fraction: float, window: float) -> Tail:
    if not rows:
        raise ValueError("the log has no jobs")
    ordered = sorted(r[1] for r in rows)
    n = len(ordered)

    def pct(p: float) -> float:
        return ordered[min(n - 1, int(n * p))]

    # The slowest round(n * fraction) jobs, give or take ties: above the fastest job not among them.
    threshold = ordered[max(0, n - max(1, round(n * fraction)) - 1)]
    tail = [r for r in rows if r[1] > threshold]
    per_client = Counter(r[2] for r in rows)
    tail_client = Counter(r[2] for r in tail)
    return Tail(n, pct(0.5), pct(0.95), pct(0.99), threshold,
                int(max(r[0] for r in rows) / window) + 1,
                Counter(int(r[0] / window) for r in tail),
                {c: tail_client[c] / per_client[c] for c in sorted(per_client)})


def read(path: Path) -> list[tuple[float, float, int]]:
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        try:
            rows.append((float(parts[0]), float(parts[1]), int(parts[2])))
        except (IndexError, ValueError):
            raise ValueError(f"{path}:{number}: not a latency log line: {line!r}") from None
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("log", type=Path)
    p.add_argument("--fraction", type=float, default=0.02, help="tail share (default 0.02)")
    p.add_argument("--window-ms", type=float, default=10.0, help="window length (default 10)")
    args = p.parse_args(argv)
    try:
        t = analyse(read(args.log), args.fraction, args.window_ms / 1000)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    ms = 1000
    print(f"{t.jobs} jobs: p50 {t.p50 * ms:.3f} ms, p95 {t.p95 * ms:.3f}, p99 {t.p99 * ms:.3f}")
    print(f"slowest {args.fraction:.0%} (over {t.threshold * ms:.3f} ms): "
          f"{sum(t.tail_windows.values())} jobs in {len(t.tail_windows)} of {t.windows} windows "
          f"of {args.window_ms:g} ms")
    for w, count in t.tail_windows.most_common(8):
        print(f"  {w * args.window_ms:8.0f} ms: {count} jobs")
    print("share of each client's jobs in the tail: " +
          ", ".join(f"{c}: {share:.1%}" for c, share in t.by_client.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
