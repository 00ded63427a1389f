"""Two servers, one killed mid-run and restarted on the same port; servers that are not there."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Iterator

import pytest

from geartool.client import Address, Client, EventKind, Worker, WorkerJob, pick_order
from tests.conftest import free_port, start_gearmand, start_geartool, stop

from .helpers import run, wait_for

Starter = Callable[[int], subprocess.Popen[bytes]]


@pytest.fixture(params=["geartool", "gearmand"])
def starter(request: pytest.FixtureRequest) -> Iterator[Starter]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(port: int) -> subprocess.Popen[bytes]:
        if request.param == "gearmand":
            proc = start_gearmand(port)
        else:
            proc = start_geartool(port, "--queue", "memory")
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        stop(proc)


def _unique_for(servers: list[Address], target: Address) -> str:
    """A unique id whose hash sends the job to ``target`` first."""
    for i in range(1000):
        if pick_order(servers, f"u{i}".encode())[0] == target:
            return f"u{i}"
    raise AssertionError("no unique hashes to the target")


def test_kill_one_server_mid_run_then_restart(starter: Starter) -> None:
    pa, pb = free_port(), free_port()
    proc_a = starter(pa)
    starter(pb)
    a, b = Address("127.0.0.1", pa), Address("127.0.0.1", pb)

    async def main() -> None:
        gate = asyncio.Event()
        seen: list[tuple[int, bytes]] = []

        async def echo(job: WorkerJob) -> bytes:
            seen.append((job.server.port, job.data))
            if job.data == b"slow":
                await gate.wait()
            return job.data

        worker = Worker([a, b], concurrency=4, reconnect_min=0.05, reconnect_max=0.4)
        worker.register_task("echo", echo)
        wtask = asyncio.create_task(worker.work())
        await wait_for(lambda: len(worker.connected) == 2)
        async with Client([a, b], connect_timeout=2) as client:
            before = await asyncio.gather(*(client.submit_job("echo", str(i)) for i in range(20)))
            assert all(r.ok for r in before)
            assert {r.server for r in before} == {a, b}  # load spread over both

            # A job running on A when A dies is resubmitted to B by the client.
            slow = await client.submit("echo", "slow", unique=_unique_for([a, b], a))
            assert slow.server == a
            await wait_for(lambda: (pa, b"slow") in seen)
            proc_a.kill()  # a crash: no graceful drain
            proc_a.wait(5)
            await wait_for(lambda: (pb, b"slow") in seen)
            gate.set()
            events = [ev async for ev in slow]
            assert events[0].kind is EventKind.RETRY and events[-1].kind is EventKind.COMPLETE
            res = await slow.result()
            assert res.data == b"slow" and res.server == b and res.attempts == 2

            after = await asyncio.gather(*(client.submit_job("echo", f"x{i}")
                                           for i in range(20)))
            assert [r.data for r in after] == [f"x{i}".encode() for i in range(20)]
            assert {r.server for r in after} == {b}
            assert worker.connected == [b]

            starter(pa)  # the same port again
            await wait_for(lambda: a in worker.connected)
        async with Client([a]) as only_a:
            res = await only_a.submit_job("echo", "back", timeout=10)
            assert res.data == b"back" and res.server == a
        assert (pa, b"back") in seen
        worker.stop()
        await wtask

    run(main(), timeout=60)


def test_dead_first_server_fails_over_within_the_call(gearmand: int) -> None:
    dead = Address("127.0.0.1", free_port())
    live = Address("127.0.0.1", gearmand)

    async def main() -> None:
        worker = Worker([dead, live], reconnect_min=0.05, reconnect_max=0.2)
        worker.register_task("echo", lambda job: job.data)
        wtask = asyncio.create_task(worker.work())
        async with Client([dead, live], connect_timeout=2) as client:
            for i in range(6):  # round robin would pick the dead server for half of these
                res = await client.submit_job("echo", f"{i}", timeout=10)
                assert res.data == f"{i}".encode() and res.server == live
            uq = _unique_for([dead, live], dead)
            res = await client.submit_job("echo", "u", unique=uq, timeout=10)
            assert res.server == live
        worker.stop()
        await wtask

    run(main())


def test_same_unique_always_starts_at_the_same_server(starter: Starter) -> None:
    ports = [free_port(), free_port(), free_port()]
    for p in ports:
        starter(p)
    servers = [Address("127.0.0.1", p) for p in ports]

    async def main() -> None:
        async with Client(servers) as client:
            for uq in ("alpha", "beta", "gamma", "delta"):
                first = await client.submit("f", "data", unique=uq, background=True)
                again = await client.submit("f", "data", unique=uq, background=True)
                assert first.server == again.server == pick_order(servers, uq.encode())[0]
                assert first.handle == again.handle  # coalesced on that server

    run(main())
