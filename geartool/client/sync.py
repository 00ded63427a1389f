"""A thin synchronous facade for scripts, with python-gearman's names.

Each object owns a private event loop that runs only inside its method calls, so connections
stay open between calls. Not thread-safe: use one object per thread.

    client = GearmanClient(["127.0.0.1:4730"])
    request = client.submit_job("reverse", b"hello")
    print(request.result)

    worker = GearmanWorker(["127.0.0.1:4730"])
    worker.register_task("reverse", lambda worker, job: job.data[::-1])
    worker.work()
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from geartool.protocol import Priority

from .client import Client, ServerSpec
from .job import JobResult, JobStatus
from .worker import TaskResult, Worker, WorkerJob

T = TypeVar("T")
PRIORITY_HIGH, PRIORITY_NONE, PRIORITY_LOW = "high", None, "low"


class _Loop:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(coro)

    def _close_loop(self) -> None:
        if not self._loop.is_closed():
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()


class SyncJobResult:
    """What ``submit_job`` returns: python-gearman's job-request attribute names."""

    def __init__(self, res: JobResult) -> None:
        self.job_result = res
        self.result = res.data
        self.state = res.state.upper()
        self.handle = res.handle
        self.complete = res.state in ("complete", "queued")
        self.timed_out = False

    def __repr__(self) -> str:
        return f"<SyncJobResult {self.handle} {self.state} {self.result[:40]!r}>"


class GearmanClient(_Loop):
    """Blocking client. ``host_list``: ``host[:port]`` strings (or one comma-separated string)."""

    def __init__(self, host_list: ServerSpec = "127.0.0.1", **options: Any) -> None:
        super().__init__()
        self._client = self._run(_make_client(host_list, options))

    def submit_job(self, task: str, data: bytes | str = b"", unique: bytes | str | None = None,
                   priority: str | None = None, background: bool = False,
                   wait_until_complete: bool = True, poll_timeout: float | None = None
                   ) -> SyncJobResult:
        """Submit one job; waits for its end unless background (``poll_timeout`` bounds it)."""
        res = self._run(self._client.submit_job(
            task, data, unique=unique, priority=priority or Priority.NORMAL,
            background=background, wait_until_complete=wait_until_complete,
            timeout=poll_timeout))
        return SyncJobResult(res)

    def submit_multiple_jobs(self, jobs: list[dict[str, Any]], background: bool = False,
                             wait_until_complete: bool = True,
                             poll_timeout: float | None = None) -> list[SyncJobResult]:
        """Submit several jobs at once (dicts with task, data, unique, priority) and wait."""
        async def run() -> list[JobResult]:
            return await asyncio.gather(*(self._client.submit_job(
                j["task"], j.get("data", b""), unique=j.get("unique"),
                priority=j.get("priority") or Priority.NORMAL, background=background,
                wait_until_complete=wait_until_complete, timeout=poll_timeout) for j in jobs))
        return [SyncJobResult(r) for r in self._run(run())]

    def get_status(self, handle: str, server: str | None = None) -> JobStatus:
        """GET_STATUS for a handle (every server is asked unless ``server`` is given)."""
        return self._run(self._client.get_status(handle, server))

    get_job_status = get_status

    def close(self) -> None:
        self._run(self._client.close())
        self._close_loop()

    shutdown = close


class GearmanWorker(_Loop):
    """Blocking worker; callbacks take ``(worker, job)`` as in python-gearman."""

    def __init__(self, host_list: ServerSpec = "127.0.0.1", **options: Any) -> None:
        super().__init__()
        self._worker = Worker(host_list, **options)

    def set_client_id(self, client_id: str) -> None:
        self._worker.client_id = client_id

    def register_task(self, task: str,
                      callback_function: Callable[[GearmanWorker, WorkerJob], TaskResult],
                      timeout: float | None = None) -> None:
        """Serve ``task``; the callback's return value is the result (bytes or str)."""
        self._worker.register_task(task, lambda job: callback_function(self, job),
                                   timeout=timeout)

    def unregister_task(self, task: str) -> None:
        self._worker.unregister_task(task)

    def send_job_data(self, job: WorkerJob, data: bytes | str) -> None:
        job.send_data(data)

    def send_job_status(self, job: WorkerJob, numerator: int, denominator: int) -> None:
        job.send_status(numerator, denominator)

    def send_job_warning(self, job: WorkerJob, data: bytes | str) -> None:
        job.send_warning(data)

    def work(self, count: int | None = None) -> int:
        """Serve until ``count`` jobs were done (forever if None); returns jobs completed."""
        return self._run(self._worker.work(count))

    def shutdown(self) -> None:
        """Stop: from a callback or another thread, ``work()`` returns after running jobs."""
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._worker.stop)
            return
        self._worker.stop()
        self._close_loop()


async def _make_client(host_list: ServerSpec, options: dict[str, Any]) -> Client:
    return Client(host_list, **options)
