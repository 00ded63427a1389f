"""Profile ``geartool server`` under one benchmark workload with py-spy.

    python benchmarks/profile.py a [--quick] [--rate 250] [--top 25]

Starts the server (memory queue, or SQLite for workload f), attaches ``py-spy record`` to its PID,
runs the workload's load generator, stops py-spy, and prints the functions with the most samples
on top of the stack (self) and anywhere on it (inclusive). The collapsed stacks are saved under
benchmarks/results/ for flame graphs (inferno, speedscope). Needs ``pip install py-spy``.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import build  # noqa: E402
from benchmarks.harness.servers import Server  # noqa: E402
from benchmarks.harness.workloads import FULL, QUICK, Sizes  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _load(binary: Path, wl: str, srv: Server, s: Sizes) -> dict[str, object]:
    common = {"pid": srv.pid, "timeout": s.timeout}
    if wl in ("a", "e"):
        return build.run(binary, "bg", srv.port, count=s.bg_jobs, conns=s.bg_conns,
                         depth=s.bg_depth, duration=s.duration, settle=0, **common)
    if wl == "b":
        return build.run(binary, "fg", srv.port, count=s.fg_jobs, clients=s.fg_clients,
                         workers=s.fg_workers, depth=s.fg_depth, duration=s.duration, **common)
    if wl == "c":
        return build.run(binary, "drain", srv.port, count=s.drain_jobs, conns=s.bg_conns,
                         depth=s.bg_depth, workers=s.drain_workers, **common)
    if wl == "f":
        return build.run(binary, "bg", srv.port, count=10_000_000, conns=s.durable_conns,
                         depth=s.durable_depth, unique=True, duration=s.durable_seconds * 2,
                         settle=0, **common)
    if wl == "g":
        return build.run(binary, "coalesce", srv.port, clients=s.coal_clients,
                         rounds=s.coal_rounds * 10, duration=s.duration, **common)
    raise SystemExit(f"no profile recipe for workload {wl!r}")


def _function(frame: str) -> str:
    """'Core.send (geartool/server/core.py:119)' -> 'Core.send (geartool/server/core.py)'."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({path})" if path else name


def summarize(collapsed: str, top: int) -> str:
    """Self and inclusive sample counts per function (and self per line) from py-spy's
    collapsed ('raw') output."""
    self_c: Counter[str] = Counter()
    self_line: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        # drop the thread/process header frames py-spy may put first
        frames = [f for f in frames if "(" in f] or frames
        total += n
        self_line[frames[-1]] += n
        self_c[_function(frames[-1])] += n
        for f in {_function(f) for f in frames}:
            incl[f] += n
    if total == 0:
        return "no samples (is py-spy allowed to ptrace the server?)\n"
    out = [f"{total} samples (idle excluded)", "", "self (top of stack):"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in self_c.most_common(top)]
    out += ["", "self, by line:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in self_line.most_common(top)]
    out += ["", "inclusive (anywhere on the stack):"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in incl.most_common(top)]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("workload", choices=list("abcefg"))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--native", action="store_true",
                   help="also sample C frames (shows time inside CPython, e.g. the GC)")
    args = p.parse_args(argv)
    spy = shutil.which("py-spy")
    if spy is None:
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    sizes = QUICK if args.quick else FULL
    binary = build.build()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"profile-{args.workload}.collapsed.txt"
    out.unlink(missing_ok=True)  # never summarize a previous run's stacks
    with tempfile.TemporaryDirectory(prefix="geartool-prof-") as tmp:
        db = Path(tmp) / "q.db" if args.workload == "f" else None
        with Server("geartool", db=db) as srv:
            rec = subprocess.Popen([spy, "record", "--pid", str(srv.pid), "--rate",
                                    str(args.rate), "--format", "raw",
                                    *([] if args.native else ["--nonblocking"]),
                                    "--output", str(out), *(["--native"] if args.native else [])],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                time.sleep(1.0)  # let py-spy attach before the load starts
                result = _load(binary, args.workload, srv, sizes)
            finally:
                rec.send_signal(signal.SIGINT)
                try:
                    rec.wait(30)
                except subprocess.TimeoutExpired:
                    rec.kill()
                    rec.wait(10)
    print({k: v for k, v in result.items() if k in
           ("rate", "p50_ms", "p99_ms", "elapsed_s", "server_cpu_s", "loadgen_cpu_s")})
    if not out.exists():
        err = rec.stderr.read().decode(errors="replace") if rec.stderr else ""
        print(f"py-spy wrote nothing: {err.strip()[-500:]}", file=sys.stderr)
        return 1
    text = summarize(out.read_text(), args.top)
    (RESULTS / f"profile-{args.workload}.summary.txt").write_text(text)
    print(text)
    print(f"collapsed stacks: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
