"""Real peers for admin/top tests: `gearman -w` workers and `gearman -b` background jobs."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from geartool.client.admin import AdminClient
from tests.conftest import need, stop


def submit(port: int, function: str, *, n: int = 1, unique: str | None = None,
           high: bool = False) -> None:
    """Queue ``n`` background jobs with the real `gearman` client."""
    exe = need("gearman")
    for i in range(n):
        args = [exe, "-h", "127.0.0.1", "-p", str(port), "-b", "-f", function]
        if unique is not None:
            args += ["-u", unique if n == 1 else f"{unique}-{i}"]
        if high:
            args.append("-I")
        subprocess.run([*args, f"job{i}"], check=True, timeout=10,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def status(port: int) -> dict[str, tuple[int, int, int]]:
    """function -> (total, running, workers), straight from the server."""
    async def ask() -> dict[str, tuple[int, int, int]]:
        async with AdminClient(f"127.0.0.1:{port}", timeout=5) as c:
            return {r.function: (r.total, r.running, r.workers) for r in await c.status()}
    return asyncio.run(ask())


def wait_for(port: int, check: object, what: str, timeout: float = 10.0) -> None:
    """Poll the server's status until ``check(status)`` holds (bounded in time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check(status(port)):  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: {status(port)}")


@contextmanager
def worker(port: int, *functions: str, command: tuple[str, ...] = ("sleep", "30")
           ) -> Iterator[subprocess.Popen[bytes]]:
    """A real `gearman -w` worker for ``functions``; each job runs ``command`` (default: it
    sleeps, so a job it takes stays running for the test)."""
    exe = need("gearman")
    args = [exe, "-h", "127.0.0.1", "-p", str(port), "-w"]
    for f in functions:
        args += ["-f", f]
    proc = subprocess.Popen([*args, "--", *command], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(port, lambda s: all(s.get(f, (0, 0, 0))[2] >= 1 for f in functions),
                 f"worker for {functions}")
        yield proc
    finally:
        stop(proc)


def scene(port: int) -> None:
    """A busy server: `slow` has a worker running one job and two waiting, `nowork` has a
    job and no worker. Call inside ``with worker(port, "slow", "other")``."""
    submit(port, "slow", n=3)
    submit(port, "nowork", unique="u-nowork", high=True)
    wait_for(port, lambda s: s.get("slow", (0, 0, 0))[1] == 1 and "nowork" in s,
             "the worker to take a job")
