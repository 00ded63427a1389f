"""AdminClient against real servers, and against misbehaving loopback peers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from geartool.client.admin import AdminClient
from geartool.protocol import RemoteProtocolError, ServerError
from tests.conftest import free_port
from tests.tui.peers import submit, wait_for, worker


def run(coro: Awaitable[object]) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_typed_commands_against_gearmand(gearmand: int) -> None:
    with worker(gearmand, "slow"):
        submit(gearmand, "slow", n=2, unique="u")
        wait_for(gearmand, lambda s: s["slow"][1] == 1, "a running job")

        async def go() -> None:
            async with AdminClient(f"127.0.0.1:{gearmand}", timeout=5) as c:
                (row,) = [r for r in await c.status() if r.function == "slow"]
                assert (row.total, row.running, row.waiting, row.workers) == (2, 1, 1, 1)
                (prio,) = [r for r in await c.priority_status() if r.function == "slow"]
                assert (prio.high, prio.normal, prio.low) == (0, 1, 0)
                assert [w.functions for w in await c.workers() if w.functions] == [("slow",)]
                assert len(await c.show_jobs()) == 2
                assert sorted(await c.show_unique_jobs()) == ["u-0", "u-1"]
                assert (await c.version())[0].isdigit()
                assert await c.getpid() > 1
                # Extensions gearmand lacks come back as None, and are not asked again.
                assert await c.stats() is None and await c.running() is None
                assert await c.uptime() is None
                assert c.missing == {"stats", "running", "uptime"}
                with pytest.raises(ServerError) as err:
                    await c.cancel_job("H:none:1")
                assert err.value.code == "UNKNOWN_JOB"
                # The connection is still in step after an error.
                assert await c.verbose() in ("ERROR", "WARNING", "INFO", "DEBUG", "NOTICE")
        run(go())


def test_extensions_on_geartool(geartool_server: int) -> None:
    with worker(geartool_server, "slow"):
        submit(geartool_server, "slow", n=2)
        wait_for(geartool_server, lambda s: s["slow"][1] == 1, "a running job")

        async def go() -> None:
            async with AdminClient(f"127.0.0.1:{geartool_server}", timeout=5) as c:
                stats = {r.function: r for r in await c.stats() or ()}
                assert stats["slow"].submitted == 2 and stats["slow"].oldest_wait >= 0
                (job,) = await c.running() or ()
                assert job.function == "slow" and job.handle.startswith("H:")
                uptime = await c.uptime()
                assert uptime is not None and uptime >= 0
                assert (await c.version()).startswith("geartool-")
                assert not c.missing
        run(go())


def test_bad_arguments_are_refused_before_sending() -> None:
    c = AdminClient("127.0.0.1:1")
    with pytest.raises(ValueError):
        run(c.drop_function("two words"))
    with pytest.raises(ValueError):
        run(c.maxqueue("f", 1, 2, 3, 4))


async def _with_peer(handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                       Awaitable[None]],
                     body: Callable[[int], Awaitable[None]]) -> None:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await body(port)
    finally:
        server.close()
        await server.wait_closed()


def test_silent_server_times_out() -> None:
    async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.read(100)
        await asyncio.sleep(2)
        w.close()

    async def body(port: int) -> None:
        c = AdminClient(f"127.0.0.1:{port}", timeout=0.2)
        with pytest.raises(TimeoutError):
            await c.status()
        assert not c.connected  # a half-read reply never poisons the next command
    run(_with_peer(silent, body))


def test_closed_mid_reply_and_garbage() -> None:
    async def half(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        line = await r.readline()
        w.write(b"f\t1\t0\t1\n" if line.startswith(b"status") else b"f\tx\n.\n")
        await w.drain()
        if line.startswith(b"status"):
            w.close()

    async def body(port: int) -> None:
        c = AdminClient(f"127.0.0.1:{port}", timeout=1)
        with pytest.raises(ConnectionError):
            await c.status()
        with pytest.raises(RemoteProtocolError):
            await c.priority_status()
        await c.close()
    run(_with_peer(half, body))


def test_refused_connection() -> None:
    with pytest.raises(OSError):
        run(AdminClient(f"127.0.0.1:{free_port()}", timeout=1).version())
