"""The asyncio Client and Worker against real servers: geartool's and the C++ gearmand."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from geartool.client import (
    Client,
    ConnectError,
    EventKind,
    JobTimeout,
    ServerError,
    Worker,
    WorkerJob,
    WorkFail,
)
from tests.conftest import free_port

from .helpers import admin, run, status_of, wait_for


async def serving(port: int, tasks: dict[str, Callable[[WorkerJob], Any]],
                  body: Callable[[Client], Awaitable[Any]], **worker_kw: Any) -> Any:
    """Run a Worker with ``tasks`` while ``body(client)`` runs; stop both afterwards."""
    worker = Worker(f"127.0.0.1:{port}", **worker_kw)
    for name, func in tasks.items():
        worker.register_task(name, func)
    wtask = asyncio.create_task(worker.work())
    try:
        async with Client(f"127.0.0.1:{port}") as client:
            return await body(client)
    finally:
        worker.stop()
        await wtask


def test_roundtrip_and_events_in_order(any_server: tuple[str, int]) -> None:
    _, port = any_server

    async def rev(job: WorkerJob) -> bytes:
        job.send_status(1, 2)
        job.send_data(b"part")
        job.send_warning("careful")
        return job.data[::-1]

    async def body(client: Client) -> None:
        res = await client.submit_job("rev", "hello", timeout=10)
        assert res.state == "complete" and res.data == b"olleh" and res.ok
        assert res.handle and res.server is not None and res.server.port == port
        job = await client.submit("rev", b"abc")
        events = [ev async for ev in job]
        assert [e.kind for e in events] == [EventKind.STATUS, EventKind.DATA,
                                            EventKind.WARNING, EventKind.COMPLETE]
        assert (events[0].numerator, events[0].denominator) == (1, 2)
        assert events[1].data == b"part" and events[2].data == b"careful"
        assert events[3].data == b"cba"
        assert (await job.result()).data == b"cba"

    run(serving(port, {"rev": rev}, body))


def test_many_concurrent_jobs_and_big_payload(any_server: tuple[str, int]) -> None:
    _, port = any_server
    big = bytes(range(256)) * 16384  # 4 MiB, every byte value, NULs included

    async def body(client: Client) -> None:
        results = await asyncio.gather(
            *(client.submit_job("echo", f"job-{i}".encode()) for i in range(300)))
        assert [r.data for r in results] == [f"job-{i}".encode() for i in range(300)]
        assert len({r.handle for r in results}) == 300
        res = await client.submit_job("echo", big)
        assert res.data == big

    run(serving(port, {"echo": lambda job: job.data}, body, concurrency=8))


def test_fail_exception_and_exceptions_option(any_server: tuple[str, int]) -> None:
    _, port = any_server

    def failing(job: WorkerJob) -> bytes:
        raise WorkFail()

    def raising(job: WorkerJob) -> bytes:
        raise ValueError("bad input")

    async def body(client: Client) -> None:
        res = await client.submit_job("failing", "x")
        assert res.state == "fail" and not res.ok
        res = await client.submit_job("raising", "x")
        assert res.state == "exception"
        assert res.data == b"ValueError: bad input"
        # Without the option the server turns WORK_EXCEPTION into WORK_FAIL.
        async with Client(f"127.0.0.1:{port}", exceptions=False) as plain:
            res = await plain.submit_job("raising", "x")
            assert res.state == "fail"

    run(serving(port, {"failing": failing, "raising": raising}, body))


def test_coalescing_by_unique(any_server: tuple[str, int]) -> None:
    _, port = any_server
    release = asyncio.Event

    async def body(client: Client) -> None:
        gate = release()
        calls: list[bytes] = []

        async def slow(job: WorkerJob) -> bytes:
            calls.append(job.data)
            await gate.wait()
            return b"done:" + job.data

        worker = Worker(f"127.0.0.1:{port}")
        worker.register_task("slow", slow)
        wtask = asyncio.create_task(worker.work())
        a = await client.submit("slow", "first", unique="same-id")
        b = await client.submit("slow", "second", unique="same-id")
        assert a.handle == b.handle
        await wait_for(lambda: calls)
        gate.set()
        ra, rb = await asyncio.gather(a.result(10), b.result(10))
        assert ra.data == rb.data == b"done:first"
        assert calls == [b"first"]
        worker.stop()
        await wtask

    async def main() -> None:
        async with Client(f"127.0.0.1:{port}") as client:
            await body(client)

    run(main())


def test_background_status_and_job_timeout(any_server: tuple[str, int]) -> None:
    _, port = any_server

    async def main() -> None:
        async with Client(f"127.0.0.1:{port}") as client:
            res = await client.submit_job("nobody_serves", "x", background=True)
            assert res.state == "queued" and res.handle
            assert len(res.unique) == 32  # generated for a background job
            st = await client.get_status(res.handle)
            assert st.known and not st.running and st.handle == res.handle
            unknown = await client.get_status("H:nowhere:1")
            assert not unknown.known
            with pytest.raises(JobTimeout):
                await client.submit_job("nobody_serves", "y", timeout=0.3)
            assert await client.echo(b"ping\0pong") == b"ping\0pong"

    run(main())


def test_queue_full_is_server_error_and_pairing_survives(any_server: tuple[str, int]) -> None:
    _, port = any_server

    async def main() -> None:
        async with Client(f"127.0.0.1:{port}") as client:
            await client.submit_job("capped", "a", background=True)
            # maxqueue needs the function to exist (it never creates one).
            assert admin(port, "maxqueue capped 1").startswith("OK")
            with pytest.raises(ServerError) as err:
                await client.submit_job("capped", "b", background=True)
            assert err.value.code == "QUEUE_ERROR"
            # The ERROR settled the right request: the next JOB_CREATED pairs correctly.
            ok = await client.submit_job("other", "c", background=True)
            st = await client.get_status(ok.handle)
            assert st.known
        assert status_of(port, "capped") == (1, 0, 0)

    run(main())


def test_unreachable_server_is_a_clear_connect_error() -> None:
    port = free_port()  # nothing listens there

    async def main() -> None:
        async with Client(f"127.0.0.1:{port}", connect_timeout=2) as client:
            with pytest.raises(ConnectError) as err:
                await client.submit_job("f", "x")
            assert f"127.0.0.1:{port}" in str(err.value)
            assert "refused" in str(err.value).lower()

    run(main())


def test_worker_concurrency_count_and_graceful_stop(any_server: tuple[str, int]) -> None:
    _, port = any_server

    async def main() -> None:
        running = 0
        peak = 0
        gate = asyncio.Event()

        async def task(job: WorkerJob) -> bytes:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await gate.wait()
            running -= 1
            return job.data

        worker = Worker(f"127.0.0.1:{port}", concurrency=3)
        worker.register_task("par", task)
        wtask = asyncio.create_task(worker.work(count=5))
        async with Client(f"127.0.0.1:{port}") as client:
            jobs = [await client.submit("par", str(i)) for i in range(6)]
            await wait_for(lambda: running == 3)
            gate.set()
            done = await asyncio.wait_for(wtask, 10)
            assert done == 5 and peak == 3
            # The worker has sent its five results; the client reads them a moment later.
            await wait_for(lambda: sum(j.done() for j in jobs) >= 5)
            await asyncio.sleep(0.2)  # room for a sixth result, which must not come
            results = [j for j in jobs if j.done()]
            assert len(results) == 5  # the sixth job was never grabbed
            assert status_of(port, "par") == (1, 0, 0)

    run(main())


def test_graceful_stop_finishes_running_job(any_server: tuple[str, int]) -> None:
    _, port = any_server

    async def main() -> None:
        started = asyncio.Event()
        gate = asyncio.Event()

        async def task(job: WorkerJob) -> bytes:
            started.set()
            await gate.wait()
            return b"finished"

        worker = Worker(f"127.0.0.1:{port}")
        worker.register_task("long", task)
        wtask = asyncio.create_task(worker.work())
        async with Client(f"127.0.0.1:{port}") as client:
            job = await client.submit("long", "x")
            await started.wait()
            worker.stop()
            await asyncio.sleep(0.05)
            assert not wtask.done()  # still running the job
            gate.set()
            assert (await job.result(10)).data == b"finished"
            await asyncio.wait_for(wtask, 10)

    run(main())


def test_task_timeout_answers_work_fail(any_server: tuple[str, int]) -> None:
    _, port = any_server

    async def main() -> None:
        async def hang(job: WorkerJob) -> bytes:
            await asyncio.sleep(30)
            return b"never"

        worker = Worker(f"127.0.0.1:{port}")
        worker.register_task("hang", hang, timeout=0.2)
        worker.register_task("quick", lambda job: b"ok")
        wtask = asyncio.create_task(worker.work())
        async with Client(f"127.0.0.1:{port}") as client:
            res = await client.submit_job("hang", "x", timeout=10)
            assert res.state == "fail"
            assert (await client.submit_job("quick", "x", timeout=10)).data == b"ok"
        worker.stop()
        await wtask

    run(main())
