"""The asyncio Gearman worker: serve registered functions on every server at once.

Each server gets its own connection, kept alive with exponential backoff and jitter across
restarts; one server being down never stops the others. ``concurrency`` job slots are shared
by all connections. :meth:`Worker.stop` is graceful: no new grabs, running jobs finish.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from geartool.protocol import PacketType

from .client import ServerSpec, as_addresses
from .connection import open_connection
from .errors import ConnectError
from .servers import Address
from .worker_conn import WAITING, WorkerConn

log = logging.getLogger("geartool.worker")
P = PacketType

TaskResult = bytes | str | None
TaskFunc = Callable[["WorkerJob"], Awaitable[TaskResult] | TaskResult]


class WorkFail(Exception):
    """Raise from a task function to answer WORK_FAIL (any other exception: WORK_EXCEPTION)."""


@dataclass(slots=True)
class _Task:
    func: TaskFunc
    timeout: float | None
    inline: bool  # a plain (not async) function without a timeout


def _complete(result: object) -> tuple[PacketType, bytes]:
    if result is None:
        return P.WORK_COMPLETE, b""
    if isinstance(result, str):
        return P.WORK_COMPLETE, result.encode()
    return P.WORK_COMPLETE, bytes(result)  # type: ignore[call-overload]


def _error_reply(job: WorkerJob, exc: Exception) -> tuple[PacketType, bytes]:
    if isinstance(exc, WorkFail):
        return P.WORK_FAIL, b""
    log.warning("job %s (%s) raised %r", job.handle, job.function, exc)
    return P.WORK_EXCEPTION, f"{type(exc).__name__}: {exc}".encode()


class WorkerJob:
    """One job being run: its data, and ways to report progress to the waiting clients."""

    __slots__ = ("handle", "function", "unique", "data", "_wc", "_hb")

    def __init__(self, wc: WorkerConn, handle: bytes, function: str, unique: bytes,
                 data: bytes) -> None:
        self._wc = wc
        self._hb = handle
        self.handle = handle.decode("utf-8", "replace")
        self.function = function
        self.unique = unique.decode("utf-8", "replace")
        self.data = data

    @property
    def server(self) -> Address:
        return self._wc.address

    def _send(self, ptype: PacketType, *args: bytes) -> None:
        if self._wc.conn is not None:
            self._wc.conn.send(ptype, self._hb, *args)

    def send_data(self, data: bytes | str) -> None:
        """WORK_DATA: a partial result, streamed to the clients."""
        self._send(P.WORK_DATA, data.encode() if isinstance(data, str) else data)

    def send_warning(self, data: bytes | str) -> None:
        """WORK_WARNING: a message for the clients; the job goes on."""
        self._send(P.WORK_WARNING, data.encode() if isinstance(data, str) else data)

    def send_status(self, numerator: int, denominator: int) -> None:
        """WORK_STATUS: progress as numerator / denominator."""
        self._send(P.WORK_STATUS, str(numerator).encode(), str(denominator).encode())

    async def drain(self) -> None:
        """Wait while the connection's send buffer is full (use between many send_data)."""
        if self._wc.conn is not None:
            await self._wc.conn.drain()


