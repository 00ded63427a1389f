"""The poller: a slow or broken server never holds up the others."""

from __future__ import annotations

import asyncio

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
