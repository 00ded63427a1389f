"""Workload h: how long the command-line tools take, as a user waits for them.

Two figures per tool, each the median of fresh processes: printing the help text, and one
job's round trip (start, connect, submit, wait for the result, exit) against a warm server
with a worker already registered. For geartool that is ``geartool --help`` and ``geartool
submit reverse DATA`` against ``geartool server`` and ``geartool work reverse -- rev``; for
gearmand, its C tools ``gearman -H`` and ``gearman -f reverse DATA`` against gearmand and
``gearman -w -f reverse -- rev``. The issue's targets are absolute (150 and 250 ms); the C
tools' figures are there for scale. Every round trip's output is checked.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness.servers import Server

DATA = "hello geartool"
EXPECTED = DATA[::-1]


def geartool_script() -> str:
    """The installed ``geartool`` console script of the Python running the benchmarks."""
    beside = Path(sys.executable).parent / "geartool"
    if beside.exists():
        return str(beside)
    found = shutil.which("geartool")
    if found is None:
        raise RuntimeError("the geartool command is not installed (pip install -e .)")
    return found


def _gearman() -> str:
    found = shutil.which("gearman")
    if found is None:
        raise RuntimeError("gearman is not installed (Debian: gearman-tools)")
    return found


def _timed(argv: Sequence[str], check: str | None) -> float:
    """Seconds one fresh process took; with ``check``, its stdout must be exactly that."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=30)
    took = time.perf_counter() - t0
    if check is not None and (proc.returncode != 0 or proc.stdout.strip() != check):
        raise RuntimeError(f"{argv[0]} returned {proc.returncode} with {proc.stdout!r} "
                           f"(expected {check!r}): {proc.stderr.strip()[-300:]}")
    return took


def _median_ms(argv: Sequence[str], runs: int, check: str | None = None) -> tuple[float, float]:
    times = [_timed(argv, check) for _ in range(runs)]
    return 1000 * statistics.median(times), 1000 * min(times)


def _worker(kind: str, port: int) -> subprocess.Popen[bytes]:
    if kind == "gearmand":
        argv = [_gearman(), "-w", "-f", "reverse", "-h", "127.0.0.1", "-p", str(port),
                "--", "rev"]
    else:
        argv = [geartool_script(), "work", "reverse", "-s", f"127.0.0.1:{port}", "--", "rev"]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _submit_argv(kind: str, port: int) -> list[str]:
    if kind == "gearmand":
        return [_gearman(), "-f", "reverse", "-h", "127.0.0.1", "-p", str(port), DATA]
    return [geartool_script(), "submit", "reverse", DATA, "-s", f"127.0.0.1:{port}"]


def measure(kind: str, runs: int) -> dict[str, Any]:
    """Help and round-trip times for one kind's command-line tools."""
    help_argv = [_gearman(), "-H"] if kind == "gearmand" else [geartool_script(), "--help"]
    _timed(help_argv, None)  # once first, so that "cold" means a fresh process, not a cold disk
    help_ms, help_min = _median_ms(help_argv, runs)
    with Server(kind) as srv:
        worker = _worker(kind, srv.port)
        try:
            submit = _submit_argv(kind, srv.port)
            _warm_up(kind, srv.port)
            submit_ms, submit_min = _median_ms(submit, runs, EXPECTED)
        finally:
            worker.terminate()  # our own child, by PID
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)
    return {"help_ms": help_ms, "help_min_ms": help_min, "submit_ms": submit_ms,
            "submit_min_ms": submit_min, "processes": 2 * runs}


def _warm_up(kind: str, port: int) -> None:
    """Wait (bounded) until the worker has registered: the first good round trip."""
    argv = _submit_argv(kind, port)
    # each try bounded too: gearman -t is in milliseconds, geartool's --timeout in seconds
    argv[1:1] = ["-t", "2000"] if kind == "gearmand" else []
    argv += [] if kind == "gearmand" else ["--timeout", "2"]
    deadline = time.monotonic() + 20
    while True:
        try:
            _timed(argv, EXPECTED)
            return
        except (RuntimeError, subprocess.TimeoutExpired):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {kind} worker never answered a warm-up job") from None
            time.sleep(0.1)
