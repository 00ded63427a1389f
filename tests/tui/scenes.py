"""Fixed data for app and snapshot tests: apps built without polling, fed known snapshots."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from geartool.protocol.admin import PriorityStatusRow as P
from geartool.protocol.admin import RunningRow, StatsRow, StatusRow, WorkerRow
from geartool.tui.app import TopApp, make_app
from geartool.tui.rows import Snapshot

NOW = 1000.0
A, B = "10.0.0.1:4730", "10.0.0.2:4730"


def _snap(server: str, t: float, scale: int) -> Snapshot:
    status = (StatusRow("resize", 40 * scale, 4, 4), StatusRow("reverse", 3, 1, 2),
              StatusRow("mail", 7, 0, 0), StatusRow("thumbs", 0, 0, 1))
    priority = tuple(P(s.function, 0 if s.function != "mail" else 2, s.waiting -
                       (2 if s.function == "mail" else 0), 0, s.workers) for s in status)
    stats = (StatsRow("resize", 500 * scale, 450 * scale, 2, 0, 1, 12.0),
             StatsRow("reverse", 90 * scale, 88 * scale, 0, 0, 0, 0.5),
             StatsRow("mail", 7, 0, 0, 0, 0, 75.0), StatsRow("thumbs", 10, 10, 0, 0, 0, 0.0))
    workers = tuple(WorkerRow(20 + i, "10.1.0.5", f"img-{i}", ("resize", "thumbs"))
                    for i in range(4)) + (
        WorkerRow(30, "10.1.0.6", "rev-1", ("reverse",)),
        WorkerRow(31, "10.1.0.6", "rev-2", ("reverse",)),
        WorkerRow(40, "10.1.0.9", "-", ()))
    running = tuple(RunningRow(20 + i, "10.1.0.5", f"img-{i}", f"H:app:{100 + i}", "resize",
                               f"photo-{i}", 3.0 + i) for i in range(4)) + (
        RunningRow(30, "10.1.0.6", "rev-1", "H:app:7", "reverse", "", 0.4),)
    return Snapshot(server, t, status, priority, workers, stats, running, "geartool-0.1.0",
                    3600.0)


def fed_app(servers: list[str] | None = None, read_only: bool = False,
            samples: int = 6) -> TopApp:
    """An app that does not poll; every server gets ``samples`` snapshots at fixed times."""
    servers = servers or [A]
    app = make_app(servers, read_only=read_only, poll=False, clock=lambda: NOW)
    for i in range(samples):
        for n, server in enumerate(servers):
            app.model.update(_snap(server, NOW - samples + 1 + i, scale=1 + (i + n) % 3))
    return app


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait, bounded, for a condition the app reaches asynchronously."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def until_async(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Like :func:`until`, for a condition that must ask a server."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
