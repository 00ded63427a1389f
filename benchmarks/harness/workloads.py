"""The workloads: a-g start a fresh server of the given kind, drive it with the load generator
and return the loadgen's measurements (a failed check raises LoadgenError); h times the
command-line tools (``cli.py``).
"""

from __future__ import annotations

import dataclasses
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import build, cli, cpus
from benchmarks.harness.servers import Server


@dataclass(frozen=True)
class Sizes:
    """Counts and time bounds for one run; ``QUICK`` is for smoke runs and the test."""

    bg_jobs: int = 1_000_000
    bg_conns: int = 4
    bg_depth: int = 100
    fg_jobs: int = 400_000
    fg_clients: int = 4
    fg_workers: int = 4
    fg_depth: int = 8
    fg_slices: int = 20  # b alternates between the servers in slices (harness/interleave.py)
    drain_jobs: int = 200_000
    drain_workers: int = 4
    idle_conns: int = 10_000
    mem_jobs: int = 1_000_000
    durable_seconds: float = 5.0
    durable_conns: int = 8
    durable_depth: int = 128  # 1,024 submits in flight: what a group commit can batch
    kill_after: float = 2.0
    coal_clients: int = 1_000
    coal_rounds: int = 50
    cli_runs: int = 15  # fresh processes per command-line figure (the median is reported)
    duration: float = 20.0  # stop issuing new work after this many seconds
    timeout: float = 180.0  # hard deadline per loadgen run: anything outstanding is lost


FULL = Sizes()
QUICK = Sizes(bg_jobs=50_000, fg_jobs=20_000, fg_slices=4, drain_jobs=20_000,
              idle_conns=1_000, mem_jobs=50_000, durable_seconds=1.5, kill_after=1.0,
              coal_clients=100, coal_rounds=5, cli_runs=3, duration=10.0, timeout=60.0)


def _bg(binary: Path, kind: str, s: Sizes) -> dict[str, Any]:
    with Server(kind) as srv:
        return build.run(binary, "bg", srv.port, pid=srv.pid, count=s.bg_jobs,
                         conns=s.bg_conns, depth=s.bg_depth, duration=s.duration,
                         timeout=s.timeout, settle=0)


def _fg(binary: Path, kind: str, s: Sizes) -> dict[str, Any]:
    with Server(kind) as srv:
        return build.run(binary, "fg", srv.port, pid=srv.pid, count=s.fg_jobs,
                         clients=s.fg_clients, workers=s.fg_workers, depth=s.fg_depth,
                         duration=s.duration, timeout=s.timeout)


def _drain(binary: Path, kind: str, s: Sizes) -> dict[str, Any]:
    with Server(kind) as srv:
        return build.run(binary, "drain", srv.port, pid=srv.pid, count=s.drain_jobs,
                         conns=s.bg_conns, depth=s.bg_depth, workers=s.drain_workers,
                         timeout=s.timeout)


def _idle(binary: Path, kind: str, s: Sizes) -> dict[str, Any]:
    with Server(kind) as srv:
        time.sleep(0.5)  # let start-up allocations settle before the "before" RSS
        return build.run(binary, "idle", srv.port, pid=srv.pid, count=s.idle_conns,
                         timeout=s.timeout, settle=1.0)


def _mem(binary: Path, kind: str, s: Sizes) -> dict[str, Any]:
    with Server(kind) as srv:
        time.sleep(0.5)
        return build.run(binary, "bg", srv.port, pid=srv.pid, count=s.mem_jobs,
                         conns=s.bg_conns, depth=s.bg_depth, timeout=s.timeout, settle=1.0)


def _kill9(binary: Path, kind: str, s: Sizes, tmp: Path) -> dict[str, Any]:
    """Submit durable jobs, SIGKILL the server mid-stream, restart it on the same file and
    check that every job the client got a JOB_CREATED for is still there."""
    db = tmp / f"{kind}-kill.db"
    srv = Server(kind, db=db).start()
    argv = build.command(binary, "bg", srv.port, pid=srv.pid, count=10_000_000,
                         conns=s.durable_conns, depth=s.durable_depth, unique=True,
                         allow_disconnect=True, duration=s.kill_after + 30, timeout=s.timeout,
                         settle=0)
    gen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=cpus.for_loadgen())
    try:
        time.sleep(s.kill_after)
        srv.kill9()
        out, err = gen.communicate(timeout=60)
    finally:
        if gen.poll() is None:
            gen.kill()
            gen.wait(10)
        srv.stop()
    before = build.parse(out, err, gen.returncode)
    acked = ",".join(str(n) for n in before["acked_per_conn"])
    with Server(kind, db=db) as again:
        after = build.run(binary, "drain", again.port, pid=again.pid, count=0,
                          conns=s.durable_conns, workers=s.drain_workers, verify_acked=acked,
                          timeout=s.timeout)
    return {"acked_before_kill": before["jobs"], "disconnected": before["disconnected"],
            "acked_found_after_restart": after["acked_found"],
            "jobs_after_restart": after["jobs"],
            "lost": before["jobs"] - after["acked_found"]}


def _durable(binary: Path, kind: str, s: Sizes) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="geartool-bench-") as tmpdir:
        tmp = Path(tmpdir)
        with Server(kind, db=tmp / f"{kind}.db") as srv:
            result = build.run(binary, "bg", srv.port, pid=srv.pid, count=10_000_000,
                               conns=s.durable_conns, depth=s.durable_depth, unique=True,
                               duration=s.durable_seconds, timeout=s.timeout, settle=0)
        result["kill9"] = _kill9(binary, kind, s, tmp)
    return result


def _coalesce(binary: Path, kind: str, s: Sizes) -> dict[str, Any]:
    with Server(kind) as srv:
        return build.run(binary, "coalesce", srv.port, pid=srv.pid, clients=s.coal_clients,
                         rounds=s.coal_rounds, duration=s.duration, timeout=s.timeout)


def _cli(binary: Path, kind: str, s: Sizes) -> dict[str, Any]:
    return cli.measure(kind, s.cli_runs)


Workload = Callable[[Path, str, Sizes], dict[str, Any]]

WORKLOADS: dict[str, tuple[str, Workload]] = {
    "a": ("background submits, pipelined", _bg),
    "b": ("foreground round trips", _fg),
    "c": ("drain of a pre-filled queue", _drain),
    "d": ("idle connections: RSS per connection", _idle),
    "e": ("queued background jobs: RSS per job", _mem),
    "f": ("durable background submits (SQLite)", _durable),
    "g": ("clients coalescing on one unique id", _coalesce),
    "h": ("command-line tools: help, one round trip", _cli),
}


def describe(s: Sizes) -> dict[str, Any]:
    """The sizes as a plain dict for the results file."""
    return dataclasses.asdict(s)
