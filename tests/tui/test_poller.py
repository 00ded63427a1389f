"""The poller: a slow or broken server never holds up the others."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Awaitable
from typing import Any

import pytest

from geartool.tui import poller as poller_module
from geartool.tui.poller import Poller, poll_all
from geartool.tui.rows import Snapshot


async def _silent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    await r.read()  # reads commands until the client gives up; never answers
    w.close()


async def _garbled(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    while line := await r.readline():
        word = line.split()[0]
        if word in (b"status", b"prioritystatus", b"workers", b"running"):
            w.write(b".\n")
        elif word == b"stats":
            w.write(b"f\t1\t1\t0\t0\t0\tnot-a-number\n.\n")
        else:
            w.write(b"OK 1\n")
        await w.drain()


def test_slow_and_broken_servers_do_not_hold_up_a_good_one(gearmand: int) -> None:
    good = f"127.0.0.1:{gearmand}"

    async def go() -> None:
        silent = await asyncio.start_server(_silent, "127.0.0.1", 0)
        garbled = await asyncio.start_server(_garbled, "127.0.0.1", 0)
        slow = f"127.0.0.1:{silent.sockets[0].getsockname()[1]}"
        bad = f"127.0.0.1:{garbled.sockets[0].getsockname()[1]}"
        snaps: list[Snapshot] = []
        errors: list[tuple[str, str]] = []
        poller = Poller([slow, good, bad], snaps.append,
                        lambda s, e, t: errors.append((s, e)), interval=0.1, timeout=0.5)
        poller.start()
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while not any(s == slow for s, _ in errors) and loop.time() < deadline:
                await asyncio.sleep(0.05)
            # While the slow server held its poll for 0.5 s, the good one kept coming.
            assert sum(1 for s in snaps if s.server == good) >= 3
            assert (slow, "timed out") in errors
            assert any(s == bad and "not-a-number" in e for s, e in errors)
            assert all(s.server == good for s in snaps)
            results = await poll_all([good, slow], timeout=0.3)
            assert isinstance(results[0], Snapshot) and results[1] == "timed out"
        finally:
            await poller.stop()
            for srv in (silent, garbled):
                srv.close()
    asyncio.run(go())


def test_stop_ends_a_loop_whose_cancel_was_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python 3.11's wait_for returns the awaited result, and drops the cancel, when the two
    arrive together. Here the poller's wait between polls drops the first cancel it gets:
    stop() must still end the loop (it used to wait for it for ever)."""
    real_wait_for = asyncio.wait_for
    lost: list[bool] = []

    async def lossy_wait_for(aw: Awaitable[Any], timeout: float | None) -> Any:
        between_polls = getattr(aw, "__qualname__", "") == "Event.wait"
        try:
            return await real_wait_for(aw, timeout)
        except asyncio.CancelledError:
            if lost or not between_polls:
                raise
            lost.append(True)
            return True

    fake = types.SimpleNamespace(**{n: getattr(asyncio, n) for n in dir(asyncio)
                                    if not n.startswith("__")})
    fake.wait_for = lossy_wait_for
    monkeypatch.setattr(poller_module, "asyncio", fake)

    async def go() -> None:
        errors: list[str] = []
        poller = Poller(["127.0.0.1:1"], lambda snap: None,
                        lambda s, e, t: errors.append(e), interval=0.3, timeout=0.5)
        poller.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not errors and loop.time() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)  # well inside the 0.3 s wait after the first (failed) poll
        await real_wait_for(poller.stop(), 5)
        assert lost, "the cancel was not lost: the test did not test anything"
        assert all(t.done() for t in poller._tasks)
    asyncio.run(go())