class Worker:
    """Serves registered functions. ``concurrency`` jobs at most run at once (over all servers).

    ``reconnect_min``/``reconnect_max`` bound the backoff between connection attempts;
    ``timeout_grace`` is added to a task's timeout when announcing it as CAN_DO_TIMEOUT.
    """

    def __init__(self, servers: ServerSpec = "127.0.0.1", *, client_id: str | None = None,
                 concurrency: int = 1, connect_timeout: float = 5.0,
                 reconnect_min: float = 0.1, reconnect_max: float = 15.0,
                 timeout_grace: float = 1.0) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.servers = as_addresses(servers)
        self.client_id = client_id
        self.concurrency = concurrency
        self.connect_timeout = connect_timeout
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.timeout_grace = timeout_grace
        self.tasks: dict[str, _Task] = {}
        self.running = 0
        self.grabbing = 0
        self.started = 0
        self.completed = 0
        self.stopping = False
        self.waiting: deque[WorkerConn] = deque()
        self._count: int | None = None
        self._conns: dict[Address, WorkerConn] = {}
        self._stop: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None

    def register_task(self, function: str, func: TaskFunc, *,
                      timeout: float | None = None) -> None:
        """Serve ``function`` with ``func(job)`` (sync or async; its return is the result).

        With ``timeout`` (seconds) a job running longer is cancelled and answered WORK_FAIL;
        the function is announced with CAN_DO_TIMEOUT.
        """
        # An object with an async __call__ (not just an async def) must not run inline either.
        call = type(func).__call__ if not inspect.isfunction(func) else func
        is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(call)
        self.tasks[function] = _Task(func, timeout, not is_async and not timeout)
        for wc in self._conns.values():
            wc.announce(function, timeout)
            wc.want_work()

    def unregister_task(self, function: str) -> None:
        if self.tasks.pop(function, None) is not None:
            for wc in self._conns.values():
                wc.withdraw(function)

    @property
    def connected(self) -> list[Address]:
        """Servers with a live connection right now."""
        return [a for a, wc in self._conns.items() if wc.conn is not None and not wc.conn.closed]

    async def work(self, count: int | None = None) -> int:
        """Serve until :meth:`stop` (or ``count`` jobs were run); returns the jobs completed."""
        self._count = count
        self.stopping = False
        self.started = self.completed = 0  # counts are per call
        self._stop = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        serving = [asyncio.create_task(self._serve(a)) for a in self.servers]
        try:
            if count is not None and count <= 0:
                return 0
            await self._stop.wait()
            await self._idle.wait()  # graceful: running jobs finish first
        finally:
            self.stopping = True
            for t in serving:
                t.cancel()
            for wc in list(self._conns.values()):
                for _, task in wc.jobs.values():
                    task.cancel()
                if wc.conn is not None:
                    wc.conn.close()
            await asyncio.gather(*serving, return_exceptions=True)
            self._conns.clear()
            self.waiting.clear()
        return self.completed

    def stop(self) -> None:
        """Stop grabbing; :meth:`work` returns once the running jobs have finished."""
        self.stopping = True
        if self._stop is not None:
            self._stop.set()

    def _backoff(self, attempt: int) -> float:
        # Exponential with "equal jitter": half fixed, half random, so restarts spread out.
        d = min(self.reconnect_max, self.reconnect_min * 2.0 ** attempt)
        return d / 2 + random.uniform(0, d / 2)

    async def _serve(self, addr: Address) -> None:
        attempt = 0
        while not self.stopping:
            wc = WorkerConn(self, addr)
            try:
                wc.conn = await open_connection(addr, wc, self.connect_timeout)
            except ConnectError as exc:
                delay = self._backoff(attempt)
                (log.warning if attempt == 0 else log.debug)("%s; retrying in %.1f s", exc, delay)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            if attempt:
                log.warning("%s: connected again", addr)
            attempt = 0
            self._conns[addr] = wc
            wc.start()
            reason = await wc.closed
            if self._conns.get(addr) is wc:
                del self._conns[addr]
            if not self.stopping:
                log.warning("%s", reason)
                attempt = 1
                await asyncio.sleep(self._backoff(0))

    # slot accounting, called by WorkerConn

    def can_grab(self) -> bool:
        if self.stopping or self.running + self.grabbing >= self.concurrency:
            return False
        busy = self.completed + self.running + self.grabbing
        return self._count is None or busy < self._count

    def slot_freed(self) -> None:
        waiting = self.waiting
        while waiting and self.can_grab():
            wc = waiting.popleft()
            if wc.state == WAITING:
                wc.state = "idle"
                wc.want_work()

    def start_job(self, wc: WorkerConn, handle: bytes, function: bytes, unique: bytes,
                  data: bytes) -> None:
        name = function.decode("utf-8", "replace")
        job = WorkerJob(wc, handle, name, unique, data)
        task = self.tasks.get(name)
        self.running += 1
        self.started += 1
        if self._idle is not None:
            self._idle.clear()
        pending: Awaitable[TaskResult] | None = None
        if task is not None and task.inline:
            # A plain function with no timeout runs right here: no task, no timer (the loop
            # would wait for it anyway). Only an awaitable result needs a task.
            try:
                result = task.func(job)
            except Exception as exc:  # noqa: BLE001 - a task's error becomes WORK_EXCEPTION
                self._end(wc, job, _error_reply(job, exc))
                return
            if not inspect.isawaitable(result):
                self._end(wc, job, _complete(result))
                return
            pending = result
        t = asyncio.get_running_loop().create_task(self._run(wc, job, task, pending))
        wc.jobs[handle] = (job, t)

    async def _run(self, wc: WorkerConn, job: WorkerJob, task: _Task | None,
                   pending: Awaitable[TaskResult] | None) -> None:
        reply: tuple[PacketType, bytes] | None = None
        try:
            reply = await self._call(job, task, pending)
        except asyncio.CancelledError:
            pass  # connection lost or hard stop: nothing can be sent
        finally:
            self._end(wc, job, reply)

    async def _call(self, job: WorkerJob, task: _Task | None,
                    pending: Awaitable[TaskResult] | None) -> tuple[PacketType, bytes]:
        if task is None:
            return P.WORK_EXCEPTION, f"no task registered for {job.function}".encode()
        try:
            async with asyncio.timeout(task.timeout) as cm:
                result = pending if pending is not None else task.func(job)
                if inspect.isawaitable(result):
                    result = await result
        except TimeoutError as exc:
            if cm.expired():
                log.warning("job %s (%s) timed out after %g s", job.handle, job.function,
                            task.timeout)
                return P.WORK_FAIL, b""
            return _error_reply(job, exc)
        except Exception as exc:  # noqa: BLE001 - a task's error becomes WORK_EXCEPTION
            return _error_reply(job, exc)
        return _complete(result)

    def _end(self, wc: WorkerConn, job: WorkerJob, reply: tuple[PacketType, bytes] | None
             ) -> None:
        if reply is not None and wc.conn is not None:
            if reply[0] is P.WORK_FAIL:
                wc.conn.send(P.WORK_FAIL, job._hb)
            else:
                wc.conn.send(reply[0], job._hb, reply[1])
        wc.jobs.pop(job._hb, None)
        self.running -= 1
        self.completed += reply is not None
        self._after_job()

    def _after_job(self) -> None:
        if self._count is not None and self.completed >= self._count:
            self.stopping = True
            if self._stop is not None:
                self._stop.set()
        if self.running == 0 and self._idle is not None:
            self._idle.set()
        self.slot_freed()
